"""Plain records the store returns for things the domain has no class of its own for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from coinswarm.domain.ledger import LedgerState

__all__ = ["RiskRecord", "RunRecord", "StateChange", "StoredSnapshot"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One session: what ran, where, with which parameters and inputs, and how it stands.

    `venue` scopes trade ids: fills are unique per (venue, trade id). A simulated exchange
    numbers its trades afresh each run, so give simulated runs their own venue name (for
    example `simulated:<run id>`); a real exchange's name is shared by every run on it.
    """

    run_id: str
    mode: str
    venue: str
    strategy: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    status: str = "created"
    created_ts: int
    updated_ts: int


@dataclass(frozen=True, slots=True)
class StateChange:
    """One step of an order's history: its status and filled quantity after the step."""

    seq: int
    ts: int
    from_status: str | None
    to_status: str
    filled_quantity: Decimal


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """A stored ledger state and the time it was taken."""

    snapshot_id: int
    ts: int
    state: LedgerState


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskRecord:
    """A stored risk decision or risk event, as one flat row.

    `source` is "oversight" (an approve, shrink, reject or block of one order, with what was
    requested and what was sent), "breaker", "kill_switch", or "guard" (a session's
    reconciliation difference, pause or resume).
    """

    ts: int
    source: str
    kind: str
    reason: str
    actor: str | None = None
    client_order_id: str | None = None
    requested: str | None = None
    sent: str | None = None
