"""The daily report of a real paper run across UTC midnights agrees with the engine's ledger.

A committee-free paper run (sma-cross, fast 3 and slow 8, on 96 synthetic hourly bars from
2022-01-01) trades every day and holds a position over the midnight that starts 2022-01-03.
Its ledger was snapshotted after every bar (`checkpoint_every=1`), so the engine's own state at
each midnight is in the store: the report's realised P&L and fees of each day are the
differences of those snapshots, its end-of-day equity is the engine's equity curve at the
day's last close, and its trades are the run's fills of that day.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from coinswarm import bootstrap
from coinswarm.infra.storage import Store
from coinswarm.reporting.daily import account_reports, day_bounds

DAYS = (date(2022, 1, 1), date(2022, 1, 2), date(2022, 1, 3), date(2022, 1, 4))


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{tmp_path_factory.mktemp('paper') / 'paper.db'}"
    request = bootstrap.BacktestRequest(
        strategy="sma-cross",
        parameters={"fast": "3", "slow": "8"},
        synthetic_bars=96,
        mode="paper",
        phase="1",
        database=url,
        checkpoint_every=1,
        state_file=tmp_path_factory.mktemp("state") / "risk-state-paper.json",
    )
    outcome = bootstrap.run(request)
    with Store.open(url) as store:
        yield url, outcome, store


def realised(state) -> Decimal:
    return sum((p.realised_pnl for p in state.positions), Decimal(0))


def snapshot_before(store: Store, run_id: str, ts: int, bar_ns: int):
    """Return the engine's ledger after the last bar that opened before `ts`."""
    snapshot = store.snapshot_at(run_id, ts - bar_ns)
    assert snapshot is not None, ts
    return snapshot.state


@pytest.mark.parametrize("day", DAYS[1:], ids=str)
def test_each_days_realised_pnl_and_fees_equal_the_ledgers(paper, day):
    url, outcome, store = paper
    (report,) = account_reports(day, db=url)
    (run,) = report.runs
    assert run.run_id == outcome.run_id
    assert run.marked == "close"  # a paper run's bars load again
    start, end = day_bounds(day)
    bar = outcome.result.bar_interval_ns
    before, after = (snapshot_before(store, run.run_id, ts, bar) for ts in (start, end))
    assert run.figures is not None
    assert run.figures.realised_pnl == realised(after) - realised(before)
    fees = {c: a - dict(before.fees).get(c, Decimal(0)) for c, a in after.fees if a}
    assert run.figures.fees == {c: a for c, a in fees.items() if a}
    assert [t.fill for t in run.trades] == [f for f in outcome.result.fills if start <= f.ts < end]


def test_the_end_of_day_equity_is_the_engines_at_the_days_last_close(paper):
    url, outcome, _ = paper
    curve = outcome.result.curve
    for day in DAYS[1:]:
        (report,) = account_reports(day, db=url)
        (run,) = report.runs
        _, end = day_bounds(day)
        last = int((curve.ts < end).nonzero()[0][-1])
        assert run.figures is not None
        assert float(run.figures.equity_end) == pytest.approx(float(curve.equity[last]), rel=1e-12)


def test_a_position_held_over_midnight_carries_its_unrealised_pnl_into_the_next_day(paper):
    url, _, _ = paper
    reports = {day: account_reports(day, db=url)[0] for day in DAYS}
    held = [
        day
        for day in DAYS[1:]
        if reports[day].runs[0].figures.unrealised_start != 0  # type: ignore[union-attr]
    ]
    assert held, "the run held nothing over a midnight: the test lost its point"
    for day in held:
        today = reports[day].runs[0].figures
        yesterday = reports[date.fromordinal(day.toordinal() - 1)].runs[0].figures
        assert today is not None
        assert yesterday is not None
        assert today.equity_start == yesterday.equity_end
        assert today.unrealised_start == yesterday.unrealised_end


def test_the_first_day_starts_with_the_deposit_and_a_later_day_is_empty(paper):
    url, outcome, _ = paper
    (first,) = account_reports(DAYS[0], db=url)
    (totals,) = first.totals()
    assert totals.equity_start == 0
    assert totals.deposits == outcome.result.initial_cash
    (later,) = account_reports(date(2022, 2, 1), db=url)
    assert later.empty
