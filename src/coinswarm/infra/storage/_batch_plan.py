"""Work out, in memory, the rows a checkpoint's events make: what the per-row methods would write.

`Plan` walks the events in order exactly as `record_order`, `record_fill`, `record_deposit`,
`record_risk_note` and `record_risk_event` would, one after another, against what the
database held when the checkpoint began (the orders and trades it touches, the run's ledger
counter) and what earlier events of the same checkpoint did. It raises what they would raise.
What comes out is one list of rows per table and the audit entries in chain order; ids that
the database gives (an order's) are filled in by the writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order, OrderRequest

# Imported as a module, not by name: `audit` imports the models, which import this package.
from coinswarm.infra import audit
from coinswarm.infra.storage._decisions_store import SYSTEM, event_kind, note_payload
from coinswarm.infra.storage._map_decisions import event_values, note_values
from coinswarm.infra.storage._map_orders import (
    deposit_values,
    fill_values,
    order_values,
    request_to_json,
)
from coinswarm.infra.storage._orders_store import (
    ENGINE,
    check_fill_belongs,
    check_progress,
    conflict,
    fill_payload,
    order_payload,
)
from coinswarm.infra.storage.batch import (
    Claimed,
    Deposited,
    Entry,
    Filled,
    Happened,
    Noted,
    Ordered,
)
from coinswarm.infra.storage.errors import FillConflictError

__all__ = ["OrderState", "Plan", "StoredTrade"]

Row = dict[str, Any]


@dataclass(slots=True)
class OrderState:
    """One order as the checkpoint sees it: what the store holds, then each change on top.

    `pk` is the row's id: known for an order stored before, given by the writer for a new one.
    `values` are the row's columns after the checkpoint's last change (None: untouched).
    """

    order_id: str
    status: str
    filled_quantity: Decimal
    last_seq: int
    pk: int | None = None
    values: Row | None = None


@dataclass(frozen=True, slots=True)
class StoredTrade:
    """A trade id already held for the run's venue, with the run and fill it belongs to."""

    run_id: str
    fill: Fill


@dataclass(slots=True)
class Plan:
    """The rows and audit entries of one checkpoint, worked out event by event."""

    run_id: str
    venue: str
    ledger_events: int
    orders: dict[str, OrderState]
    trades: dict[str, StoredTrade]
    intents: list[Row] = field(default_factory=list)
    new_orders: list[str] = field(default_factory=list)
    updated_orders: dict[str, None] = field(default_factory=dict)
    changes: list[tuple[OrderState, Row]] = field(default_factory=list)
    fills: list[tuple[OrderState, Row]] = field(default_factory=list)
    filled: list[Fill] = field(default_factory=list)
    deposits: list[Row] = field(default_factory=list)
    risk: list[Row] = field(default_factory=list)
    entries: list[audit.Pending] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        """Take one event, as its per-row method would."""
        if isinstance(entry, Ordered):
            self._upsert(entry.order)
        elif isinstance(entry, Filled):
            self._fill(entry.fill, entry.order)
        elif isinstance(entry, Claimed):
            self._claim(entry.request, entry.ts)
        elif isinstance(entry, Noted):
            self._note(entry)
        elif isinstance(entry, Happened):
            self._event(entry)
        else:
            self._deposit(entry)

    # -- orders -----------------------------------------------------------------------------

    def _upsert(self, order: Order) -> OrderState:
        cid = order.client_order_id
        state = self.orders.get(cid)
        if state is None:
            values = order_values(order)
            state = OrderState(order.order_id, values["status"], order.filled_quantity, 0)
            state.values = values
            self.orders[cid] = state
            self.new_orders.append(cid)
            self._change(state, order, None)
            return state
        self._update(state, order)
        return state

    def _update(self, state: OrderState, order: Order) -> None:
        check_progress(state.order_id, state.status, state.filled_quantity, order)
        unchanged = (state.status, state.filled_quantity) == (order.status, order.filled_quantity)
        previous = state.status
        values = order_values(order)
        state.values = values
        state.order_id, state.status = order.order_id, values["status"]
        state.filled_quantity = order.filled_quantity
        if state.pk is not None:
            self.updated_orders[order.client_order_id] = None
        if not unchanged:
            self._change(state, order, previous)

    def _change(self, state: OrderState, order: Order, previous: str | None) -> None:
        values = state.values
        assert values is not None  # set by the caller
        state.last_seq += 1
        change = {
            "seq": state.last_seq,
            "ts": values["updated_ts"],
            "from_status": previous,
            "to_status": values["status"],
            "filled_quantity": values["filled_quantity"],
        }
        self.changes.append((state, change))
        self._audit(order.updated_ts, audit.AuditKind.ORDER, ENGINE, order_payload(order, previous))

    # -- fills, deposits --------------------------------------------------------------------

    def _fill(self, fill: Fill, order: Order) -> None:
        check_fill_belongs(fill, order)
        stored = self.trades.get(fill.trade_id)
        if stored is not None:
            if stored.run_id != self.run_id or stored.fill != fill:
                message = conflict(fill, self.venue, stored.fill, stored.run_id, self.run_id)
                raise FillConflictError(message)
            return  # a repeat changes nothing
        state = self.orders.get(order.client_order_id)
        adopted = state is None
        if state is None:  # an order adopted from the exchange: stored with its fill
            state = self._upsert(order)
        values = fill_values(
            fill, run_id=self.run_id, venue=self.venue, ledger_seq=self._next_seq(), order_pk=0
        )
        self.fills.append((state, values))
        self.filled.append(fill)
        self.trades[fill.trade_id] = StoredTrade(self.run_id, fill)
        if not adopted:
            self._update(state, order)
        self._audit(fill.ts, audit.AuditKind.FILL, ENGINE, fill_payload(fill, self.venue))

    def _deposit(self, entry: Deposited) -> None:
        deposit = entry.deposit
        self.deposits.append(
            deposit_values(deposit, run_id=self.run_id, ledger_seq=self._next_seq())
        )
        payload = {
            "currency": deposit.currency,
            "amount": deposit.amount,
            "reference": deposit.reference,
        }
        self._audit(deposit.ts, audit.AuditKind.DEPOSIT, ENGINE, payload)

    def _next_seq(self) -> int:
        self.ledger_events += 1
        return self.ledger_events

    # -- intents, risk ----------------------------------------------------------------------

    def _claim(self, request: OrderRequest, ts: int) -> None:
        self.intents.append(
            {
                "run_id": self.run_id,
                "client_order_id": request.client_order_id,
                "request": request_to_json(request),
                "created_ts": ts,
            }
        )

    def _note(self, entry: Noted) -> None:
        cid = entry.client_order_id
        note, ts = entry.note, entry.ts
        values = note_values(self.run_id, note, ts=ts, client_order_id=cid, actor=SYSTEM)
        self.risk.append(values)
        payload = note_payload(entry.note, cid)
        self._audit(entry.ts, audit.AuditKind.RISK_DECISION, SYSTEM, payload)

    def _event(self, entry: Happened) -> None:
        event = entry.event
        values = event_values(self.run_id, event)
        self.risk.append(values)
        payload = {"source": values["source"], "kind": values["kind"], "reason": values["reason"]}
        self._audit(event.ts, event_kind(values["kind"]), event.by or SYSTEM, payload)

    def _audit(self, ts: int, kind: str, actor: str, payload: dict[str, Any]) -> None:
        self.entries.append(audit.Pending(ts, kind, actor, payload, self.run_id))
