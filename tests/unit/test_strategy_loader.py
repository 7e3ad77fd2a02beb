"""`--strategy` names a built-in, a class in a file (`path.py:Class`) or an installed entry point.

Every way a user's strategy can fail to load is one sentence naming what to fix; a loaded one
is pinned to its code (the file's digest, the distribution's version), so a run of it can be
resumed or replayed only on that code.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.data import synthetic_market
from coinswarm.domain.errors import LookAheadError
from coinswarm.strategies import (
    InvalidStrategyError,
    build_strategy,
    default_phase,
    pin_strategy,
)
from coinswarm.strategies.loader import ENTRY_POINT_GROUP, installed_strategies

STRATEGY = '''
from pydantic import BaseModel, ConfigDict, Field

from coinswarm.domain.order import OrderRequest, OrderSide


class EveryNParameters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    every: int = Field(default=10, ge=1)


class EveryN:
    """Buy a little every `every` bars: enough to see that it ran and was given its params."""

    name = "every-n"
    Parameters = EveryNParameters

    def __init__(self, parameters: EveryNParameters) -> None:
        self.every = parameters.every
        self.seen = 0

    def on_bar(self, bar, context):
        self.seen += 1
        if self.seen % self.every:
            return []
        return [
            OrderRequest(
                client_order_id=context.next_client_order_id(bar.instrument),
                instrument=bar.instrument,
                side=OrderSide.BUY,
                quote_quantity=context.cash() / 100,
            )
        ]


class Plain:
    name = "plain"

    def on_bar(self, bar, context):
        return []


def not_a_class(bar, context):
    return []


class NoOnBar:
    name = "no-on-bar"
'''


def _write(folder: Path, text: str, name: str = "mine.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_class_in_a_file_is_built_with_its_parameters(tmp_path: Path) -> None:
    path = _write(tmp_path, STRATEGY)
    strategy, resolved = build_strategy(f"{path}:EveryN", {"every": "7"})
    assert strategy.name == "every-n"
    assert strategy.every == 7  # type: ignore[attr-defined]
    assert resolved == {"every": "7"}
    assert default_phase(f"{path}:EveryN") == 0  # the committee's limits, not none


def test_a_relative_path_is_found_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, STRATEGY)
    monkeypatch.chdir(tmp_path)
    strategy, _ = build_strategy("mine.py:Plain", {})
    assert strategy.name == "plain"


def test_the_pinned_spec_carries_the_absolute_path_and_the_content_digest(tmp_path: Path) -> None:
    path = _write(tmp_path, STRATEGY)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    pinned = pin_strategy(f"{path}:EveryN")
    assert pinned == f"{path.resolve()}:EveryN@sha256:{digest}"
    assert build_strategy(pinned, {})[0].name == "every-n"
    assert pin_strategy("committee") == "committee"  # built-ins keep their stored names


def test_an_edited_file_refuses_its_pinned_spec_naming_both_digests(tmp_path: Path) -> None:
    path = _write(tmp_path, STRATEGY)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    pinned = pin_strategy(f"{path}:EveryN")
    path.write_text(path.read_text() + "\n# tuned\n", encoding="utf-8")
    after = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(InvalidStrategyError, match="changed since the run") as refused:
        build_strategy(pinned, {})
    assert before in str(refused.value)
    assert after in str(refused.value)
    assert pin_strategy(f"{path}:EveryN") != pinned  # so a new run gets a new id


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("missing.py:EveryN", "strategy file missing.py not found"),
        ("{path}", "expected path/to/file.py:ClassName"),
        ("{path}:Nope", "has no class Nope (strategy classes in it: EveryN, Plain)"),
        ("{path}:not_a_class", "is a function, not a strategy class"),
        ("{path}:NoOnBar", "is not a strategy: expected a class with a `name`"),
        ("{path}:EveryNParameters", "is not a strategy"),
        ("nothing-of-that-name", "unknown strategy 'nothing-of-that-name'; expected one of"),
    ],
)
def test_every_way_to_name_a_strategy_wrongly_is_one_sentence(
    tmp_path: Path, spec: str, problem: str
) -> None:
    path = _write(tmp_path, STRATEGY)
    with pytest.raises(InvalidStrategyError) as refused:
        build_strategy(spec.format(path=path), {})
    assert problem in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "class Broken:\n    name = 'x'\n    def on_bar(self, bar, context)\n")
    with pytest.raises(InvalidStrategyError, match=r"mine\.py, line 3: syntax error"):
        build_strategy(f"{path}:Broken", {})


def test_an_import_that_raises_names_the_line_of_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "import math\n\nLIMIT = math.sqrt(-1)\n")
    with pytest.raises(InvalidStrategyError, match=r"line 3: importing .* ValueError"):
        build_strategy(f"{path}:Broken", {})


def test_parameters_are_checked_against_the_declared_model(tmp_path: Path) -> None:
    path = _write(tmp_path, STRATEGY)
    with pytest.raises(InvalidStrategyError, match="every: Input should be greater than"):
        build_strategy(f"{path}:EveryN", {"every": "0"})
    with pytest.raises(InvalidStrategyError, match=r"accepted parameters: every\)"):
        build_strategy(f"{path}:EveryN", {"evry": "3"})
    with pytest.raises(InvalidStrategyError, match="takes no parameters, found window"):
        build_strategy(f"{path}:Plain", {"window": "3"})


def test_a_constructor_that_raises_is_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "class Picky:\n    name = 'picky'\n    def __init__(self):\n        raise KeyError('x')\n"
        "    def on_bar(self, bar, context):\n        return []\n",
    )
    with pytest.raises(InvalidStrategyError, match="building it raised KeyError"):
        build_strategy(f"{path}:Picky", {})


def test_a_constructor_that_reads_a_file_is_stopped_by_the_fence(tmp_path: Path) -> None:
    data = tmp_path / "BTC_USDT-1h.csv"
    data.write_text("the whole future\n", encoding="utf-8")
    path = _write(
        tmp_path,
        f"""
        class Peeker:
            name = "peeker"

            def __init__(self):
                self.future = open({str(data)!r}).read()

            def on_bar(self, bar, context):
                return []
        """,
    )
    with pytest.raises(LookAheadError, match="tried 'open'"):
        build_strategy(f"{path}:Peeker", {})


def _fake_distribution(folder: Path, *, version: str, target: str) -> None:
    """Install a distribution the way pip leaves one: a module and its .dist-info folder."""
    (folder / "acme_strategies.py").write_text(
        textwrap.dedent(STRATEGY).replace("every-n", "acme-every"), encoding="utf-8"
    )
    info = folder / f"acme_strategies-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: acme-strategies\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nacme = {target}\nacme-broken = acme_strategies:NoOnBar\n",
        encoding="utf-8",
    )


def test_an_installed_package_is_found_by_its_entry_point_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(tmp_path, version="1.2", target="acme_strategies:EveryN")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"acme", "acme-broken"} <= set(installed_strategies())
    strategy, resolved = build_strategy("acme", {"every": "3"})
    assert strategy.name == "acme-every"
    assert resolved == {"every": "3"}
    assert pin_strategy("acme") == "acme@acme-strategies==1.2"
    assert default_phase("acme") == 0
    with pytest.raises(InvalidStrategyError, match=r"acme-broken .* is not a strategy"):
        build_strategy("acme-broken", {})
    with pytest.raises(InvalidStrategyError, match=r"installed one \(acme, acme-broken\)"):
        build_strategy("acme-nothing", {})


def test_an_entry_point_pinned_to_another_version_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(tmp_path, version="2.0", target="acme_strategies:EveryN")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidStrategyError, match=r"now comes from acme-strategies==2\.0"):
        build_strategy("acme@acme-strategies==1.2", {})


def test_a_user_strategy_trades_through_the_engine(tmp_path: Path) -> None:
    path = _write(tmp_path, STRATEGY)
    strategy, _ = build_strategy(f"{path}:EveryN", {"every": "50"})
    result = run_backtest([synthetic_market(bars=500, seed=3)], strategy, BacktestConfig())
    assert len(result.orders) == 10
    assert result.strategy == "every-n"
