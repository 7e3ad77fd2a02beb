"""The part of the store that keeps why things happened: verdicts, risk, configuration."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from coinswarm.agents.committee import Verdict

# Imported as a module, not by name: `audit` imports the models, which import this package.
from coinswarm.infra import audit
from coinswarm.infra.storage._base import Transactional
from coinswarm.infra.storage._map_decisions import (
    event_row,
    note_row,
    risk_from_row,
    verdict_from_rows,
    verdict_values,
    vote_values,
)
from coinswarm.infra.storage._sql import insert_rows, reserve_ids
from coinswarm.infra.storage.models import RiskEventRow, VerdictRow, VoteRow
from coinswarm.infra.storage.records import RiskRecord

if TYPE_CHECKING:
    from coinswarm.execution.session_guard import GuardEvent
    from coinswarm.risk.events import RiskEvent, RiskNote

__all__ = ["SYSTEM", "DecisionsStore", "event_kind", "note_payload"]

SYSTEM = "system"
# Stops and resets ordered by a person get their own audit kinds, so they are easy to find.
_MANUAL_STOPS = frozenset({"MANUAL_STOP", "EMERGENCY_STOP"})
_RESETS = frozenset({"RESET"})


def event_kind(kind: str) -> audit.AuditKind:
    if kind in _MANUAL_STOPS:
        return audit.AuditKind.MANUAL_STOP
    if kind in _RESETS:
        return audit.AuditKind.RESET
    return audit.AuditKind.RISK_EVENT


def note_payload(note: RiskNote, client_order_id: str | None) -> dict[str, Any]:
    """Return the audit payload of what oversight did with one request."""
    return {
        "action": note.action,
        "reason": note.reason,
        "client_order_id": client_order_id,
        "requested": note.requested,
        "sent": note.sent,
    }


class DecisionsStore(Transactional):
    """Committee verdicts with their votes, risk decisions and events, configuration changes
    and the discovery loop's patterns."""

    def record_verdicts(self, run_id: str, verdicts: Iterable[Verdict]) -> int:
        """Store verdicts with every vote and weight; return how many were stored."""
        batch = list(verdicts)
        if not batch:
            return 0
        with self.transaction() as session:
            # Core statements on the session's connection: the ORM's bulk path costs more.
            connection = session.connection()
            ids = reserve_ids(connection, VerdictRow, len(batch))
            rows = [{"id": i, **verdict_values(run_id, v)} for i, v in zip(ids, batch, strict=True)]
            insert_rows(connection, VerdictRow, rows)
            votes = [row for i, v in zip(ids, batch, strict=True) for row in vote_values(i, v)]
            insert_rows(connection, VoteRow, votes)
        return len(batch)

    def verdicts(self, run_id: str) -> list[Verdict]:
        """Return a run's verdicts with their votes, in the order they were stored."""
        verdict_query = select(VerdictRow).where(VerdictRow.run_id == run_id)
        vote_query = (
            select(VoteRow)
            .join(VerdictRow, VerdictRow.id == VoteRow.verdict_id)
            .where(VerdictRow.run_id == run_id)
            .order_by(VoteRow.verdict_id, VoteRow.position)
        )
        with self.transaction() as session:
            rows = list(session.scalars(verdict_query.order_by(VerdictRow.id)))
            votes = {
                verdict_id: list(group)
                for verdict_id, group in groupby(
                    session.scalars(vote_query), lambda v: v.verdict_id
                )
            }
        return [verdict_from_rows(row, votes.get(row.id, [])) for row in rows]

    def record_risk_note(
        self,
        run_id: str,
        note: RiskNote,
        *,
        ts: int,
        client_order_id: str | None = None,
        actor: str = SYSTEM,
    ) -> None:
        """Store what oversight did with one request (approve, shrink, reject, block)."""
        with self.transaction() as session:
            row = note_row(run_id, note, ts=ts, client_order_id=client_order_id, actor=actor)
            session.add(row)
            payload = note_payload(note, client_order_id)
            audit.append(
                session,
                ts=ts,
                kind=audit.AuditKind.RISK_DECISION,
                actor=actor,
                payload=payload,
                run_id=run_id,
            )

    def record_risk_event(self, run_id: str, event: RiskEvent | GuardEvent) -> None:
        """Store a risk event: a breaker's or kill switch's trip, stop, lift or reset, or what
        a session's guard saw (a reconciliation difference, a pause, a resume)."""
        with self.transaction() as session:
            row = event_row(run_id, event)
            session.add(row)
            payload = {"source": row.source, "kind": row.kind, "reason": row.reason}
            audit.append(
                session,
                ts=event.ts,
                kind=event_kind(row.kind),
                actor=event.by or SYSTEM,
                payload=payload,
                run_id=run_id,
            )

    def risk_events(self, run_id: str) -> list[RiskRecord]:
        """Return a run's risk decisions and events, in the order they were stored."""
        query = select(RiskEventRow).where(RiskEventRow.run_id == run_id).order_by(RiskEventRow.id)
        with self.transaction() as session:
            return [risk_from_row(row) for row in session.scalars(query)]

    def record_config_change(
        self,
        *,
        ts: int,
        actor: str,
        changes: Mapping[str, Any],
        run_id: str | None = None,
    ) -> audit.AuditEntry:
        """Write a configuration change (say, {"field": {"from": a, "to": b}}) to the audit log."""
        with self.transaction() as session:
            return audit.append(
                session,
                ts=ts,
                kind=audit.AuditKind.CONFIG_CHANGE,
                actor=actor,
                payload=dict(changes),
                run_id=run_id,
            )
