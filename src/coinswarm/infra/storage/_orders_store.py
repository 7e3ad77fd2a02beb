"""The part of the store that keeps intents, orders with their history, fills and deposits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from coinswarm.domain.errors import IllegalTransitionError, InvalidOrderError
from coinswarm.domain.fill import Fill
from coinswarm.domain.ledger import Deposit, LedgerEvent
from coinswarm.domain.order import Order, OrderRequest, OrderStatus

# Imported as a module, not by name: `audit` imports the models, which import this package.
from coinswarm.infra import audit
from coinswarm.infra.crash import crash_point
from coinswarm.infra.storage._base import Transactional
from coinswarm.infra.storage._map_orders import (
    apply_order,
    deposit_from_row,
    deposit_values,
    fill_from_row,
    fill_values,
    order_from_row,
    request_from_json,
    request_to_json,
    state_change_from_row,
)
from coinswarm.infra.storage._sql import insert_unless_present, next_ledger_seq
from coinswarm.infra.storage.errors import FillConflictError, StorageError
from coinswarm.infra.storage.models import (
    DepositRow,
    FillRow,
    IntentRow,
    OrderRow,
    OrderStateChangeRow,
    RunRow,
)
from coinswarm.infra.storage.records import StateChange

__all__ = [
    "ENGINE",
    "OrdersStore",
    "check_fill_belongs",
    "check_progress",
    "conflict",
    "fill_payload",
    "order_payload",
]

ENGINE = "engine"


def check_progress(order_id: str, status: str, filled_quantity: Decimal, order: Order) -> None:
    """Refuse an update that would make a stored order go back in time or change identity.

    `order_id`, `status` and `filled_quantity` are what the store holds of the order.
    """
    name = order.client_order_id
    if order_id != order.order_id:
        msg = (
            f"client order id {name} already belongs to exchange order {order_id}, "
            f"found {order.order_id}: one intent must be one exchange order"
        )
        raise StorageError(msg)
    if status != order.status and OrderStatus(status).is_terminal:
        msg = f"order {name} is stored as {status}, a final state; found {order.status}"
        raise IllegalTransitionError(msg)
    if order.filled_quantity < filled_quantity:
        msg = (
            f"order {name}: stored filled quantity {filled_quantity}, found "
            f"{order.filled_quantity}; a filled quantity never shrinks"
        )
        raise IllegalTransitionError(msg)


def check_fill_belongs(fill: Fill, order: Order) -> None:
    """Refuse a fill given with another order than its own."""
    if (fill.order_id, fill.client_order_id) != (order.order_id, order.client_order_id):
        msg = (
            f"fill {fill.trade_id} belongs to order {fill.order_id} "
            f"({fill.client_order_id}), found order {order.order_id} "
            f"({order.client_order_id})"
        )
        raise InvalidOrderError(msg)


def conflict(fill: Fill, venue: str, stored: Fill, stored_run: str, run_id: str) -> str:
    """Describe a trade id stored with other contents (or in another run) than `fill`'s."""
    return (
        f"trade {fill.trade_id} on {venue}: stored as {stored} in run "
        f"{stored_run}, found {fill} in run {run_id}"
    )


def order_payload(order: Order, previous: str | None) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "order_id": order.order_id,
        "instrument": order.instrument,
        "side": order.side.value,
        "type": order.request.type.value,
        "from": previous,
        "to": order.status.value,
        "filled_quantity": order.filled_quantity,
        "reject_reason": order.reject_reason,
    }


def fill_payload(fill: Fill, venue: str) -> dict[str, Any]:
    return {
        "venue": venue,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "instrument": fill.instrument,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
    }


