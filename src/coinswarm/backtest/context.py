"""The strategy's window on the run: clock, fenced market, its own account, its explanations."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from coinswarm.data.view import MarketView
from coinswarm.domain.clock import Clock
from coinswarm.domain.errors import UnknownMarkError
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.ledger import Ledger
from coinswarm.execution.journal import Journal, MemoryJournal
from coinswarm.strategies.base import Rationale

if TYPE_CHECKING:
    from coinswarm.agents.committee import Verdict

__all__ = ["EngineContext"]

ZERO = Decimal(0)


class EngineContext:
    """Answer a strategy's questions from the ledger and the latest closes; nothing more."""

    __slots__ = (
        "_clock",
        "_instruments",
        "_journal",
        "_ledger",
        "_limit",
        "_market",
        "_resting",
        "_sequence",
        "closes",
        "rationales",
    )

    def __init__(
        self,
        clock: Clock,
        market: MarketView,
        *,
        ledger: Ledger,
        instruments: dict[str, Instrument],
        resting: Callable[[str], bool],
        position_limit: float | None = None,
        journal: Journal | None = None,
    ) -> None:
        self._clock = clock
        self._market = market
        self._ledger = ledger
        self._instruments = instruments
        self._sequence = 0
        self.closes: dict[str, float] = {}  # the engine writes each bar's close here
        self._resting = resting
        self._limit = position_limit
        self._journal = journal or MemoryJournal()
        self.rationales: dict[str, Rationale] = {}

    @property
    def market(self) -> MarketView:
        return self._market

    def now_ns(self) -> int:
        return self._clock.now_ns()

    def instrument(self, symbol: str) -> Instrument:
        return self._instruments[symbol]

    def cash(self) -> Decimal:
        return self._ledger.cash()

    def position(self, instrument: str) -> Decimal:
        return self._ledger.position(instrument).quantity

    def has_open_orders(self, instrument: str) -> bool:
        return self._resting(instrument)

    def next_client_order_id(self, instrument: str) -> str:
        # Derived from the run's own history, so the same run names its orders the same way.
        self._sequence += 1
        return f"{instrument}-{self._clock.now_ns()}-{self._sequence}"

    def position_limit(self) -> float | None:
        return self._limit

    def mark(self, instrument: str) -> Decimal:
        """Return the latest close, else the price of the latest fill; refuse if neither."""
        close = self.closes.get(instrument)
        if close is not None:
            return Decimal(repr(close))
        traded = self._last_fill_price(instrument)
        if traded is None:
            msg = f"no mark for {instrument}: no bar of it seen yet, and no fill of it"
            raise UnknownMarkError(msg)
        return traded

    def marks(self) -> dict[str, Decimal]:
        """Return a mark for every instrument with a close, and for every position.

        A live position can come before its instrument's first bar (an order adopted at a
        restart, a fill reconciliation booked): the price of its latest fill, a real trade,
        values it until a bar does.
        """
        marks = {s: Decimal(repr(c)) for s, c in self.closes.items()}
        for symbol in self._ledger.positions:
            if symbol not in marks:
                traded = self._last_fill_price(symbol)
                if traded is not None:
                    marks[symbol] = traded
        return marks

    def _last_fill_price(self, instrument: str) -> Decimal | None:
        fills = self._ledger.fills
        return next((f.price for f in reversed(fills) if f.instrument == instrument), None)

    def equity(self) -> Decimal:
        held = self._ledger.positions
        return self._ledger.cash() + sum((p.quantity * self.mark(s) for s, p in held.items()), ZERO)

    def exposure(self, instrument: str) -> float:
        quantity = self.position(instrument)
        if not quantity:
            return 0.0
        equity = self.equity()
        return float(quantity * self.mark(instrument) / equity) if equity > 0 else 1.0

    def gross_exposure(self) -> float:
        equity = self.equity()
        if equity <= 0:
            return 1.0
        held = self._ledger.positions
        return float(sum((abs(p.quantity) * self.mark(s) for s, p in held.items()), ZERO) / equity)

    def record_verdict(self, verdict: Verdict) -> None:
        self._journal.verdict(verdict)

    def explain(self, client_order_id: str, rationale: Rationale) -> None:
        self.rationales[client_order_id] = rationale
