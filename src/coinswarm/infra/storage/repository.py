"""The store the engine uses: runs, orders, fills, the ledger, decisions, all audited; and
the discovery loop's runs, patterns and trials (`_evolution_store`); the alerts and their
outbox (`_alert_store`).

Rows never leave this package: every method takes and returns domain objects (or the plain
records of `records`), mapped field by field in the `_map_*` modules.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import URL, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

# Imported as modules, not by name: `audit` imports the models, which import this package.
from coinswarm.infra import audit, audit_anchor
from coinswarm.infra.storage._alert_store import AlertStore
from coinswarm.infra.storage._batch_store import BatchStore
from coinswarm.infra.storage._catalog_store import CatalogStore
from coinswarm.infra.storage._evolution_store import EvolutionStore
from coinswarm.infra.storage._map_decisions import run_from_row, run_row
from coinswarm.infra.storage.database import connect, resolve_url, sqlite_path
from coinswarm.infra.storage.errors import RunExistsError, StorageError
from coinswarm.infra.storage.migrate import ensure_current
from coinswarm.infra.storage.migrate import upgrade as migrate_upgrade
from coinswarm.infra.storage.models import AuditRow, RunRow
from coinswarm.infra.storage.records import RunRecord
from coinswarm.infra.storage.types import from_json

__all__ = ["Store"]


class Store(BatchStore, CatalogStore, EvolutionStore, AlertStore):
    """Read and write one Coinswarm database.

    Each method runs in its own transaction unless called inside `transaction()`, where it
    joins the caller's. Not thread-safe: one store per thread.
    """

    @classmethod
    def open(cls, url: str | URL | None = None, *, upgrade: bool = False) -> Store:
        """Open the database at `url` (see `database.resolve_url`), checked and current.

        With `upgrade`, an empty or older database is migrated first; without it, one that is
        not at the newest migration is refused with the command to run.
        """
        path = sqlite_path(resolve_url(url))
        if upgrade and path is not None and not path.exists():
            migrate_upgrade(url)  # builds the new file aside, so no half-made file is left
        engine = connect(url)
        try:
            ensure_current(engine, upgrade=upgrade)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run the block in one transaction (see `Transactional`); then, if it appended to the
        audit chain, move the anchor file forward to the head it committed."""
        if self._session is not None:
            yield self._session
            return
        with super().transaction() as session:
            yield session
            appended = audit.appended(session)
        if appended is not None:
            audit_anchor.after_commit(self.engine, appended[1])

    def anchor_run(self, run_id: str) -> None:
        """Record the audit chain's head in the run's record (see `infra.audit_anchor`)."""
        with self.transaction() as session:
            audit_anchor.anchor_run(session, run_id)

    def close(self) -> None:
        """Close every connection of the store."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        """Store a new run; raise RunExistsError if its id is taken."""
        try:
            with self.transaction() as session:
                session.add(run_row(run))
                session.flush()
                payload = {
                    "mode": run.mode,
                    "venue": run.venue,
                    "strategy": run.strategy,
                    "parameters": dict(run.parameters),
                }
                audit.append(
                    session,
                    ts=run.created_ts,
                    kind=audit.AuditKind.RUN,
                    actor="engine",
                    payload=payload,
                    run_id=run.run_id,
                )
        except IntegrityError as exc:
            msg = f"expected a new run id, found run {run.run_id!r} already stored"
            raise RunExistsError(msg) from exc

    def get_run(self, run_id: str) -> RunRecord | None:
        """Return the run stored under `run_id`, or None."""
        with self.transaction() as session:
            row = session.get(RunRow, run_id)
            return None if row is None else run_from_row(row)

    def runs(self) -> list[RunRecord]:
        """Return every stored run, oldest first."""
        query = select(RunRow).order_by(RunRow.created_ts, RunRow.id)
        with self.transaction() as session:
            return [run_from_row(row) for row in session.scalars(query)]

    def set_run_status(
        self, run_id: str, status: str, ts: int, *, reason: str | None = None
    ) -> None:
        """Record a run's new status (for example running, finished, failed).

        A `reason` (why a run failed) goes into the audit log with the status, where
        `status_reason` finds it.
        """
        statement = update(RunRow).where(RunRow.id == run_id).values(status=status, updated_ts=ts)
        with self.transaction() as session:
            if session.execute(statement.returning(RunRow.id)).first() is None:
                msg = f"expected a stored run {run_id!r}, found none"
                raise StorageError(msg)
            if reason is not None:
                audit.append(
                    session,
                    ts=ts,
                    kind=audit.AuditKind.RUN,
                    actor="engine",
                    payload={"status": status, "reason": reason},
                    run_id=run_id,
                )
            audit_anchor.anchor_run(session, run_id)  # after the reason: the head includes it

    def status_reason(self, run_id: str) -> str | None:
        """Return the reason given with the run's latest status change, or None."""
        query = (
            select(AuditRow.payload)
            .where(AuditRow.run_id == run_id, AuditRow.kind == str(audit.AuditKind.RUN))
            .order_by(AuditRow.seq)
        )
        with self.transaction() as session:
            found = [from_json(payload) for payload in session.scalars(query)]
        reasons = [p["reason"] for p in found if "status" in p and "reason" in p]
        return reasons[-1] if reasons else None

    def delete_run(
        self, run_id: str, *, ts: int, actor: str, details: Mapping[str, Any] | None = None
    ) -> bool:
        """Delete a run and everything recorded under it, but not its audit entries.

        The audit chain is tamper-evident: taking a run's entries out of it would break it
        where they stood. They stay, and the deletion itself is appended (with `details`:
        what was deleted, and why), so the chain still verifies and says what happened.
        """
        with self.transaction() as session:
            deleted = session.execute(
                delete(RunRow).where(RunRow.id == run_id).returning(RunRow.id)
            ).first()
            if deleted is None:
                return False
            audit.append(
                session,
                ts=ts,
                kind=audit.AuditKind.RUN,
                actor=actor,
                payload={**(details or {}), "deleted": True},
                run_id=run_id,
            )
        self._venues.pop(run_id, None)
        return True
