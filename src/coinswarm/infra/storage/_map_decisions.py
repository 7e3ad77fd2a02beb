"""Map runs, verdicts with their votes, risk decisions and patterns to rows and back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from coinswarm.agents.base import Direction, Vote
from coinswarm.agents.committee import Verdict
from coinswarm.execution.session_guard import GuardEvent
from coinswarm.infra.storage.models import RiskEventRow, RunRow, VerdictRow, VoteRow
from coinswarm.infra.storage.records import RiskRecord, RunRecord
from coinswarm.infra.storage.types import canonical_json, from_json
from coinswarm.risk.circuit_breaker import BreakerEvent

if TYPE_CHECKING:
    from coinswarm.risk.events import RiskEvent, RiskNote

__all__ = [
    "OVERSIGHT",
    "event_row",
    "event_values",
    "note_row",
    "note_values",
    "risk_from_row",
    "run_from_row",
    "run_row",
    "verdict_from_rows",
    "verdict_values",
    "vote_values",
]

OVERSIGHT = "oversight"


def run_row(run: RunRecord) -> RunRow:
    """Return the row of a new run."""
    return RunRow(
        id=run.run_id,
        mode=run.mode,
        venue=run.venue,
        strategy=run.strategy,
        parameters=canonical_json(run.parameters),
        inputs=canonical_json(run.inputs),
        status=run.status,
        ledger_events=0,
        created_ts=run.created_ts,
        updated_ts=run.updated_ts,
    )


def run_from_row(row: RunRow) -> RunRecord:
    """Return the run a row holds."""
    return RunRecord(
        run_id=row.id,
        mode=row.mode,
        venue=row.venue,
        strategy=row.strategy,
        parameters=from_json(row.parameters),
        inputs=from_json(row.inputs),
        status=row.status,
        created_ts=row.created_ts,
        updated_ts=row.updated_ts,
    )


def verdict_values(run_id: str, verdict: Verdict) -> dict[str, Any]:
    """Return the column values of a verdict's row, without its votes.

    Verdicts come by the tens of thousands per run, so they are inserted as plain values in
    one statement rather than as ORM objects.
    """
    return {
        "run_id": run_id,
        "instrument": verdict.instrument,
        "ts": verdict.ts,
        "direction": int(verdict.direction),
        "score": verdict.score,
        "size": verdict.size,
        "vetoed_by": canonical_json(list(verdict.vetoed_by)),
        "reason": verdict.reason,
    }


def vote_values(verdict_id: int, verdict: Verdict) -> list[dict[str, Any]]:
    """Return the column values of one row per vote, with the weight the committee gave it."""
    return [
        {
            "verdict_id": verdict_id,
            "position": position,
            "agent": vote.agent,
            "instrument": vote.instrument,
            "direction": int(vote.direction),
            "confidence": vote.confidence,
            "size_hint": vote.size_hint,
            "weight": weight,
            "reason": vote.reason,
            "veto": vote.veto,
        }
        for position, (vote, weight) in enumerate(zip(verdict.votes, verdict.weights, strict=True))
    ]


def verdict_from_rows(row: VerdictRow, votes: Sequence[VoteRow]) -> Verdict:
    """Return the verdict held by a row and its vote rows (in position order)."""
    return Verdict(
        instrument=row.instrument,
        ts=row.ts,
        direction=Direction(row.direction),
        score=row.score,
        size=row.size,
        votes=tuple(
            Vote(
                agent=v.agent,
                instrument=v.instrument,
                direction=Direction(v.direction),
                confidence=v.confidence,
                size_hint=v.size_hint,
                reason=v.reason,
                veto=v.veto,
            )
            for v in votes
        ),
        weights=tuple(v.weight for v in votes),
        vetoed_by=tuple(from_json(row.vetoed_by)),
        reason=row.reason,
    )


def note_values(
    run_id: str, note: RiskNote, *, ts: int, client_order_id: str | None, actor: str | None
) -> dict[str, Any]:
    """Return the column values of what oversight did with one order request."""
    return {
        "run_id": run_id,
        "ts": ts,
        "source": OVERSIGHT,
        "kind": note.action,
        "reason": note.reason,
        "actor": actor,
        "client_order_id": client_order_id,
        "requested": note.requested,
        "sent": note.sent,
    }


def note_row(
    run_id: str, note: RiskNote, *, ts: int, client_order_id: str | None, actor: str | None
) -> RiskEventRow:
    """Return the row of what oversight did with one order request."""
    return RiskEventRow(
        **note_values(run_id, note, ts=ts, client_order_id=client_order_id, actor=actor)
    )


def event_values(run_id: str, event: RiskEvent | GuardEvent) -> dict[str, Any]:
    """Return the column values of a circuit-breaker, kill-switch or session-guard event.

    Every column is named (None where an event has nothing), so that many events go in as
    one statement.
    """
    reason = event.reason
    if isinstance(event, GuardEvent):
        source, reason = "guard", f"{event.source}: {event.reason}"
    else:
        source = "breaker" if isinstance(event, BreakerEvent) else "kill_switch"
    return {
        "run_id": run_id,
        "ts": event.ts,
        "source": source,
        "kind": event.kind.value,
        "reason": reason,
        "actor": event.by,
        "client_order_id": None,
        "requested": None,
        "sent": None,
    }


def event_row(run_id: str, event: RiskEvent | GuardEvent) -> RiskEventRow:
    """Return the row of a circuit-breaker, kill-switch or session-guard event."""
    return RiskEventRow(**event_values(run_id, event))


def risk_from_row(row: RiskEventRow) -> RiskRecord:
    """Return the risk record a row holds."""
    return RiskRecord(
        ts=row.ts,
        source=row.source,
        kind=row.kind,
        reason=row.reason,
        actor=row.actor,
        client_order_id=row.client_order_id,
        requested=row.requested,
        sent=row.sent,
    )
