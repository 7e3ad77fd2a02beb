"""The journal: where everything a run decides and does is written down as it happens.

The execution agent, the door and the engine tell the journal about every intent, order
change, fill, risk decision and verdict. The in-memory journal only remembers which intents
were claimed, so that two identical intents become one order. The storage-backed journal
(`coinswarm.infra.storage.journal`) writes them to the database in checkpoints, each one
transaction, so that a run killed at any moment can be resumed without losing or repeating
anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from coinswarm.agents.committee import Verdict
    from coinswarm.domain.fill import Fill
    from coinswarm.domain.ledger import Deposit, LedgerState
    from coinswarm.domain.order import Order, OrderRequest
    from coinswarm.risk.events import RiskEvent, RiskNote

__all__ = ["Journal", "MemoryJournal"]


class Journal(Protocol):
    """Write down a run as it happens."""

    def claim(self, request: OrderRequest, ts: int) -> bool:
        """Claim an intent's client order id; False if it was claimed before (do not send)."""
        ...

    def order(self, order: Order) -> None:
        """Note an order's new state (placed, filled, cancelled, refused...)."""
        ...

    def fill(self, fill: Fill, order: Order) -> None:
        """Note a fill together with its order's state after it."""
        ...

    def deposit(self, deposit: Deposit) -> None:
        """Note cash moved into or out of the account."""
        ...

    def risk_note(self, client_order_id: str, note: RiskNote, ts: int) -> None:
        """Note what the risk layer did with one request."""
        ...

    def risk_event(self, event: RiskEvent) -> None:
        """Note a breaker trip, a stop, a reset."""
        ...

    def verdict(self, verdict: Verdict) -> None:
        """Note a committee verdict with its votes."""
        ...

    def checkpoint(self, ts: int, state: LedgerState) -> None:
        """Make everything noted so far durable, with the ledger state at `ts`."""
        ...


class MemoryJournal:
    """Remember claimed intents for the life of the process; keep nothing else."""

    __slots__ = ("_claimed",)

    def __init__(self) -> None:
        self._claimed: set[str] = set()

    def claim(self, request: OrderRequest, ts: int) -> bool:
        if request.client_order_id in self._claimed:
            return False
        self._claimed.add(request.client_order_id)
        return True

    def order(self, order: Order) -> None:
        return

    def fill(self, fill: Fill, order: Order) -> None:
        return

    def deposit(self, deposit: Deposit) -> None:
        return

    def risk_note(self, client_order_id: str, note: RiskNote, ts: int) -> None:
        return

    def risk_event(self, event: RiskEvent) -> None:
        return

    def verdict(self, verdict: Verdict) -> None:
        return

    def checkpoint(self, ts: int, state: LedgerState) -> None:
        return
