"""A strategy's record over one window of time, from the real backtest engine.

A search backtests one strategy over many windows of one market. The market is loaded once
(`bootstrap.load_market`); each window is a fresh run of the engine through `bootstrap.run`,
with the request's fees, slippage and risk phase, kept nowhere (`store="none"`). A window's
run starts with cash and no position, so the strategy warms its indicators up inside the
window: what it could not know at the window's start it does not use.

The record is the account's daily log returns on the window's UTC days (the equity at each
day's last close against the day before; the first day against the starting cash; a day
without bars 0), as `evolution.scoring` gives a pattern's, so the same statistics judge both.
Buy-and-hold over the same window (the engine's own benchmark curve) comes with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from coinswarm import bootstrap
from coinswarm.backtest.result import EquityCurve
from coinswarm.data.timefmt import format_timestamp
from coinswarm.domain.bar import BarSeries
from coinswarm.evolution.dataset import NS_PER_DAY
from coinswarm.evolution.scoring import DAYS_PER_YEAR
from coinswarm.evolution.statistics.sharpe import annualised_sharpe_ratio
from coinswarm.evolution.windows import Window

__all__ = [
    "StrategyWindows",
    "WindowRecord",
    "daily_log_returns",
    "window_days",
    "window_json",
]

FloatArray = npt.NDArray[np.float64]
# A ruined account (equity 0) is a loss of this many nepers, not an infinite one.
_RUIN_FLOOR = 1e-12


@dataclass(frozen=True, slots=True, eq=False)
class WindowRecord:
    """A strategy's daily log returns over one window, its trades, and hold's on those days."""

    window: Window
    daily: FloatArray
    trades: int
    hold_daily: FloatArray

    @property
    def net_return(self) -> float:
        return math.expm1(float(np.sum(self.daily)))

    @property
    def sharpe(self) -> float:
        """Annualised Sharpe ratio of the daily returns, after fees (0 for a flat record)."""
        return annualised_sharpe_ratio(self.daily, DAYS_PER_YEAR) if len(self.daily) else 0.0

    def to_json(self, sample: str) -> dict[str, Any]:
        return {
            "sample": sample,
            "start": format_timestamp(self.window.start_ns),
            "end": format_timestamp(self.window.end_ns),
            "days": len(self.daily),
            "sharpe": self.sharpe,
            "net_return": self.net_return,
            "trades": self.trades,
            "hold_net_return": math.expm1(float(np.sum(self.hold_daily))),
        }


def window_json(window: Window, sample: str, record: WindowRecord | None) -> dict[str, Any]:
    """Return `record` labelled with its sample; a window never scored keeps its figures null."""
    if record is not None:
        return record.to_json(sample)
    unscored: dict[str, Any] = dict.fromkeys(
        ("days", "sharpe", "net_return", "trades", "hold_net_return")
    )
    return {
        "sample": sample,
        "start": format_timestamp(window.start_ns),
        "end": format_timestamp(window.end_ns),
        **unscored,
    }


def window_days(window: Window) -> tuple[int, int]:
    """Return the window's first UTC day number and how many days it touches."""
    first = window.start_ns // NS_PER_DAY
    return first, -(-window.end_ns // NS_PER_DAY) - first


def daily_log_returns(curve: EquityCurve, window: Window, initial: float) -> FloatArray:
    """Return the curve's log return on each UTC day of `window` (0 on a day without bars)."""
    first, n_days = window_days(window)
    close_of_day = np.full(n_days, np.nan)
    if len(curve.ts):
        days = curve.ts // NS_PER_DAY - first
        last_of_day = np.flatnonzero(np.diff(days, append=days[-1] + 1))  # ts are sorted
        close_of_day[days[last_of_day]] = curve.equity[last_of_day]
    # A day without bars keeps the equity of the day before.
    known = np.concatenate(([initial], close_of_day))
    filled = np.where(np.isnan(known), 0, np.arange(len(known)))
    equity = known[np.maximum.accumulate(filled)]
    log_equity = np.log(np.maximum(equity, _RUIN_FLOOR * initial))
    return np.diff(log_equity)


class StrategyWindows:
    """Backtest one strategy over windows of one market, loaded once."""

    def __init__(self, request: bootstrap.BacktestRequest) -> None:
        # The search stores its own trials; a window's backtest is kept nowhere.
        self.request = replace(request, store="none", start_ns=None, end_ns=None)
        self.market: list[BarSeries] = bootstrap.load_market(self.request)

    @property
    def bar_ns(self) -> int:
        return min(series.interval_ns for series in self.market)

    @property
    def span(self) -> Window:
        """From the first bar's open to the last bar's end, over every instrument."""
        start = min(int(series.ts[0]) for series in self.market)
        end = max(int(series.ts[-1]) + series.interval_ns for series in self.market)
        return Window(start, end)

    @property
    def instruments(self) -> tuple[str, ...]:
        return tuple(series.instrument for series in self.market)

    def run(self, parameters: Mapping[str, str], window: Window) -> WindowRecord:
        """Backtest the strategy with `parameters` over `window`, from cash."""
        request = replace(
            self.request,
            parameters=dict(parameters),
            start_ns=window.start_ns,
            end_ns=window.end_ns,
        )
        outcome = bootstrap.run(request, market=self.market)
        cash = float(outcome.result.initial_cash)
        return WindowRecord(
            window=window,
            daily=daily_log_returns(outcome.result.curve, window, cash),
            trades=len(outcome.result.trades),
            hold_daily=daily_log_returns(outcome.benchmark_curve, window, cash),
        )
