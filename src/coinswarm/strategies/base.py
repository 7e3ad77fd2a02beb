"""What a strategy is: something that reads the fenced market and asks for orders.

A strategy never reaches an exchange. It returns intents; the engine passes them through the
one door (risk checks, then the execution agent, then the adapter), so the same strategy runs
unchanged in a backtest, on paper and live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from coinswarm.data.view import MarketView
from coinswarm.domain.bar import Bar
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderRequest

if TYPE_CHECKING:
    from coinswarm.agents.committee import Verdict

__all__ = ["CancelRequest", "Intent", "Rationale", "Strategy", "StrategyContext", "VoteRecord"]


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Ask for a resting order to be cancelled."""

    order_id: str


Intent = OrderRequest | CancelRequest


@dataclass(frozen=True, slots=True)
class VoteRecord:
    """One agent's vote as it entered a decision, with the weight the committee gave it."""

    agent: str
    direction: int
    confidence: float
    size_hint: float
    weight: float
    veto: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Rationale:
    """Why a strategy asked for an order: a summary, the votes behind it, and the details."""

    summary: str
    votes: tuple[VoteRecord, ...] = ()
    details: tuple[str, ...] = ()


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

    def equity(self) -> Decimal:
        """Return cash plus every position marked at its latest close."""
        ...

    def mark(self, instrument: str) -> Decimal:
        """Return the latest close of `instrument` as a Decimal."""
        ...

    def position_limit(self) -> float | None:
        """Return the risk profile's largest position as a fraction of equity, if any."""
        ...

    def exposure(self, instrument: str) -> float:
        """Return the value of the position in `instrument` as a fraction of equity."""
        ...

    def gross_exposure(self) -> float:
        """Return the value of every open position as a fraction of equity."""
        ...

    def record_verdict(self, verdict: Verdict) -> None:
        """Write a committee verdict, with its votes, to the run's journal."""
        ...

    def explain(self, client_order_id: str, rationale: Rationale) -> None:
        """Record why the order `client_order_id` is being asked for."""
        ...


class Strategy(Protocol):
    """Turn each new bar into zero or more intents."""

    name: str

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]: ...
