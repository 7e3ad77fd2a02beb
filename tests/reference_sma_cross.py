"""A plain-Python reference implementation of the `sma-cross` strategy, for tests only.

It is written to be obviously correct rather than fast: one loop over bars, every moving
average recomputed from its whole window with `math.fsum` (a correctly rounded sum, then one
division), no numpy. Both the vectorised research path and the event-driven engine are checked
against it, so it must not share code with either.

The spec, word for word where it matters:

* long only; fast and slow simple moving averages of close;
* on the close of bar t, if fast crossed above slow (fast_t > slow_t and
  fast_{t-1} <= slow_{t-1}) and we are flat, buy with all cash at the open of bar t+1:
  quantity = cash / (open * (1 + fee));
* if fast crossed below slow (fast_t < slow_t and fast_{t-1} >= slow_{t-1}) and we are long,
  sell everything at the next open: proceeds = quantity * open * (1 - fee);
* a position still open at the end is valued at the last close with no exit fee;
* a signal on the very last bar cannot fill, because there is no next bar.

A cross needs both averages on bars t-1 and t, so the first bar that can signal is `slow`
(0-based): the slow average first exists on bar `slow - 1`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ReferenceResult", "ReferenceTrade", "reference_sma", "reference_sma_cross"]


@dataclass(frozen=True)
class ReferenceTrade:
    """One fill-to-fill round trip; exit fields are None while the position is still open."""

    entry_index: int
    entry_price: float
    quantity: float
    exit_index: int | None = None
    exit_price: float | None = None


@dataclass(frozen=True)
class ReferenceResult:
    """Final equity and every trade of one reference run."""

    final_equity: float
    trades: tuple[ReferenceTrade, ...]

    @property
    def round_trips(self) -> int:
        """Return the number of closed trades (an open position at the end does not count)."""
        return sum(1 for trade in self.trades if trade.exit_index is not None)

    @property
    def closed(self) -> tuple[ReferenceTrade, ...]:
        return tuple(trade for trade in self.trades if trade.exit_index is not None)

    @property
    def open_trade(self) -> ReferenceTrade | None:
        if self.trades and self.trades[-1].exit_index is None:
            return self.trades[-1]
        return None


def reference_sma(close: Sequence[float], window: int, t: int) -> float | None:
    """Return the simple moving average of `close` over the `window` bars ending at bar `t`."""
    if t < window - 1:
        return None
    return math.fsum(close[t - window + 1 : t + 1]) / window


def _signal(close: Sequence[float], fast: int, slow: int, t: int) -> int:
    """Return +1 for a cross above, -1 for a cross below, 0 otherwise, on the close of bar t."""
    if t < 1:
        return 0
    fast_now, slow_now = reference_sma(close, fast, t), reference_sma(close, slow, t)
    fast_prev, slow_prev = reference_sma(close, fast, t - 1), reference_sma(close, slow, t - 1)
    if fast_now is None or slow_now is None or fast_prev is None or slow_prev is None:
        return 0
    if fast_now > slow_now and fast_prev <= slow_prev:
        return 1
    if fast_now < slow_now and fast_prev >= slow_prev:
        return -1
    return 0


def reference_sma_cross(
    open_: Sequence[float],
    close: Sequence[float],
    fast: int,
    slow: int,
    fee_rate: float,
    initial_cash: float = 10_000.0,
) -> ReferenceResult:
    """Run the `sma-cross` spec bar by bar and return its final equity and trades."""
    cash = initial_cash
    trades: list[ReferenceTrade] = []
    holding: ReferenceTrade | None = None
    pending = 0  # the signal decided on the previous close, waiting for this bar's open
    for t in range(len(close)):
        if pending == 1 and holding is None:
            quantity = cash / (open_[t] * (1 + fee_rate))
            holding = ReferenceTrade(t, open_[t], quantity)
            cash = 0.0
        elif pending == -1 and holding is not None:
            cash = holding.quantity * open_[t] * (1 - fee_rate)
            trades.append(
                ReferenceTrade(
                    holding.entry_index, holding.entry_price, holding.quantity, t, open_[t]
                )
            )
            holding = None
        pending = _signal(close, fast, slow, t)
    if holding is not None:
        trades.append(holding)
        return ReferenceResult(holding.quantity * close[-1], tuple(trades))
    return ReferenceResult(cash, tuple(trades))
