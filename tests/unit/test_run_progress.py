"""The engine tells its progress (bars, equity, orders, fills) and stops early when asked.

A paper session shown on a screen or in a log needs how far it got, what the account is
worth and what it traded; Ctrl-C must end it with what happened so far, not lose it.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from coinswarm.backtest.engine import PROGRESS_EVERY, BacktestConfig, run_backtest, run_live
from coinswarm.backtest.engine import simulated_venue as simulated
from coinswarm.backtest.progress import RunProgress
from coinswarm.data import synthetic_market
from coinswarm.domain.clock import HistoricalClock
from coinswarm.strategies.sma_cross import SmaCross, SmaCrossConfig


def _market(bars: int, seed: int = 5):
    return [synthetic_market(instrument="BTC-USDT", bars=bars, seed=seed)]


def _strategy() -> SmaCross:
    return SmaCross(SmaCrossConfig(fast=3, slow=8))


def test_a_backtest_reports_every_so_often_and_its_end_from_the_result() -> None:
    heard: list[RunProgress] = []
    market = _market(2 * PROGRESS_EVERY + 100)
    result = run_backtest(market, _strategy(), BacktestConfig(), progress=heard.append)
    total = len(market[0])
    assert [p.bars for p in heard] == [1, PROGRESS_EVERY + 1, 2 * PROGRESS_EVERY + 1, total]
    assert all(p.total == total for p in heard)
    last = heard[-1]
    assert last.done
    assert not any(p.done for p in heard[:-1])
    assert last.equity == result.final_equity
    assert last.orders == len(result.orders) > 10
    assert last.fills == len(result.fills) > 10
    assert last.market_ts == int(market[0].ts[-1])
    assert last.quote == "USDT"
    # Along the way: the orders and fills so far, never more than at the end.
    middle = heard[1]
    assert 0 < middle.orders <= last.orders
    assert middle.market_ts == int(market[0].ts[PROGRESS_EVERY])
    assert middle.equity is not None
    assert middle.equity != Decimal(10_000)


def test_a_paced_run_reports_every_timestamp() -> None:
    heard: list[RunProgress] = []
    paced: list[int] = []
    market = _market(50)
    run_backtest(market, _strategy(), progress=heard.append, pace=paced.append)
    assert [p.bars for p in heard] == [*range(1, 51), 50]
    assert [p.market_ts for p in heard[:-1]] == paced


def test_a_stopped_run_ends_before_its_next_timestamp_and_covers_what_it_stepped() -> None:
    market = _market(300)
    whole = run_backtest(market, _strategy())
    asked: list[int] = []

    def stopped() -> bool:
        asked.append(1)
        return len(asked) > 120  # asked before each timestamp (no pacer): stop at the 121st

    heard: list[RunProgress] = []
    result = run_backtest(market, _strategy(), stopped=stopped, progress=heard.append)
    assert len(result.curve.ts) == 120
    assert int(result.curve.ts[-1]) == int(market[0].ts[119])
    assert len(result.market["BTC-USDT"]) == 120
    # What it did until then is exactly what the whole run did over those bars.
    cut = int(market[0].ts[119])
    assert result.fills == tuple(f for f in whole.fills if f.ts <= cut)
    assert np.array_equal(result.curve.equity, whole.curve.equity[:120])
    assert heard[-1].done
    assert heard[-1].bars == 120
    assert heard[-1].total == 300


def test_a_run_stopped_before_its_first_bar_has_no_bars() -> None:
    result = run_backtest(_market(30), _strategy(), stopped=lambda: True)
    assert len(result.curve.ts) == 0
    assert result.final_equity == Decimal(10_000)
    assert result.bar_interval_ns > 0


def test_a_live_run_reports_every_bar_and_covers_only_the_bars_it_traded() -> None:
    series = synthetic_market(instrument="BTC-USDT", bars=260, seed=9)
    history, later = series.between(None, int(series.ts[200])), series.between(int(series.ts[200]))
    heard: list[RunProgress] = []
    result = run_live(
        (later.bar(i) for i in range(len(later))),
        _strategy(),
        BacktestConfig(),
        instruments=["BTC-USDT"],
        history=[history],
        clock=HistoricalClock(int(later.ts[0])),
        venue=simulated,
        progress=heard.append,
        total=len(later),
    )
    assert [p.bars for p in heard] == [*range(1, 61), 60]
    assert heard[-1].done
    assert heard[-1].total == 60
    assert heard[-1].fills == len(result.fills)
    # The warm-up is not the session's: its curve, and so its buy-and-hold, start at bar 200.
    assert np.array_equal(result.curve.ts, later.ts)
    assert np.array_equal(result.market["BTC-USDT"].ts, later.ts)
