"""The committee walk-forward report: periods cut so that no period is traded by what was
selected with it, each strategy's columns exactly what its backtest's fills imply, the pattern
agent changing the committee when it has proven patterns and abstaining, said so, when not."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.backtest.metrics import compute_metrics
from coinswarm.backtest.result import EquityCurve
from coinswarm.data.pattern_file import write_patterns
from coinswarm.data.synthetic import synthetic_market
from coinswarm.data.timefmt import parse_timestamp
from coinswarm.data.timeframe import on_timeframe, timeframe_ns
from coinswarm.domain.pattern import Exit, Pattern, Side
from coinswarm.evolution.committee.report import (
    COLUMNS,
    Leg,
    Period,
    calendar_years,
    chained_curve,
    figure_cells,
    figures,
    history_before,
    reason_kind,
    render_table,
)
from coinswarm.evolution.committee.walk_forward import (
    COMMITTEE,
    HOLD,
    STRATEGIES,
    WITH_PATTERNS,
    PeriodDiscovery,
    WalkForwardSettings,
    discover_before,
    export_proven,
    trade_period,
)
from coinswarm.evolution.leaderboard import Row
from coinswarm.evolution.workers import InlineExecutor
from coinswarm.infra.storage import Store
from proven_patterns import at_hour, proven

DAY = 86_400 * 10**9
FOUR_HOURS = timeframe_ns("4h")
SETTINGS = WalkForwardSettings(timeframes=("4h",), cycles=3)
# Long at every midnight close for two 4h bars: 60 bps a side makes it a fee machine. Its
# trade spread is wide, so the demotion monitors let it trade the whole period.
MIDNIGHT = Pattern(at_hour(0), Side.LONG, Exit(2), timeframe="4h")


def hourly_market(days: int) -> list:
    return [
        synthetic_market(instrument=name, bars=24 * days, seed=seed)
        for name, seed in (("AAA-USDT", 1), ("BBB-USDT", 2))
    ]


@pytest.fixture(scope="module")
def market_4h():
    return [on_timeframe(series, FOUR_HOURS) for series in hourly_market(120)]


@pytest.fixture(scope="module")
def period(market_4h):
    start = int(market_4h[0].ts[0])
    return Period("p", start + 60 * DAY, start + 120 * DAY)


@pytest.fixture(scope="module")
def traded(market_4h, period, tmp_path_factory):
    path = tmp_path_factory.mktemp("patterns") / "proven.jsonl"
    write_patterns(path, [proven(MIDNIGHT, mean=0.01, std=0.3)], source="hand-made")
    return trade_period(market_4h, period, "4h", path, SETTINGS)


def test_calendar_years_are_utc_years_in_order():
    first, second = calendar_years([2021, 2022])
    assert first == Period(
        "2021", parse_timestamp("2021-01-01T00:00:00Z"), parse_timestamp("2022-01-01T00:00:00Z")
    )
    assert second.start_ns == first.end_ns
    for bad in ([2022, 2021], [2021, 2021], []):
        with pytest.raises(ValueError, match="expected increasing distinct years"):
            calendar_years(bad)


def test_history_before_keeps_only_bars_that_open_before_the_period(market_4h, period):
    cut = history_before(market_4h, period)
    assert [s.instrument for s in cut] == ["AAA-USDT", "BBB-USDT"]
    for series, full in zip(cut, market_4h, strict=True):
        assert int(series.ts[-1]) == period.start_ns - FOUR_HOURS
        assert len(series) == np.searchsorted(full.ts, period.start_ns)
    late = Period("late", int(market_4h[0].ts[1]), int(market_4h[0].ts[1]) + DAY)
    assert history_before(market_4h, late) == []  # one bar each: too little to search


def test_with_proven_patterns_the_committee_trades_differently(traded):
    a, b = traded.legs[COMMITTEE], traded.legs[WITH_PATTERNS]
    assert list(traded.legs) == list(STRATEGIES)
    assert traded.note == "the pattern agent traded proven.jsonl"
    assert b.fills > a.fills  # the pattern's midnight entries, on top of the agents' trades
    assert figures([b]).total_return != figures([a]).total_return
    orders = traded.outcomes[WITH_PATTERNS].result.rationales.values()
    assert any(vote.agent == "pattern" for r in orders for vote in r.votes)
    assert not any(
        vote.agent == "pattern"
        for r in traded.outcomes[COMMITTEE].result.rationales.values()
        for vote in r.votes
    )


@pytest.mark.parametrize("strategy", [COMMITTEE, WITH_PATTERNS])
def test_turnover_and_fees_are_what_the_fills_imply(traded, strategy):
    result = traded.outcomes[strategy].result
    notional = sum(float(fill.quantity * fill.price) for fill in result.fills)
    fees = sum((fill.fee for fill in result.fills), Decimal(0))
    years = len(result.curve.ts) * FOUR_HOURS / (365 * DAY)
    average = float(np.mean(result.curve.equity))
    row = figures([traded.legs[strategy]])
    assert row.fees == fees == result.fees_paid
    assert row.turnover == pytest.approx(notional / average / years, rel=1e-12)
    assert row.fee_drag == pytest.approx(float(fees) / average / years, rel=1e-12)
    assert (row.fills, row.round_trips) == (len(result.fills), len(result.trades))
    assert row.refused == len(traded.outcomes[strategy].refused())
    metrics = traded.outcomes[strategy].metrics
    assert (row.total_return, row.max_drawdown) == (metrics.total_return, metrics.max_drawdown)
    assert row.sharpe == pytest.approx(metrics.sharpe, rel=1e-12)


def test_buy_and_hold_buys_each_instrument_once_net_of_its_fee(traded):
    outcome = traded.outcomes[COMMITTEE]
    row = figures([traded.legs[HOLD]])
    share = Decimal(10_000) / 2
    assert row.fills == 2
    each = share * Decimal("0.006") / Decimal("1.006")  # the fee on each share
    assert row.fees == outcome.benchmark.fees_paid == each * 2
    years = len(outcome.benchmark_curve.ts) * FOUR_HOURS / (365 * DAY)
    bought = float(2 * share / Decimal("1.006"))
    average = float(np.mean(outcome.benchmark_curve.equity))
    assert row.turnover == pytest.approx(bought / average / years, rel=1e-12)
    assert row.total_return == outcome.benchmark.total_return
    assert row.round_trips == row.refused == 0


def test_with_nothing_proven_the_pattern_agent_abstains_and_the_note_says_so(market_4h, period):
    done = trade_period(market_4h, period, "4h", None, SETTINGS)
    assert done.note == "nothing proven before p on 4h, the pattern agent abstained"
    assert list(done.outcomes) == [COMMITTEE]  # (b) is not run again: it would be (a)
    assert figures([done.legs[WITH_PATTERNS]]) == figures([done.legs[COMMITTEE]])
    assert done.legs[WITH_PATTERNS].strategy == WITH_PATTERNS


def test_the_discovery_sees_only_the_bars_before_the_period(tmp_path):
    market = hourly_market(170)
    start = int(market[0].ts[0])
    period = Period("p", start + 150 * DAY, start + 170 * DAY)
    with Store.open(f"sqlite:///{tmp_path / 'e.db'}", upgrade=True) as store:
        found = discover_before(market, period, SETTINGS, store, InlineExecutor(), now_ns=int)
        assert found.history_end_ns == period.start_ns  # the end of its last bar
        assert found.trials > 0
        # Without any bar of the period the inputs are the same: the same run, read back.
        cut = [series.between(None, period.start_ns) for series in market]
        again = discover_before(cut, period, SETTINGS, store, InlineExecutor(), now_ns=int)
        assert (again.run_id, again.trials) == (found.run_id, found.trials)
        assert len(store.evolution_runs()) == 1
        assert not found.proven  # a seeded random market: nothing to find
        assert export_proven(found, store, tmp_path) == {}
        lines = found.describe()
        assert lines[1] == "  nothing proven before p; most failed checks:"
        assert lines[-4] == "  nearest misses (best out-of-sample Sharpe):"


def _row(**changes) -> Row:
    row = Row(
        pattern_id="abcdef0123456789", run_id="evo-x", status="proven", reason="",
        source="chaos", timeframe="1d", rule="long on 1d when rsi:14 < 30; exit at most 5 bars",
        in_sample_sharpe=1.4, out_of_sample_sharpe=1.1, out_of_sample_trades=41,
        out_of_sample_return=0.23, deflated_sharpe=0.97, pbo=0.2, reality_check_p=0.04,
        random_entry_p=0.01, n_trials=900, holdout_return=0.05, holdout_sharpe=0.8,
    )  # fmt: skip
    return replace(row, **changes)


def test_a_discovery_names_each_proven_pattern_with_its_evidence():
    rejected = _row(
        pattern_id="0" * 16, status="rejected", reason="deflated Sharpe 0.41 < 0.95 for 900 trials"
    )
    found = PeriodDiscovery(
        Period("2022", 0, DAY), "evo-x", ("A", "B"), 0, DAY, 900, (_row(), rejected)
    )
    lines = found.describe()
    assert lines[0].endswith(
        "900 trials, 2 judged out of sample; the search's PBO 0.20, SPA p vs hold 0.040"
    )
    assert lines[1:] == [
        "  proven abcdef0123456789 [1d] long on 1d when rsi:14 < 30; exit at most 5 bars: "
        "out-of-sample Sharpe 1.10 over 41 trades (net 23.0%), DSR 0.97, PBO 0.20, SPA p 0.040, "
        "random-entry p 0.010, holdout 5.00%"
    ]


def test_a_failed_check_loses_its_measured_figure_and_keeps_its_threshold():
    assert reason_kind("deflated Sharpe 0.41 < 0.95 for 2815 trials") == (
        "deflated Sharpe < 0.95 for 2815 trials"
    )
    assert reason_kind("11 trades < 30") == "trades < 30"
    assert reason_kind("net return -4.88% after fees is not positive") == (
        "net return after fees is not positive"
    )
    assert reason_kind("the search's SPA p 0.615 > 0.1") == "the search's SPA p > 0.1"


def _leg(returns: list[float], start_ns: int = 0) -> Leg:
    equity = 100.0 * np.cumprod(1.0 + np.asarray(returns))
    ts = start_ns + DAY * np.arange(len(returns), dtype=np.int64)
    curve = EquityCurve(ts=ts, equity=equity, exposure=np.ones(len(returns)))
    return Leg("s", "p", curve, Decimal(100), DAY, 50.0, Decimal(1), 2, 1, 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=2, max_size=20),
        min_size=1,
        max_size=4,
    )
)
def test_chained_periods_compound_and_draw_down_at_least_as_far_as_each(periods):
    legs = [_leg(returns, start_ns=i * 100 * DAY) for i, returns in enumerate(periods)]
    chained = figures(legs)
    alone = [figures([leg]) for leg in legs]
    growth = np.prod([1.0 + row.total_return for row in alone])
    assert chained.total_return == pytest.approx(growth - 1.0, rel=1e-9, abs=1e-12)
    assert all(chained.max_drawdown >= row.max_drawdown - 1e-12 for row in alone)
    assert (chained.fills, chained.fees) == (2 * len(legs), len(legs))
    years = sum(row.years for row in alone)
    assert chained.turnover == pytest.approx(
        sum(row.turnover * row.years for row in alone) / years, rel=1e-12
    )
    curve = chained_curve(legs)
    metrics = compute_metrics(
        curve, (), fees_paid=Decimal(0), initial_cash=Decimal(100), bar_interval_ns=DAY
    )
    assert metrics.total_return == chained.total_return


def test_legs_of_different_bars_or_cash_are_not_chained():
    leg = _leg([0.01, 0.02])
    for other in (replace(leg, bar_interval_ns=2 * DAY), replace(leg, initial_cash=Decimal(5))):
        with pytest.raises(ValueError, match="one bar interval, each starting from the same cash"):
            figures([leg, other])
    with pytest.raises(ValueError, match="expected at least one leg"):
        figures([])


def test_the_table_lines_up_its_columns():
    row = figures([_leg([0.1, -0.05])])
    text = render_table(COLUMNS, [figure_cells("2021", "4h", HOLD, row)])
    header, rule, line = text.splitlines()
    assert header.split() == [
        "period", "bars", "strategy", "return", "Sharpe", "max", "DD", "turnover/yr", "fees",
        "USDT", "fees/yr", "fills", "round", "trips", "refused",
    ]  # fmt: skip
    assert len(rule) >= len(line)
    cells = line.split()
    assert cells[:6] == ["2021", "4h", "buy-and-hold", "+4.5%", cells[4], "5.0%"]  # 110, 104.5
