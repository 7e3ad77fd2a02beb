"""Evaluate a pattern over a whole window at once: its trades and its per-bar returns.

This is the research twin of the pattern trader that runs bar by bar (`agents.pattern_trader`,
and through it the pattern agent in the engine); tests hold the two to the same trades. The entry
and exit conditions are whole-array comparisons (numpy); the walk that decides when a position
leaves is path-dependent, so it is one compiled loop (numba) over the window.

The semantics (docs/ISSUE13_PLAN.md) in short: a signal on the close of bar t fills at the open
of t+1; a position leaves at the next open after the first close where it reached its take
profit, its stop loss, its time limit, or its exit conditions; one still open at the window's
last bar is closed at that bar's close. Fees are paid per side. Per-bar log returns carry the
fees on the bars that pay them, so a trade's bars sum to its net log return.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from coinswarm.domain.pattern import Condition, Pattern

__all__ = [
    "DEFAULT_FEE_RATE",
    "Evaluation",
    "FeatureLookup",
    "condition_mask",
    "evaluate",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FeatureLookup = Callable[[str], FloatArray]
"""Return a feature's values over the whole series (the loop caches them per instrument)."""

DEFAULT_FEE_RATE = 0.006
"""Coinbase Advanced Trade's taker fee at the lowest volume tier: 60 basis points a side."""


@dataclass(frozen=True, slots=True, eq=False)
class Evaluation:
    """A pattern's trades in one window `[start, end)` of one series, and its bar returns.

    Bars are indices into the whole series. `entries[i]` is the bar whose open filled trade i;
    `exits[i]` the bar whose open closed it, or `end` for a trade closed at the window's last
    close. `bar_returns[k]` is the log return of bar `start + k` (0 while flat).
    """

    start: int
    end: int
    side: int
    entries: IntArray
    exits: IntArray
    trade_returns: FloatArray  # net simple return of each trade, fees included
    bar_returns: FloatArray

    @property
    def trades(self) -> int:
        return len(self.entries)

    @property
    def bars_held(self) -> int:
        """Bars with a position on at some point: each trade's entry bar up to its exit bar."""
        return int(np.sum(self.exits - self.entries))


def condition_mask(conditions: tuple[Condition, ...], features: FeatureLookup) -> BoolArray:
    """Return, per bar, whether every condition holds (False where a feature is NaN)."""
    mask: BoolArray | None = None
    for condition in conditions:
        values = features(condition.feature)
        with np.errstate(invalid="ignore"):
            if condition.op == ">":
                held = values > condition.threshold
            else:
                held = values < condition.threshold
        mask = held if mask is None else mask & held
    if mask is None:
        raise ValueError("expected at least one condition")
    return mask


def evaluate(
    pattern: Pattern,
    open_: FloatArray,
    close: FloatArray,
    features: FeatureLookup,
    *,
    start: int = 0,
    end: int | None = None,
    fee_rate: float = DEFAULT_FEE_RATE,
) -> Evaluation:
    """Trade `pattern` over bars `[start, end)` of one series whose features `features` gives.

    Features are read over the whole series: a feature at bar t depends on bars up to t only,
    so the bars before `start` are warm-up, never a look at the future.
    """
    n = len(close)
    end = n if end is None else end
    if not 0 <= start < end <= n:
        raise ValueError(f"expected 0 <= start < end <= {n}, found start={start} end={end}")
    if not 0.0 <= fee_rate < 1.0:
        raise ValueError(f"expected a fee rate in [0, 1), found {fee_rate}")
    entry_ok = condition_mask(pattern.entry, features)[start:end]
    exit_conditions = pattern.exit.conditions
    exit_ok = (
        condition_mask(exit_conditions, features)[start:end]
        if exit_conditions
        else np.zeros(end - start, dtype=np.bool_)
    )
    take_profit = pattern.exit.take_profit
    stop_loss = pattern.exit.stop_loss
    bar_returns = np.zeros(end - start)
    # At most one trade every two bars (a bar that decides an exit decides no entry), plus one.
    room = (end - start) // 2 + 1
    entries = np.empty(room, dtype=np.int64)
    exits = np.empty(room, dtype=np.int64)
    trade_logs = np.empty(room)
    count = _walk(
        np.ascontiguousarray(open_[start:end]),
        np.ascontiguousarray(close[start:end]),
        np.ascontiguousarray(entry_ok),
        np.ascontiguousarray(exit_ok),
        pattern.side.sign,
        math.inf if take_profit is None else take_profit,
        math.inf if stop_loss is None else stop_loss,
        pattern.exit.max_bars,
        math.log1p(-fee_rate),
        -math.log1p(fee_rate),
        bar_returns,
        entries,
        exits,
        trade_logs,
    )
    return Evaluation(
        start=start,
        end=end,
        side=pattern.side.sign,
        entries=entries[:count] + start,
        exits=exits[:count] + start,
        trade_returns=np.expm1(trade_logs[:count]),
        bar_returns=bar_returns,
    )


@numba.njit(cache=True, nogil=True)
def _walk(  # noqa: PLR0917 - numba compiles plain positional arrays and scalars, not objects
    open_: FloatArray,
    close: FloatArray,
    entry_ok: BoolArray,
    exit_ok: BoolArray,
    side: int,
    take_profit: float,
    stop_loss: float,
    max_bars: int,
    log_keep_on_sell: float,
    log_keep_on_buy: float,
    bar_returns: FloatArray,
    entries: IntArray,
    exits: IntArray,
    trade_logs: FloatArray,
) -> int:
    """Walk bars once; fill `bar_returns`, `entries`, `exits` and each trade's net log return
    (its bars' returns summed as they are made); return the trade count.

    A long buys on entry and sells on exit; a short sells first and buys back, so the two fee
    legs swap places.
    """
    n = len(close)
    entry_fee = log_keep_on_buy if side > 0 else log_keep_on_sell
    exit_fee = log_keep_on_sell if side > 0 else log_keep_on_buy
    count = 0
    holding = False
    leaving = False  # decided on the previous close: leave at this bar's open
    entering = False
    entered_at = 0
    entry_price = 0.0
    trade_log = 0.0
    for t in range(n):
        if leaving:
            bar_returns[t] = side * math.log(open_[t] / close[t - 1]) + exit_fee
            exits[count] = t
            trade_logs[count] = trade_log + bar_returns[t]
            count += 1
            holding = False
            leaving = False
        elif entering:
            entered_at = t
            entry_price = open_[t]
            entries[count] = t
            bar_returns[t] = side * math.log(close[t] / open_[t]) + entry_fee
            trade_log = bar_returns[t]
            holding = True
            entering = False
        elif holding:
            bar_returns[t] = side * math.log(close[t] / close[t - 1])
            trade_log += bar_returns[t]
        if holding:
            move = close[t] / entry_price - 1.0 if side > 0 else entry_price / close[t] - 1.0
            if (
                move >= take_profit
                or move <= -stop_loss
                or t - entered_at + 1 >= max_bars
                or exit_ok[t]
            ):
                leaving = True
        elif entry_ok[t] and t + 1 < n:
            entering = True
    if holding:  # still open (or leaving with no next open): closed at the last close
        bar_returns[n - 1] += exit_fee
        exits[count] = n
        trade_logs[count] = trade_log + exit_fee
        count += 1
    return count
