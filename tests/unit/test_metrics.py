"""Metrics, the buy-and-hold benchmark and monthly returns against figures worked out by hand."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.backtest.metrics import (
    Metrics,
    MonthlyReturn,
    buy_and_hold_benchmark,
    buy_and_hold_curve,
    buy_and_hold_fees,
    compute_metrics,
    monthly_returns,
    periods_per_year,
)
from coinswarm.backtest.result import BacktestResult, EquityCurve
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.position import RoundTrip

DAY = 24 * NS_PER_HOUR
T0 = 1_700_000_000 * 1_000_000_000


def curve(equity, *, interval=NS_PER_HOUR, start=T0, exposure=None) -> EquityCurve:
    values = np.asarray(equity, dtype=np.float64)
    ts = start + np.arange(len(values), dtype=np.int64) * interval
    exp = np.zeros(len(values)) if exposure is None else np.asarray(exposure, dtype=np.float64)
    return EquityCurve(ts=ts, equity=values, exposure=exp)


def metrics_of(c: EquityCurve, trades=(), *, cash="100", interval=NS_PER_HOUR) -> Metrics:
    return compute_metrics(
        c, trades, fees_paid=Decimal("1.5"), initial_cash=Decimal(cash), bar_interval_ns=interval
    )


def trip(pnl: str, instrument: str = "BTC/USDT") -> RoundTrip:
    return RoundTrip(
        instrument=instrument,
        entry_ts=T0,
        exit_ts=T0 + NS_PER_HOUR,
        quantity=Decimal(1),
        entry_price=Decimal(100),
        exit_price=Decimal(100) + Decimal(pnl),
        pnl=Decimal(pnl),
        fees=Decimal("0.1"),
    )


def series(instrument, ts, opens, closes) -> BarSeries:
    o = np.asarray(opens, dtype=np.float64)
    c = np.asarray(closes, dtype=np.float64)
    return BarSeries(
        instrument,
        NS_PER_HOUR,
        np.asarray(ts, dtype=np.int64),
        o,
        np.maximum(o, c),
        np.minimum(o, c),
        c,
        np.ones(len(o)),
    )


def utc_ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 1_000_000_000


# --- ratios -------------------------------------------------------------------------------


def test_periods_per_year_counts_every_hour_of_365_days():
    assert periods_per_year(NS_PER_HOUR) == 8760
    assert periods_per_year(DAY) == 365
    with pytest.raises(ValueError, match="positive"):
        periods_per_year(0)


def test_sharpe_and_sortino_match_hand_computation():
    # Opening 100 then 110, 99, 108.9: per-bar returns +10 %, -10 %, +10 %.
    # mean = 1/30; sample variance = (2 * (1/15)**2 + (2/15)**2) / 2 = 1/75, so the per-bar
    # Sharpe is (1/30) * sqrt(75) = sqrt(3)/6. Downside deviation = sqrt(0.01 / 3), so the
    # per-bar Sortino is (1/30) / (0.1 / sqrt(3)) = sqrt(3)/3.
    m = metrics_of(curve([110, 99, 108.9]))
    assert m.sharpe == pytest.approx(math.sqrt(3) / 6 * math.sqrt(8760))
    assert m.sortino == pytest.approx(math.sqrt(3) / 3 * math.sqrt(8760))
    assert m.total_return == pytest.approx(0.089)
    assert m.max_drawdown == pytest.approx(0.1)
    # Peak 110 at the first mark, never regained by the last mark two hours later.
    assert m.max_drawdown_duration_ns == 2 * NS_PER_HOUR
    assert m.max_drawdown_duration == timedelta(hours=2)
    assert m.bars == 3


def test_daily_bars_annualise_with_365():
    m = metrics_of(curve([110, 99, 108.9], interval=DAY), interval=DAY)
    assert m.sharpe == pytest.approx(math.sqrt(3) / 6 * math.sqrt(365))
    assert m.periods_per_year == 365


def test_flat_curve_has_undefined_ratios():
    m = metrics_of(curve([100, 100, 100]))
    assert math.isnan(m.sharpe)
    assert math.isnan(m.sortino)
    assert m.max_drawdown == 0
    assert m.max_drawdown_duration_ns == 0
    assert m.total_return == 0


def test_sortino_is_infinite_without_a_losing_bar():
    m = metrics_of(curve([101, 102, 103]))
    assert m.sortino == math.inf
    assert m.to_dict()["sortino"] is None


def test_cagr_over_exactly_one_and_two_years_of_daily_marks():
    # 365 daily marks cover 364 days between first and last open plus the last bar: one year.
    one = np.linspace(100, 121, 365)
    assert metrics_of(curve(one, interval=DAY), interval=DAY).cagr == pytest.approx(0.21)
    two = np.linspace(100, 121, 730)
    assert metrics_of(curve(two, interval=DAY), interval=DAY).cagr == pytest.approx(0.1)


def test_cagr_of_a_wiped_out_account_is_minus_one():
    assert metrics_of(curve([50, 0], interval=DAY), interval=DAY).cagr == -1


# --- drawdown -----------------------------------------------------------------------------


def test_drawdown_duration_runs_from_peak_to_recovery():
    # Opening 100, marks 100 (peak), 90, 95, 100 (recovered after 3 h), 80, 120 (2 h).
    m = metrics_of(curve([100, 90, 95, 100, 80, 120]))
    assert m.max_drawdown == pytest.approx(0.2)
    assert m.max_drawdown_duration_ns == 3 * NS_PER_HOUR


def test_loss_on_the_first_bar_counts_from_the_opening_cash():
    # The opening cash sits one bar before the first mark; 99 is regained at 100 one bar later.
    m = metrics_of(curve([99, 100]))
    assert m.max_drawdown == pytest.approx(0.01)
    assert m.max_drawdown_duration_ns == 2 * NS_PER_HOUR


def test_duration_uses_calendar_time_across_gaps():
    c = EquityCurve(
        ts=np.array([T0, T0 + NS_PER_HOUR, T0 + 10 * NS_PER_HOUR, T0 + 11 * NS_PER_HOUR]),
        equity=np.array([100.0, 90.0, 95.0, 101.0]),
        exposure=np.zeros(4),
    )
    assert metrics_of(c).max_drawdown_duration_ns == 11 * NS_PER_HOUR


def brute_force_drawdown(values):
    worst = 0.0
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            worst = max(worst, 1 - values[j] / values[i])
    return worst


def brute_force_duration(ts, values):
    longest = 0
    n = len(values)
    for i in range(n):
        if values[i] < max(values[: i + 1]):
            continue  # not a peak
        recovery = next((j for j in range(i + 1, n) if values[j] >= values[i]), None)
        if recovery is not None and recovery > i + 1:
            longest = max(longest, ts[recovery] - ts[i])
        elif recovery is None and i < n - 1:
            longest = max(longest, ts[n - 1] - ts[i])
    return longest


equities = st.lists(
    st.floats(min_value=1, max_value=1000, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=25,
)


@given(start=st.integers(min_value=1, max_value=1000), values=equities)
def test_max_drawdown_matches_brute_force(start, values):
    m = metrics_of(curve(values), cash=str(start))
    series_ = [float(start), *values]
    assert 0 <= m.max_drawdown < 1
    assert m.max_drawdown == pytest.approx(brute_force_drawdown(series_), abs=1e-12)
    ts = [T0 + (k - 1) * NS_PER_HOUR for k in range(len(series_))]
    assert m.max_drawdown_duration_ns == brute_force_duration(ts, series_)


@given(
    values=st.lists(st.floats(min_value=1, max_value=1000), min_size=3, max_size=25),
    scale=st.floats(min_value=0.01, max_value=100),
)
def test_ratios_do_not_depend_on_account_size(values, scale):
    a = metrics_of(curve(values), cash="100")
    b = compute_metrics(
        curve(np.asarray(values) * scale),
        (),
        fees_paid=Decimal(0),
        initial_cash=Decimal(100) * Decimal(repr(scale)),
        bar_interval_ns=NS_PER_HOUR,
    )
    assert b.max_drawdown == pytest.approx(a.max_drawdown, abs=1e-9)
    assert b.total_return == pytest.approx(a.total_return, rel=1e-9, abs=1e-9)
    if math.isfinite(a.sharpe) and math.isfinite(b.sharpe):
        assert b.sharpe == pytest.approx(a.sharpe, rel=1e-6, abs=1e-6)


# --- trades, exposure and output ----------------------------------------------------------


def test_trade_statistics():
    trades = [trip("10"), trip("-5"), trip("20"), trip("-5"), trip("0")]
    m = metrics_of(curve([100, 101]), trades)
    assert m.trades == 5
    assert m.win_rate == pytest.approx(0.4)  # a break-even trade is not a win
    assert m.profit_factor == pytest.approx(3.0)  # 30 won / 10 lost
    assert m.average_trade_pnl == pytest.approx(4.0)
    assert m.average_trade_return == pytest.approx(0.04)  # each trip cost 100 to enter


def test_no_losing_trade_gives_infinite_profit_factor_and_null_json():
    m = metrics_of(curve([100, 101]), [trip("3")])
    assert m.profit_factor == math.inf
    assert m.win_rate == 1
    assert m.to_dict()["profit_factor"] is None


def test_no_trades_gives_undefined_trade_statistics():
    m = metrics_of(curve([100, 101]))
    assert m.trades == 0
    assert math.isnan(m.win_rate)
    assert math.isnan(m.profit_factor)
    data = m.to_dict()
    assert data["win_rate"] is None
    assert data["average_trade_pnl"] is None


def test_exposure_is_the_share_of_marks_in_a_position():
    m = metrics_of(curve([100, 101, 102, 103], exposure=[0, 0.5, 1, 0]))
    assert m.exposure == 0.5


def test_to_dict_is_json_safe_rounded_and_complete():
    m = metrics_of(curve([110, 99, 108.9]), [trip("1")])
    data = m.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    for key in ("final_equity", "total_return", "sharpe", "max_drawdown", "win_rate", "trades"):
        assert key in data
    assert data["final_equity"] == 108.9
    assert data["fees_paid"] == 1.5
    assert data["trades"] == 1
    assert data["max_drawdown_duration_days"] == pytest.approx(2 / 24)
    assert data["sharpe"] == float(f"{m.sharpe:.10g}")


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError, match="empty"):
        metrics_of(curve([]))
    with pytest.raises(ValueError, match="initial cash"):
        metrics_of(curve([1.0]), cash="0")


# --- buy and hold -------------------------------------------------------------------------


def two_instrument_market():
    hours = [T0 + k * NS_PER_HOUR for k in range(4)]
    a = series("A/USDT", hours, [100, 110, 120, 90], [110, 120, 90, 100])
    # B starts an hour late and has no bar at the third hour: its close carries over.
    b = series("B/USDT", [hours[1], hours[3]], [50, 56], [55, 60])
    return {"A/USDT": a, "B/USDT": b}, np.array(hours, dtype=np.int64)


def test_buy_and_hold_on_a_two_instrument_market():
    market, timeline = two_instrument_market()
    bh = buy_and_hold_curve(market, timeline, initial_cash=Decimal(1000), fee_rate=Decimal("0.001"))
    qa = 500 / (100 * 1.001)  # half the cash at A's first open, the fee included
    qb = 500 / (50 * 1.001)
    expected = [qa * 110 + 500, qa * 120 + qb * 55, qa * 90 + qb * 55, qa * 100 + qb * 60]
    np.testing.assert_allclose(bh.equity, expected)
    np.testing.assert_array_equal(bh.ts, timeline)
    assert bh.exposure[0] == pytest.approx(qa * 110 / expected[0])
    np.testing.assert_allclose(bh.exposure[1:], 1.0)
    fees = buy_and_hold_fees(
        market, timeline, initial_cash=Decimal(1000), fee_rate=Decimal("0.001")
    )
    assert fees == pytest.approx(Decimal(1) / Decimal("1.001"))


def test_buy_and_hold_metrics_report_no_round_trips():
    market, _ = two_instrument_market()
    result = BacktestResult(
        strategy="s",
        parameters={},
        initial_cash=Decimal(1000),
        final_equity=Decimal(1000),
        quote_currency="USDT",
        bar_interval_ns=NS_PER_HOUR,
        curve=curve([1000] * 4),
        trades=(),
        fills=(),
        fees_paid=Decimal(0),
        costs=FillModel(fees=FeeSchedule.flat(Decimal(10))),
        market=market,
    )
    bh_curve, bh = buy_and_hold_benchmark(result, fee_rate=Decimal("0.001"))
    assert bh.trades == 0
    assert bh.to_dict()["win_rate"] is None
    assert bh.final_equity == pytest.approx(float(bh_curve.equity[-1]))
    assert bh.exposure == 1.0
    assert float(bh.fees_paid) == pytest.approx(1 / 1.001)


def test_buy_and_hold_without_instruments_keeps_the_cash():
    bh = buy_and_hold_curve({}, [T0, T0 + 1], initial_cash=Decimal(10), fee_rate=Decimal(0))
    np.testing.assert_array_equal(bh.equity, [10.0, 10.0])


def test_buy_and_hold_ignores_bars_before_the_timeline():
    market, timeline = two_instrument_market()
    bh = buy_and_hold_curve(
        {"A/USDT": market["A/USDT"]},
        timeline[2:],
        initial_cash=Decimal(120),
        fee_rate=Decimal(0),
    )
    np.testing.assert_allclose(bh.equity, [90.0, 100.0])  # bought at 120, the third open


# --- monthly returns ----------------------------------------------------------------------


def test_monthly_returns_across_a_year_boundary_and_a_missing_month():
    ts = np.array(
        [
            utc_ns(2023, 11, 15),
            utc_ns(2023, 11, 30, 23),
            utc_ns(2023, 12, 31, 23),
            utc_ns(2024, 1, 10),
            utc_ns(2024, 1, 31, 23),
            utc_ns(2024, 3, 1),
        ],
        dtype=np.int64,
    )
    c = EquityCurve(ts=ts, equity=np.array([105, 110, 121, 100, 96.8, 100.0]), exposure=np.zeros(6))
    got = monthly_returns(c, start_equity=100.0)
    assert [(r.year, r.month) for r in got] == [(2023, 11), (2023, 12), (2024, 1), (2024, 3)]
    expected = [0.1, 0.1, 96.8 / 121 - 1, 100 / 96.8 - 1]  # March spans the empty February
    assert [r.ret for r in got] == pytest.approx(expected)
    assert isinstance(got[0], MonthlyReturn)
    # Without a start, the first month is measured from the first mark.
    assert monthly_returns(c)[0].ret == pytest.approx(110 / 105 - 1)


def test_monthly_returns_of_an_empty_curve():
    assert monthly_returns(curve([])) == []
