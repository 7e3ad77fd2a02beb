"""No failure leaves a backtest marked `running`: a run that fails after it was stored ends
`failed`, with its reason in the audit log, and a request that cannot run is refused before
anything is stored (issue 12)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from coinswarm import bootstrap
from coinswarm.domain.errors import DataError
from coinswarm.infra.storage import Store


def test_a_run_that_fails_after_it_was_stored_ends_failed_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path / 'runs.db'}"

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the engine broke at bar 12")

    monkeypatch.setattr(bootstrap, "run_backtest", broken)
    with pytest.raises(RuntimeError, match="bar 12"):
        bootstrap.run(bootstrap.BacktestRequest(synthetic_bars=50, database=database))
    with Store.open(database) as store:
        (run,) = store.runs()
        reason = store.status_reason(run.run_id)
    assert run.status == "failed"
    assert reason == "RuntimeError: the engine broke at bar 12"


def test_an_interrupted_run_is_marked_interrupted_to_be_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C is no failure of the run: like a killed process, it resumes from its checkpoint,
    # and the interrupt names the run so that the command line can say how.
    database = f"sqlite:///{tmp_path / 'runs.db'}"

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(bootstrap, "run_backtest", interrupted)
    with pytest.raises(bootstrap.RunInterrupted) as raised:
        bootstrap.run(bootstrap.BacktestRequest(synthetic_bars=50, database=database))
    with Store.open(database) as store:
        (run,) = store.runs()
    assert run.status == "interrupted"
    assert raised.value.run_id == run.run_id


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"cash": Decimal(0)}, "--cash: expected a number above 0, found 0"),
        ({"cash": Decimal("NaN")}, "--cash: expected a number above 0"),
        ({"fee_bps": Decimal(-1)}, "--fee-bps: expected 0 or more"),
        ({"max_volume_share": Decimal(2)}, "--max-volume-share: expected (0, 1]"),
        ({"synthetic_bars": 1}, "--bars: expected 2 or more"),
        ({"checkpoint_every": 0}, "--checkpoint-every: expected 1 or more"),
        ({"data": (Path("a.csv"), Path("a.csv"))}, "--data: a.csv is given twice"),
    ],
)
def test_a_request_that_cannot_run_is_refused_when_it_is_made(
    change: dict[str, Any], says: str
) -> None:
    with pytest.raises(DataError) as refused:
        bootstrap.BacktestRequest(**change)
    assert str(refused.value).startswith(says)


def test_one_instrument_in_two_files_is_refused_before_the_run_is_stored(tmp_path: Path) -> None:
    header = "timestamp,open,high,low,close,volume\n"
    rows = "".join(f"2024-01-01T{h:02d}:00:00Z,1.0,1.0,1.0,1.0,1.0\n" for h in range(5))
    first, second = tmp_path / "a" / "BTC_USDT-1h.csv", tmp_path / "b" / "BTC_USDT-1h.csv"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text(header + rows)
    database = tmp_path / "runs.db"
    request = bootstrap.BacktestRequest(data=(first, second), database=f"sqlite:///{database}")
    with pytest.raises(DataError, match="BTC-USDT is in more than one file"):
        bootstrap.run(request)
    assert not database.exists()
