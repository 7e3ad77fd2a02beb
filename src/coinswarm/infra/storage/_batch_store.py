"""The part of the store that writes a checkpoint's events in bulk: a few statements per table.

Per event, the row-by-row methods cost an ORM insert, a flush and a read of the audit chain's
tip; a six-year committee backtest spent most of its time there. `write_batch` reads what the
checkpoint builds on once (the orders and trade ids it touches, the run's ledger counter),
works out every row in memory (`_batch_plan`), then writes each table with one multi-row
statement. The rows, their ids and the audit hashes are those the per-row methods write:
SQLite and PostgreSQL number new rows in the order they are inserted, and the plan inserts
them in the order the per-row methods would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

# Imported as a module, not by name: `audit` imports the models, which import this package.
from coinswarm.infra import audit
from coinswarm.infra.crash import crash_point
from coinswarm.infra.storage._batch_plan import OrderState, Plan, StoredTrade
from coinswarm.infra.storage._decisions_store import DecisionsStore
from coinswarm.infra.storage._ledger_store import LedgerStore
from coinswarm.infra.storage._map_orders import fill_from_row
from coinswarm.infra.storage._sql import chunks, insert_rows, reserve_ids
from coinswarm.infra.storage.batch import Filled, Ordered
from coinswarm.infra.storage.errors import StorageError
from coinswarm.infra.storage.models import (
    DepositRow,
    FillRow,
    IntentRow,
    OrderRow,
    OrderStateChangeRow,
    RiskEventRow,
    RunRow,
)

if TYPE_CHECKING:
    from coinswarm.agents.committee import Verdict
    from coinswarm.infra.storage.batch import Entry

__all__ = ["BatchStore"]


class BatchStore(LedgerStore, DecisionsStore):
    """Write the events of one checkpoint in bulk, as the per-row methods would write them."""

    def write_batch(
        self, run_id: str, entries: Sequence[Entry], verdicts: Sequence[Verdict] = ()
    ) -> None:
        """Store `entries` (in their order) and `verdicts`, in one transaction.

        The same rows, ids and audit entries as calling `claim_intent`, `record_order`,
        `record_fill`, `record_deposit`, `record_risk_note` and `record_risk_event` for each
        entry in turn, then `record_verdicts`; and the same errors, which roll it all back.
        """
        with self.transaction() as session:
            if entries:
                plan = self._plan(session, run_id, entries)
                for entry in entries:
                    plan.add(entry)
                self._write(session, plan)
            if verdicts:
                self.record_verdicts(run_id, verdicts)

    def _plan(self, session: Session, run_id: str, entries: Sequence[Entry]) -> Plan:
        venue = self._venue(session, run_id)
        cids = {e.order.client_order_id: None for e in entries if isinstance(e, Ordered | Filled)}
        trade_ids = {e.fill.trade_id: None for e in entries if isinstance(e, Filled)}
        # Locks the run's row on PostgreSQL, as `next_ledger_seq` does: its counter is ours.
        counter = select(RunRow.ledger_events).where(RunRow.id == run_id).with_for_update()
        ledger_events = session.execute(counter).scalar_one_or_none()
        if ledger_events is None:
            msg = f"expected a stored run {run_id!r}, found none; create the run first"
            raise StorageError(msg)
        return Plan(
            run_id,
            venue,
            int(ledger_events),
            _stored_orders(session, run_id, cids),
            _stored_trades(session, venue, trade_ids),
        )

    def _write(self, session: Session, plan: Plan) -> None:
        connection = session.connection()
        dialect = connection.dialect.name
        if plan.intents:
            claim = postgresql_insert if dialect == "postgresql" else sqlite_insert
            connection.execute(claim(IntentRow).on_conflict_do_nothing(), plan.intents)
        _insert_orders(session, plan)
        _update_orders(session, plan)
        if plan.changes:
            rows = [{"order_pk": state.pk, **change} for state, change in plan.changes]
            insert_rows(connection, OrderStateChangeRow, rows)
        if plan.fills:
            rows = [{**values, "order_pk": state.pk} for state, values in plan.fills]
            insert_rows(connection, FillRow, rows)
            for fill in plan.filled:  # as the per-row path passes it: once a fill, in order
                crash_point("storage_after_fill_row", fill.instrument)
        if plan.deposits:
            insert_rows(connection, DepositRow, plan.deposits)
        if plan.risk:
            insert_rows(connection, RiskEventRow, plan.risk)
        if plan.fills or plan.deposits:
            counter = update(RunRow).where(RunRow.id == plan.run_id)
            connection.execute(counter.values(ledger_events=plan.ledger_events))
        audit.append_many(session, plan.entries)


def _stored_orders(session: Session, run_id: str, cids: Iterable[str]) -> dict[str, OrderState]:
    """Return the stored state of those of `cids` the run holds, with their last history step."""
    found: dict[str, OrderState] = {}
    for chunk in chunks(cids):
        query = select(
            OrderRow.id,
            OrderRow.client_order_id,
            OrderRow.order_id,
            OrderRow.status,
            OrderRow.filled_quantity,
        ).where(OrderRow.run_id == run_id, OrderRow.client_order_id.in_(chunk))
        for pk, cid, order_id, status, filled in session.execute(query):
            found[cid] = OrderState(order_id, status, filled, 0, pk=pk)
    by_pk = {state.pk: state for state in found.values()}
    for pks in chunks(by_pk):
        last = (
            select(OrderStateChangeRow.order_pk, func.max(OrderStateChangeRow.seq))
            .where(OrderStateChangeRow.order_pk.in_(pks))
            .group_by(OrderStateChangeRow.order_pk)
        )
        for pk, seq in session.execute(last):
            by_pk[pk].last_seq = int(seq or 0)
    return found


def _stored_trades(
    session: Session, venue: str, trade_ids: Iterable[str]
) -> dict[str, StoredTrade]:
    """Return the trades among `trade_ids` already stored for `venue`."""
    found: dict[str, StoredTrade] = {}
    for chunk in chunks(trade_ids):
        query = select(FillRow).where(FillRow.venue == venue, FillRow.trade_id.in_(chunk))
        for row in session.scalars(query):
            found[row.trade_id] = StoredTrade(row.run_id, fill_from_row(row))
    return found


def _insert_orders(session: Session, plan: Plan) -> None:
    """Insert the checkpoint's new orders in the order first seen, and learn their ids."""
    if not plan.new_orders:
        return
    states = [plan.orders[cid] for cid in plan.new_orders]
    connection = session.connection()
    ids = reserve_ids(connection, OrderRow, len(states))
    rows: list[dict[str, Any]] = []
    for state, pk in zip(states, ids, strict=True):
        state.pk = pk
        rows.append({"id": pk, "run_id": plan.run_id, **_values(state)})
    insert_rows(connection, OrderRow, rows)


def _update_orders(session: Session, plan: Plan) -> None:
    """Bring the orders stored before the checkpoint to their last state, one statement."""
    if not plan.updated_orders:
        return
    # The SET clause is every column the rows name; `pk` (not a column) picks the row.
    statement = update(OrderRow).where(OrderRow.id == bindparam("pk"))
    rows = []
    for cid in plan.updated_orders:
        state = plan.orders[cid]
        rows.append({"pk": state.pk, **_values(state)})
    session.connection().execute(statement, rows)


def _values(state: OrderState) -> dict[str, Any]:
    assert state.values is not None  # every order of the plan was touched by an event
    return state.values
