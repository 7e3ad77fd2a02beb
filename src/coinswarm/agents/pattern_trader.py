"""One pattern traded bar by bar on closed bars: when it would enter, and when it would leave.

This is the streaming form of `evolution.evaluate` (the vectorised form research uses); tests
hold the two to the same trades. The trader keeps the pattern's own position, as if every
signal filled at the next open, so a pattern's record does not depend on what the committee
did with its votes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from coinswarm.data.features.family import FeatureStream
from coinswarm.domain.bar import Bar
from coinswarm.domain.pattern import Condition, Pattern

__all__ = ["PatternTrader", "Signal", "TradeClosed"]


class Signal(StrEnum):
    """What the pattern decided on a bar's close, to be done at the next open."""

    ENTER = "enter"
    EXIT = "exit"


@dataclass(frozen=True, slots=True)
class TradeClosed:
    """A trade of the pattern's own record: fill prices and its net return after fees."""

    entry_ts: int
    exit_ts: int
    entry_price: float
    exit_price: float
    net_return: float


class PatternTrader:
    """Feed closed bars of one instrument; `update` returns the decision of each bar's close."""

    def __init__(
        self,
        pattern: Pattern,
        stream_for: Callable[[str], FeatureStream],
        *,
        fee_rate: float,
    ) -> None:
        self.pattern = pattern
        self.fee_rate = fee_rate
        self._streams = {name: stream_for(name) for name in pattern.features}
        self._pending: Signal | None = None
        self._entry_price = 0.0
        self._entry_ts = 0
        self._held = 0
        self.holding = False
        self.closed: list[TradeClosed] = []

    @property
    def entry_ts(self) -> int | None:
        """When the open position was filled (the open of that bar), None while flat."""
        return self._entry_ts if self.holding else None

    def update(self, bar: Bar) -> Signal | None:
        """Take the next closed bar; return ENTER or EXIT when its close decides one."""
        values = {name: stream.update(bar) for name, stream in self._streams.items()}
        self._fill_pending(bar)
        if self.holding:
            self._held += 1
            if self._should_leave(bar.close, values):
                self._pending = Signal.EXIT
        elif _all_hold(self.pattern.entry, values):
            self._pending = Signal.ENTER
        return self._pending

    def close_out(self, bar: Bar) -> TradeClosed | None:
        """Close a trade still open at `bar`'s close (the end of a window), fees included."""
        if not self.holding:
            return None
        self.holding = False
        self._pending = None
        return self._record(bar.ts, bar.close)

    def _fill_pending(self, bar: Bar) -> None:
        if self._pending is Signal.ENTER:
            self.holding = True
            self._entry_price = bar.open
            self._entry_ts = bar.ts
            self._held = 0
        elif self._pending is Signal.EXIT:
            self.holding = False
            self._record(bar.ts, bar.open)
        self._pending = None

    def _should_leave(self, close: float, values: dict[str, float]) -> bool:
        exit_rule = self.pattern.exit
        if self.pattern.side.sign > 0:
            move = close / self._entry_price - 1.0
        else:
            move = self._entry_price / close - 1.0
        take_profit = math.inf if exit_rule.take_profit is None else exit_rule.take_profit
        stop_loss = math.inf if exit_rule.stop_loss is None else exit_rule.stop_loss
        return (
            move >= take_profit
            or move <= -stop_loss
            or self._held >= exit_rule.max_bars
            or (bool(exit_rule.conditions) and _all_hold(exit_rule.conditions, values))
        )

    def _record(self, exit_ts: int, exit_price: float) -> TradeClosed:
        keep_sell, keep_buy = 1.0 - self.fee_rate, 1.0 + self.fee_rate
        if self.pattern.side.sign > 0:
            net = exit_price * keep_sell / (self._entry_price * keep_buy) - 1.0
        else:
            net = self._entry_price * keep_sell / (exit_price * keep_buy) - 1.0
        trade = TradeClosed(self._entry_ts, exit_ts, self._entry_price, exit_price, net)
        self.closed.append(trade)
        return trade


def _all_hold(conditions: tuple[Condition, ...], values: dict[str, float]) -> bool:
    """Whether every condition holds; a feature still warming up (NaN) holds none."""
    for condition in conditions:
        value = values[condition.feature]
        above = condition.op == ">"
        if not (value > condition.threshold if above else value < condition.threshold):
            return False
    return True
