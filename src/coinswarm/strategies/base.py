"""What a strategy is: something that reads the fenced market and asks for orders.

A strategy never reaches an exchange. It returns intents; the engine passes them through the
one door (risk checks, then the execution agent, then the adapter), so the same strategy runs
unchanged in a backtest, on paper and live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from coinswarm.data.view import MarketView
from coinswarm.domain.bar import Bar
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderRequest

__all__ = ["CancelRequest", "Intent", "Strategy", "StrategyContext"]


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Ask for a resting order to be cancelled."""

    order_id: str


Intent = OrderRequest | CancelRequest


class StrategyContext(Protocol):
    """What a strategy may know: the clock, the fenced market and its own account."""

    @property
    def market(self) -> MarketView: ...

    def now_ns(self) -> int: ...

    def instrument(self, symbol: str) -> Instrument: ...

    def cash(self) -> Decimal: ...

    def position(self, instrument: str) -> Decimal: ...

    def has_open_orders(self, instrument: str) -> bool: ...

    def next_client_order_id(self, instrument: str) -> str: ...


class Strategy(Protocol):
    """Turn each new bar into zero or more intents."""

    name: str

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]: ...
