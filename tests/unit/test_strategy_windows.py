"""`evolution.optimize.windows`: a window's daily record from the real engine's equity curve."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.backtest.result import EquityCurve
from coinswarm.bootstrap import BacktestRequest, run
from coinswarm.data import synthetic_market, write_bars
from coinswarm.domain.bar import NS_PER_HOUR
from coinswarm.evolution.optimize.windows import StrategyWindows, daily_log_returns
from coinswarm.evolution.windows import Window

DAY = 24 * NS_PER_HOUR
START = 19_000 * DAY  # 2022-01-08, a midnight


def curve(hours: list[int], equity: list[float]) -> EquityCurve:
    ts = np.array([START + h * NS_PER_HOUR for h in hours], dtype=np.int64)
    return EquityCurve(ts, np.array(equity), np.zeros(len(ts)))


def test_a_day_returns_its_last_close_against_the_day_before_and_a_day_without_bars_zero():
    window = Window(START, START + 3 * DAY)
    daily = daily_log_returns(curve([0, 23, 50], [101.0, 102.0, 99.0]), window, 100.0)
    assert np.allclose(daily, [math.log(102 / 100), 0.0, math.log(99 / 102)], rtol=0, atol=1e-15)


def test_a_window_starting_mid_day_counts_that_day():
    window = Window(START + 12 * NS_PER_HOUR, START + DAY + 1)
    daily = daily_log_returns(curve([12, 24], [110.0, 121.0]), window, 100.0)
    assert np.allclose(daily, [math.log(1.1), math.log(1.1)])


def test_a_ruined_account_is_a_large_finite_loss():
    daily = daily_log_returns(curve([0, 30], [50.0, 0.0]), Window(START, START + 2 * DAY), 100.0)
    assert np.isfinite(daily).all()
    assert daily[1] < -20


@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.floats(1.0, 1e6)),
        min_size=1,
        max_size=60,
        unique_by=lambda x: x[0],
    )
)
def test_the_daily_returns_add_up_to_the_whole_curve(points):
    points.sort()
    hours = [h for h, _ in points]
    equity = [e for _, e in points]
    window = Window(START, START + 9 * DAY)
    daily = daily_log_returns(curve(hours, equity), window, 1000.0)
    assert len(daily) == 9
    assert math.isclose(float(np.sum(daily)), math.log(equity[-1] / 1000.0), abs_tol=1e-9)


def test_a_window_is_a_fresh_backtest_of_that_period_through_the_engine(tmp_path):
    path = tmp_path / "BTC_USDT-1h.csv"
    write_bars(synthetic_market(instrument="BTC-USDT", bars=1_500, seed=5), path)
    windows = StrategyWindows(BacktestRequest(data=(path,), strategy="sma-cross"))
    assert windows.instruments == ("BTC-USDT",)
    assert windows.bar_ns == NS_PER_HOUR
    span = windows.span
    assert (span.end_ns - span.start_ns) // NS_PER_HOUR == 1_500
    window = Window(span.start_ns + 200 * NS_PER_HOUR, span.start_ns + 1_100 * NS_PER_HOUR)
    record = windows.run({"fast": "5", "slow": "30"}, window)
    alone = run(
        BacktestRequest(
            data=(path,),
            strategy="sma-cross",
            parameters={"fast": "5", "slow": "30"},
            start_ns=window.start_ns,
            end_ns=window.end_ns,
            store="none",
        )
    )
    assert record.trades == len(alone.result.trades) > 0
    final = float(alone.result.final_equity) / float(alone.result.initial_cash)
    assert math.isclose(float(np.sum(record.daily)), math.log(final), abs_tol=1e-9)
    assert len(record.daily) == 900 // 24 + 1  # 900 hours touch 38 UTC days
    assert math.isclose(record.net_return, final - 1, abs_tol=1e-9)
    held = float(alone.benchmark.final_equity) / float(alone.result.initial_cash)
    assert math.isclose(float(np.sum(record.hold_daily)), math.log(held), abs_tol=1e-9)
