"""The part of the store that snapshots the ledger and rebuilds it from stored events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from coinswarm.domain.instrument import Instrument
from coinswarm.domain.ledger import Deposit, Ledger, LedgerEvent, LedgerState
from coinswarm.infra.storage._map_ledger import snapshot_children, state_from_rows
from coinswarm.infra.storage._orders_store import OrdersStore
from coinswarm.infra.storage._sql import insert_rows
from coinswarm.infra.storage.errors import LedgerMismatchError
from coinswarm.infra.storage.models import (
    LedgerSnapshotRow,
    SnapshotBalanceRow,
    SnapshotPositionRow,
    SnapshotRoundTripRow,
)
from coinswarm.infra.storage.records import StoredSnapshot

__all__ = ["LedgerStore", "state_difference"]

_FIELDS = ("event_count", "cash", "fees", "positions", "round_trips")


def state_difference(expected: LedgerState, found: LedgerState) -> str | None:
    """Return the first field where two ledger states differ, described; None if equal."""
    for name in _FIELDS:
        want, got = getattr(expected, name), getattr(found, name)
        if want != got:
            return f"{name}: expected {want}, found {got}"
    return None


def _apply(ledger: Ledger, events: Sequence[LedgerEvent]) -> None:
    for event in events:
        if isinstance(event, Deposit):
            ledger.deposit(event.currency, event.amount, event.ts, event.reference)
        else:
            ledger.record(event)


_Child = TypeVar("_Child", SnapshotBalanceRow, SnapshotPositionRow, SnapshotRoundTripRow)


def _children(session: Session, kind: type[_Child], snapshot_id: int) -> list[_Child]:
    return list(session.scalars(select(kind).where(kind.snapshot_id == snapshot_id)))


class LedgerStore(OrdersStore):
    """Ledger snapshots, and the check that stored fills still add up to them."""

    def save_snapshot(self, run_id: str, ts: int, state: LedgerState) -> int:
        """Store the ledger's derived state at `ts`; return the snapshot's id."""
        with self.transaction() as session:
            row = LedgerSnapshotRow(run_id=run_id, ts=ts, event_count=state.event_count)
            session.add(row)
            session.flush()  # the children need the snapshot's id
            for table, values in snapshot_children(row.id, state):
                insert_rows(session.connection(), table, values)
            return row.id

    def latest_snapshot(self, run_id: str) -> StoredSnapshot | None:
        """Return the run's most recent ledger snapshot, or None if it has none."""
        return self._one_snapshot(run_id, None)

    def snapshot_at(self, run_id: str, ts: int) -> StoredSnapshot | None:
        """Return the run's last snapshot taken at `ts`, or None if none was."""
        return self._one_snapshot(run_id, ts)

    def _one_snapshot(self, run_id: str, ts: int | None) -> StoredSnapshot | None:
        query = select(LedgerSnapshotRow).where(LedgerSnapshotRow.run_id == run_id)
        if ts is not None:
            query = query.where(LedgerSnapshotRow.ts == ts)
        query = query.order_by(LedgerSnapshotRow.id.desc()).limit(1)
        with self.transaction() as session:
            row = session.scalars(query).one_or_none()
            return None if row is None else self._snapshot(session, row)

    def _snapshot(self, session: Session, row: LedgerSnapshotRow) -> StoredSnapshot:
        state = state_from_rows(
            row.event_count,
            _children(session, SnapshotBalanceRow, row.id),
            _children(session, SnapshotPositionRow, row.id),
            _children(session, SnapshotRoundTripRow, row.id),
        )
        return StoredSnapshot(row.id, row.ts, state)

    def restore_ledger(
        self, run_id: str, instruments: Mapping[str, Instrument], account_currency: str
    ) -> Ledger:
        """Rebuild a run's ledger from its stored deposits and fills, checked on the way.

        The events up to the last snapshot must give exactly the snapshot's state; anything
        else means the stored history lost or changed something, and LedgerMismatchError says
        which field differs. Events after the snapshot are then applied on top.
        """
        events = self.ledger_events(run_id)
        snapshot = self.latest_snapshot(run_id)
        ledger = Ledger(instruments, account_currency)
        if snapshot is None:
            _apply(ledger, events)
            return ledger
        count = snapshot.state.event_count
        if len(events) < count:
            msg = (
                f"run {run_id}: the last ledger snapshot (ts {snapshot.ts}) counts {count} "
                f"events, found {len(events)} stored: events were lost"
            )
            raise LedgerMismatchError(msg)
        _apply(ledger, events[:count])
        difference = state_difference(snapshot.state, ledger.state())
        if difference is not None:
            msg = (
                f"run {run_id}: the ledger rebuilt from stored events differs from the last "
                f"snapshot (ts {snapshot.ts}) in {difference}"
            )
            raise LedgerMismatchError(msg)
        _apply(ledger, events[count:])
        return ledger
