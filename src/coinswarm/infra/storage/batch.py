"""What a run did between two checkpoints, in the order it did it, for one bulk write.

A checkpoint used to replay its events one by one through the store's per-row methods (an
ORM insert and a flush each, an audit entry read back and hashed each). The store's
`write_batch` writes the same rows, with the same ids and the same audit hashes, as a few
multi-row statements per table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coinswarm.domain.fill import Fill
    from coinswarm.domain.ledger import Deposit
    from coinswarm.domain.order import Order, OrderRequest
    from coinswarm.risk.events import RiskEvent, RiskNote

__all__ = ["Claimed", "Deposited", "Entry", "Filled", "Happened", "Noted", "Ordered"]


@dataclass(frozen=True, slots=True)
class Claimed:
    """An intent claimed before its order was sent (`Store.claim_intent`)."""

    request: OrderRequest
    ts: int


@dataclass(frozen=True, slots=True)
class Ordered:
    """An order's new state (`Store.record_order`)."""

    order: Order


@dataclass(frozen=True, slots=True)
class Filled:
    """A fill with its order's state after it (`Store.record_fill`)."""

    fill: Fill
    order: Order


@dataclass(frozen=True, slots=True)
class Deposited:
    """Cash moved into or out of the account (`Store.record_deposit`)."""

    deposit: Deposit


@dataclass(frozen=True, slots=True)
class Noted:
    """What the risk layer did with one request (`Store.record_risk_note`)."""

    client_order_id: str
    note: RiskNote
    ts: int


@dataclass(frozen=True, slots=True)
class Happened:
    """A breaker trip, a stop, a reset (`Store.record_risk_event`)."""

    event: RiskEvent


Entry = Claimed | Ordered | Filled | Deposited | Noted | Happened
