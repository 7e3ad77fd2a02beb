"""The part of the store that looks over its runs: how much each holds, and the space it takes."""

from __future__ import annotations

from sqlalchemy import Select, func, select

from coinswarm.infra.storage._base import Transactional
from coinswarm.infra.storage.database import sqlite_path
from coinswarm.infra.storage.models import (
    AuditRow,
    DepositRow,
    FillRow,
    IntentRow,
    LedgerSnapshotRow,
    OrderRow,
    OrderStateChangeRow,
    RiskEventRow,
    SnapshotBalanceRow,
    SnapshotPositionRow,
    SnapshotRoundTripRow,
    VerdictRow,
    VoteRow,
)
from coinswarm.infra.storage.run_lock import RunLocks

__all__ = ["CatalogStore"]

_WAL_SUFFIXES = ("", "-wal")


class CatalogStore(Transactional):
    """Counts of what each run holds, the database's size, reclaiming space, and run locks."""

    def locks(self) -> RunLocks:
        """Return the locks that tell a running run from a killed one (`run_lock`)."""
        return RunLocks.for_engine(self.engine)

    def run_counts(self) -> dict[str, tuple[int, int]]:
        """Return, for every run with any, how many orders and fills it holds."""
        counted: dict[str, tuple[int, int]] = {}
        with self.transaction() as session:
            for column, at in ((OrderRow.run_id, 0), (FillRow.run_id, 1)):
                query = select(column, func.count()).group_by(column)
                for run_id, count in session.execute(query):
                    pair = counted.get(run_id, (0, 0))
                    counted[run_id] = (count, pair[1]) if at == 0 else (pair[0], count)
        return counted

    def row_counts(self, run_id: str) -> dict[str, int]:
        """Return how many rows of each table belong to run `run_id` (audit entries too)."""
        count = select(func.count())
        order_ids = select(OrderRow.id).where(OrderRow.run_id == run_id)
        verdict_ids = select(VerdictRow.id).where(VerdictRow.run_id == run_id)
        snapshot_ids = select(LedgerSnapshotRow.id).where(LedgerSnapshotRow.run_id == run_id)
        snapshot_children = (SnapshotBalanceRow, SnapshotPositionRow, SnapshotRoundTripRow)
        queries: dict[str, list[Select[int]]] = {
            "intents": [count.select_from(IntentRow).where(IntentRow.run_id == run_id)],
            "orders": [count.select_from(OrderRow).where(OrderRow.run_id == run_id)],
            "order_state_changes": [
                count.select_from(OrderStateChangeRow).where(
                    OrderStateChangeRow.order_pk.in_(order_ids)
                )
            ],
            "fills": [count.select_from(FillRow).where(FillRow.run_id == run_id)],
            "deposits": [count.select_from(DepositRow).where(DepositRow.run_id == run_id)],
            "ledger_snapshots": [
                count.select_from(LedgerSnapshotRow).where(LedgerSnapshotRow.run_id == run_id)
            ],
            "snapshot_rows": [
                count.select_from(table).where(table.snapshot_id.in_(snapshot_ids))
                for table in snapshot_children
            ],
            "verdicts": [count.select_from(VerdictRow).where(VerdictRow.run_id == run_id)],
            "votes": [count.select_from(VoteRow).where(VoteRow.verdict_id.in_(verdict_ids))],
            "risk_events": [count.select_from(RiskEventRow).where(RiskEventRow.run_id == run_id)],
            "audit_entries": [count.select_from(AuditRow).where(AuditRow.run_id == run_id)],
        }
        with self.transaction() as session:
            return {
                name: sum(int(session.scalar(query) or 0) for query in parts)
                for name, parts in queries.items()
            }

    def database_bytes(self) -> int | None:
        """Return the size of a SQLite database's files (with its write-ahead log); None for a
        server, whose files are not ours to measure."""
        path = sqlite_path(self.engine.url)
        if path is None:
            return None
        sizes = (path.with_name(path.name + suffix) for suffix in _WAL_SUFFIXES)
        return sum(p.stat().st_size for p in sizes if p.exists())

    def reclaim_space(self) -> bool:
        """Give the space of deleted rows back to the file system; return True if it did.

        SQLite keeps freed pages in the file until `VACUUM` rewrites it; the write-ahead log
        then holds the rewrite until a checkpoint truncates it. PostgreSQL marks deleted rows
        for reuse (autovacuum) and keeps the files: nothing is done there, and False says so.
        """
        if sqlite_path(self.engine.url) is None:
            return False
        raw = self.engine.raw_connection()
        try:
            # The connection runs without an implicit transaction (see `database`): VACUUM
            # refuses to run inside one.
            cursor = raw.cursor()
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()
        return True