class OrdersStore(Transactional):
    """Intents, orders (every state change kept), fills and deposits of each run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._venues: dict[str, str] = {}

    # -- intents ----------------------------------------------------------------------------

    def claim_intent(self, run_id: str, request: OrderRequest, ts: int) -> bool:
        """Claim `request`'s client order id for this run; return False if already claimed.

        Claim before sending: two identical intents derive the same id, and only the caller
        that got True may send it. A claimed intent without an order is found on restart by
        `open_intents`.
        """
        values = {
            "run_id": run_id,
            "client_order_id": request.client_order_id,
            "request": request_to_json(request),
            "created_ts": ts,
        }
        with self.transaction() as session:
            return insert_unless_present(session, IntentRow, values)

    def open_intents(self, run_id: str) -> list[OrderRequest]:
        """Return the claimed intents of a run that have no stored order yet, oldest first."""
        ordered = select(OrderRow.client_order_id).where(OrderRow.run_id == run_id)
        query = (
            select(IntentRow)
            .where(IntentRow.run_id == run_id, IntentRow.client_order_id.not_in(ordered))
            .order_by(IntentRow.created_ts, IntentRow.client_order_id)
        )
        with self.transaction() as session:
            return [request_from_json(row.request) for row in session.scalars(query)]

    # -- orders -----------------------------------------------------------------------------

    def record_order(self, run_id: str, order: Order, *, actor: str = ENGINE) -> bool:
        """Store `order`'s latest state; return True if its status or fill changed.

        Every change appends a row to the order's history and an entry to the audit log.
        """
        with self.transaction() as session:
            return self._upsert_order(session, run_id, order, actor)[1]

    def _order_row(self, session: Session, run_id: str, client_order_id: str) -> OrderRow | None:
        query = select(OrderRow).where(
            OrderRow.run_id == run_id, OrderRow.client_order_id == client_order_id
        )
        return session.scalars(query).one_or_none()

    def _upsert_order(
        self, session: Session, run_id: str, order: Order, actor: str
    ) -> tuple[OrderRow, bool]:
        row = self._order_row(session, run_id, order.client_order_id)
        if row is None:
            row = OrderRow(run_id=run_id)
            apply_order(row, order)
            session.add(row)
            session.flush()  # the history row needs the order's id
            self._audit_change(session, row, order, None, actor)
            return row, True
        return row, self._update_order(session, row, order, actor)

    def _update_order(self, session: Session, row: OrderRow, order: Order, actor: str) -> bool:
        check_progress(row.order_id, row.status, row.filled_quantity, order)
        unchanged = (row.status, row.filled_quantity) == (order.status, order.filled_quantity)
        previous = row.status
        apply_order(row, order)
        if not unchanged:
            self._audit_change(session, row, order, previous, actor)
        return not unchanged

    def _audit_change(
        self, session: Session, row: OrderRow, order: Order, previous: str | None, actor: str
    ) -> None:
        self._append_change(session, row, previous)
        audit.append(
            session,
            ts=order.updated_ts,
            kind=audit.AuditKind.ORDER,
            actor=actor,
            payload=order_payload(order, previous),
            run_id=row.run_id,
        )

    def _append_change(self, session: Session, row: OrderRow, previous: str | None) -> None:
        last = session.scalar(
            select(func.max(OrderStateChangeRow.seq)).where(OrderStateChangeRow.order_pk == row.id)
        )
        session.add(
            OrderStateChangeRow(
                order_pk=row.id,
                seq=(last or 0) + 1,
                ts=row.updated_ts,
                from_status=previous,
                to_status=row.status,
                filled_quantity=row.filled_quantity,
            )
        )

    def orders(self, run_id: str) -> list[Order]:
        """Return every order of a run in its stored state, in the order first stored."""
        query = select(OrderRow).where(OrderRow.run_id == run_id).order_by(OrderRow.id)
        with self.transaction() as session:
            return [order_from_row(row) for row in session.scalars(query)]

    def order_history(self, run_id: str, client_order_id: str) -> list[StateChange]:
        """Return every stored state change of one order, oldest first."""
        query = (
            select(OrderStateChangeRow)
            .join(OrderRow, OrderRow.id == OrderStateChangeRow.order_pk)
            .where(OrderRow.run_id == run_id, OrderRow.client_order_id == client_order_id)
            .order_by(OrderStateChangeRow.seq)
        )
        with self.transaction() as session:
            return [state_change_from_row(row) for row in session.scalars(query)]

    # -- fills and deposits -----------------------------------------------------------------

    def _venue(self, session: Session, run_id: str) -> str:
        venue = self._venues.get(run_id)
        if venue is None:
            venue = session.scalar(select(RunRow.venue).where(RunRow.id == run_id))
            if venue is None:
                msg = f"expected a stored run {run_id!r}, found none; create the run first"
                raise StorageError(msg)
            self._venues[run_id] = venue
        return venue

    def _seen(self, session: Session, run_id: str, venue: str, fill: Fill) -> bool:
        query = select(FillRow).where(FillRow.venue == venue, FillRow.trade_id == fill.trade_id)
        row = session.scalars(query).one_or_none()
        if row is None:
            return False
        if row.run_id != run_id or fill_from_row(row) != fill:
            raise FillConflictError(conflict(fill, venue, fill_from_row(row), row.run_id, run_id))
        return True

    def record_fill(self, run_id: str, fill: Fill, order: Order, *, actor: str = ENGINE) -> bool:
        """Store a fill and its order's new state in one transaction; False for a repeat.

        `order` is the order after the fill was applied. A trade id already stored for the
        run's venue with the same contents changes nothing (re-ingesting is idempotent); with
        other contents it raises FillConflictError.
        """
        check_fill_belongs(fill, order)
        with self.transaction() as session:
            venue = self._venue(session, run_id)
            if self._seen(session, run_id, venue, fill):
                return False
            row = self._order_row(session, run_id, order.client_order_id)
            adopted = row is None
            if row is None:  # an order adopted from the exchange: store it with its fill
                row, _ = self._upsert_order(session, run_id, order, actor)
            values = fill_values(
                fill,
                run_id=run_id,
                venue=venue,
                ledger_seq=next_ledger_seq(session, run_id),
                order_pk=row.id,
            )
            if not insert_unless_present(session, FillRow, values):
                # Another writer stored this trade since `_seen`: same contents or a conflict.
                # The ledger number taken above is left unused; numbers order, they do not count.
                self._seen(session, run_id, venue, fill)
                return False
            crash_point("storage_after_fill_row", fill.instrument)
            if not adopted:
                self._update_order(session, row, order, actor)
            audit.append(
                session,
                ts=fill.ts,
                kind=audit.AuditKind.FILL,
                actor=actor,
                payload=fill_payload(fill, venue),
                run_id=run_id,
            )
            return True

    def record_deposit(self, run_id: str, deposit: Deposit, *, actor: str = ENGINE) -> None:
        """Store cash moved into (or, negative, out of) a run's account."""
        with self.transaction() as session:
            values = deposit_values(
                deposit, run_id=run_id, ledger_seq=next_ledger_seq(session, run_id)
            )
            session.execute(insert(DepositRow).values(**values))
            payload = {
                "currency": deposit.currency,
                "amount": deposit.amount,
                "reference": deposit.reference,
            }
            audit.append(
                session,
                ts=deposit.ts,
                kind=audit.AuditKind.DEPOSIT,
                actor=actor,
                payload=payload,
                run_id=run_id,
            )

    def fills(self, run_id: str) -> list[Fill]:
        """Return a run's fills in the order they were stored."""
        query = select(FillRow).where(FillRow.run_id == run_id).order_by(FillRow.ledger_seq)
        with self.transaction() as session:
            return [fill_from_row(row) for row in session.scalars(query)]

    def ledger_events(self, run_id: str) -> list[LedgerEvent]:
        """Return a run's deposits and fills in the order the ledger took them."""
        with self.transaction() as session:
            fills = session.scalars(select(FillRow).where(FillRow.run_id == run_id))
            deposits = session.scalars(select(DepositRow).where(DepositRow.run_id == run_id))
            numbered: list[tuple[int, LedgerEvent]] = [
                (row.ledger_seq, fill_from_row(row)) for row in fills
            ]
            numbered.extend((row.ledger_seq, deposit_from_row(row)) for row in deposits)
        return [event for _, event in sorted(numbered, key=lambda pair: pair[0])]
