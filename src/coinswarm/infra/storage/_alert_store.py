"""The part of the store that keeps alerts and their outbox (one delivery row per channel).

An alert, its delivery rows and its audit entry commit together, before anything is sent: a
sender then claims due rows for a lease, sends, and settles each one (delivered, or failed
with the time of its next attempt, and audited). A sender that dies mid-send leaves its rows
leased; when the lease runs out any sender takes them again, so a delivery is never lost and
is sent again at worst (at least once). Two senders on one database skip each other's rows
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer at a time).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

# Imported as a module, not by name: `audit` imports the models, which import this package.
from coinswarm.infra import audit
from coinswarm.infra.storage._base import Transactional
from coinswarm.infra.storage.alert_records import (
    Alert,
    Attachment,
    DeliveryOutcome,
    DeliveryStatus,
    DueDelivery,
    Severity,
    StoredAlert,
    StoredDelivery,
)
from coinswarm.infra.storage.models import AlertDeliveryRow, AlertRow
from coinswarm.infra.storage.types import canonical_json, from_json

__all__ = ["AlertStore", "alert_summary"]

_ACTOR = "alerts"


def alert_summary(alert: Alert) -> dict[str, Any]:
    """Return what the audit log keeps of an alert: every field but the attachments' bytes."""
    return {
        "rule": alert.rule,
        "severity": alert.severity.value,
        "key": alert.key,
        "title": alert.title,
        "text": alert.text,
        "ts_ns": alert.ts_ns,
        "mode": alert.mode,
        "attachments": [a.filename for a in alert.attachments],
    }


class AlertStore(Transactional):
    """Write alerts to the outbox, hand due deliveries to a sender, settle them, read them."""

    def add_alerts(
        self, alerts: Sequence[tuple[Alert, Sequence[str]]], *, now_ns: int
    ) -> list[int]:
        """Store each alert with a pending delivery per channel, audited; return their ids.

        Everything commits in one transaction, before any channel is tried.
        """
        if not alerts:
            return []
        numbered = insert(AlertRow).returning(AlertRow.id, sort_by_parameter_order=True)
        with self.transaction() as session:
            connection = session.connection()
            values = [_alert_values(alert, now_ns) for alert, _ in alerts]
            ids = [row.id for row in connection.execute(numbered, values)]
            deliveries = [
                _delivery_values(alert_id, channel, now_ns)
                for alert_id, (_, channels) in zip(ids, alerts, strict=True)
                for channel in channels
            ]
            if deliveries:
                connection.execute(insert(AlertDeliveryRow), deliveries)
            audit.append_many(
                session,
                [
                    audit.Pending(
                        ts=now_ns,
                        kind=audit.AuditKind.ALERT,
                        actor=_ACTOR,
                        payload={
                            **alert_summary(alert),
                            "alert_id": alert_id,
                            "channels": list(channels),
                        },
                        run_id=alert.run_id,
                    )
                    for alert_id, (alert, channels) in zip(ids, alerts, strict=True)
                ],
            )
        return ids

    def claim_due(
        self, channels: Collection[str], *, now_ns: int, lease_ns: int, limit: int
    ) -> list[DueDelivery]:
        """Lease up to `limit` deliveries due on `channels` to the caller, oldest first."""
        if not channels or limit <= 0:
            return []
        query = (
            select(
                AlertDeliveryRow.alert_id,
                AlertDeliveryRow.channel,
                AlertDeliveryRow.attempts,
                *_ALERT_COLUMNS,
            )
            .join(AlertRow, AlertRow.id == AlertDeliveryRow.alert_id)
            .where(_due(channels, now_ns))
            .order_by(AlertDeliveryRow.next_attempt_ns, AlertDeliveryRow.alert_id)
            .limit(limit)
            .with_for_update(of=AlertDeliveryRow, skip_locked=True)
        )
        with self.transaction() as session:
            connection = session.connection()
            rows = connection.execute(query).all()
            by_channel: dict[str, list[int]] = {}
            for row in rows:
                by_channel.setdefault(row.channel, []).append(row.alert_id)
            for channel, ids in by_channel.items():
                connection.execute(
                    update(AlertDeliveryRow)
                    .where(AlertDeliveryRow.channel == channel, AlertDeliveryRow.alert_id.in_(ids))
                    .values(lease_until_ns=now_ns + lease_ns)
                )
            return [
                DueDelivery(
                    alert_id=row.alert_id,
                    channel=row.channel,
                    attempts=row.attempts,
                    alert=_alert(row),
                    created_ns=row.created_ns,
                )
                for row in rows
            ]

    def sender_round(
        self,
        outcomes: Sequence[DeliveryOutcome],
        free: Mapping[str, int],
        channels: Collection[str],
        *,
        now_ns: int,
        lease_ns: int,
    ) -> tuple[list[DueDelivery], int | None]:
        """Settle `outcomes`, claim up to `free[channel]` due rows on each channel, and say
        when the next pending row of `channels` is due: one transaction, a sender's round.

        The next due time is None when every free slot was filled (the caller's finishing
        attempts say when to come back).
        """
        with self.transaction():
            if outcomes:
                self.settle(outcomes, now_ns=now_ns)
            claimed = [
                due
                for name, limit in free.items()
                for due in self.claim_due([name], now_ns=now_ns, lease_ns=lease_ns, limit=limit)
            ]
            if len(claimed) == sum(free.values()):
                return claimed, None
            return claimed, self.next_due_ns(channels)

    def next_due_ns(self, channels: Collection[str]) -> int | None:
        """Return when the next pending delivery on `channels` may be tried, or None."""
        if not channels:
            return None
        lease = AlertDeliveryRow.lease_until_ns
        due = case(
            (lease > AlertDeliveryRow.next_attempt_ns, lease),
            else_=AlertDeliveryRow.next_attempt_ns,
        )
        query = select(func.min(due)).where(
            AlertDeliveryRow.status == DeliveryStatus.PENDING.value,
            AlertDeliveryRow.channel.in_(list(channels)),
        )
        with self.transaction() as session:
            found = session.execute(query).scalar()
            return None if found is None else int(found)

    def settle(self, outcomes: Iterable[DeliveryOutcome], *, now_ns: int) -> None:
        """Record what each attempt came to; audit every failure with its error.

        An outcome for a row already delivered, or already past that attempt, is ignored.
        """
        delivered: dict[tuple[str, int], list[int]] = {}
        failed: list[DeliveryOutcome] = []
        for outcome in outcomes:
            if outcome.delivered:
                key = (outcome.channel, outcome.attempts_before)
                delivered.setdefault(key, []).append(outcome.alert_id)
            else:
                failed.append(outcome)
        with self.transaction() as session:
            connection = session.connection()
            # Delivered rows in one statement per channel: the common case, kept cheap.
            for (channel, before), ids in delivered.items():
                connection.execute(
                    update(AlertDeliveryRow)
                    .where(
                        AlertDeliveryRow.channel == channel,
                        AlertDeliveryRow.alert_id.in_(ids),
                        AlertDeliveryRow.status == DeliveryStatus.PENDING.value,
                        AlertDeliveryRow.attempts == before,
                    )
                    .values(
                        status=DeliveryStatus.DELIVERED.value,
                        attempts=before + 1,
                        lease_until_ns=None,
                        delivered_ns=now_ns,
                        updated_ns=now_ns,
                    )
                )
            for outcome in failed:
                row = session.get(AlertDeliveryRow, (outcome.alert_id, outcome.channel))
                if row is None or row.status == DeliveryStatus.DELIVERED:
                    continue  # settled by another sender whose lease ran out first
                if row.attempts != outcome.attempts_before:
                    continue  # this attempt was settled already
                row.attempts += 1
                row.lease_until_ns = None
                row.updated_ns = now_ns
                row.last_error = outcome.error
                row.next_attempt_ns = outcome.retry_at_ns
                _audit_failure(session, row, outcome, now_ns)
            session.flush()

    def release(self, keys: Iterable[tuple[int, str]]) -> None:
        """Give up the lease of deliveries claimed but not attempted (a sender stopping)."""
        with self.transaction() as session:
            for key in keys:
                row = session.get(AlertDeliveryRow, key)
                if row is not None:
                    row.lease_until_ns = None
            session.flush()

    def resume_pending(self, *, now_ns: int) -> int:
        """Make every pending delivery nobody holds due now; return how many there are.

        A sender starting (a restarted server) tries at once what waited for its next attempt.
        """
        statement = (
            update(AlertDeliveryRow)
            .where(
                AlertDeliveryRow.status == DeliveryStatus.PENDING.value,
                _unleased(now_ns),
                AlertDeliveryRow.next_attempt_ns > now_ns,
            )
            .values(next_attempt_ns=now_ns)
            .execution_options(synchronize_session=False)
        )
        count = select(func.count()).where(AlertDeliveryRow.status == DeliveryStatus.PENDING.value)
        with self.transaction() as session:
            session.execute(statement)
            return int(session.execute(count).scalar_one())

    def pending_deliveries(self, channels: Collection[str] | None = None) -> int:
        """Return how many deliveries (on `channels`, or any) wait to be delivered."""
        query = select(func.count()).where(AlertDeliveryRow.status == DeliveryStatus.PENDING.value)
        if channels is not None:
            query = query.where(AlertDeliveryRow.channel.in_(list(channels)))
        with self.transaction() as session:
            return int(session.execute(query).scalar_one())

    def recent_alerts(self, limit: int) -> list[StoredAlert]:
        """Return the newest `limit` alerts, newest first, each with its deliveries."""
        query = select(AlertRow).order_by(AlertRow.id.desc()).limit(max(limit, 0))
        with self.transaction() as session:
            rows = list(session.scalars(query))
            by_alert = _deliveries_of(session, [row.id for row in rows])
            return [
                StoredAlert(
                    id=row.id,
                    alert=_alert(row),
                    created_ns=row.created_ns,
                    deliveries=tuple(by_alert.get(row.id, ())),
                )
                for row in rows
            ]

    def alert_keys_since(self, since_ns: int) -> list[tuple[str, int]]:
        """Return (key, created_ns) of every alert raised at or after `since_ns`, oldest first."""
        query = (
            select(AlertRow.key, AlertRow.created_ns)
            .where(AlertRow.created_ns >= since_ns)
            .order_by(AlertRow.created_ns)
        )
        with self.transaction() as session:
            return [(key, created) for key, created in session.execute(query)]


def _unleased(now_ns: int) -> ColumnElement[bool]:
    return or_(AlertDeliveryRow.lease_until_ns.is_(None), AlertDeliveryRow.lease_until_ns <= now_ns)


def _due(channels: Collection[str], now_ns: int) -> ColumnElement[bool]:
    return and_(
        AlertDeliveryRow.status == DeliveryStatus.PENDING.value,
        AlertDeliveryRow.channel.in_(list(channels)),
        AlertDeliveryRow.next_attempt_ns <= now_ns,
        _unleased(now_ns),
    )


_ALERT_COLUMNS = (
    AlertRow.rule,
    AlertRow.severity,
    AlertRow.key,
    AlertRow.title,
    AlertRow.text,
    AlertRow.run_id,
    AlertRow.mode,
    AlertRow.ts_ns,
    AlertRow.created_ns,
    AlertRow.attachments,
)


def _alert_values(alert: Alert, now_ns: int) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "severity": alert.severity.value,
        "key": alert.key,
        "title": alert.title,
        "text": alert.text,
        "run_id": alert.run_id,
        "mode": alert.mode,
        "ts_ns": alert.ts_ns,
        "created_ns": now_ns,
        "attachments": canonical_json([a.to_dict() for a in alert.attachments]),
    }


def _delivery_values(alert_id: int, channel: str, now_ns: int) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "channel": channel,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_ns": now_ns,
        "lease_until_ns": None,
        "last_error": None,
        "delivered_ns": None,
        "updated_ns": now_ns,
    }


def _alert(row: Any) -> Alert:
    """Return the alert of an `AlertRow`, or of a result row holding its columns."""
    return Alert(
        rule=row.rule,
        severity=Severity(row.severity),
        key=row.key,
        title=row.title,
        text=row.text,
        ts_ns=row.ts_ns,
        run_id=row.run_id,
        mode=row.mode,
        attachments=tuple(Attachment.from_dict(a) for a in from_json(row.attachments))
        if row.attachments != "[]"
        else (),
    )


def _deliveries_of(session: Session, alert_ids: Sequence[int]) -> dict[int, list[StoredDelivery]]:
    if not alert_ids:
        return {}
    query = (
        select(AlertDeliveryRow)
        .where(AlertDeliveryRow.alert_id.in_(alert_ids))
        .order_by(AlertDeliveryRow.alert_id, AlertDeliveryRow.channel)
    )
    found: dict[int, list[StoredDelivery]] = {}
    for row in session.scalars(query):
        found.setdefault(row.alert_id, []).append(
            StoredDelivery(
                channel=row.channel,
                status=DeliveryStatus(row.status),
                attempts=row.attempts,
                next_attempt_ns=row.next_attempt_ns,
                last_error=row.last_error,
                delivered_ns=row.delivered_ns,
                updated_ns=row.updated_ns,
            )
        )
    return found


def _audit_failure(
    session: Session, row: AlertDeliveryRow, outcome: DeliveryOutcome, now_ns: int
) -> None:
    payload = {
        "alert_id": row.alert_id,
        "channel": row.channel,
        "attempt": row.attempts,
        "error": outcome.error,
        "retry_at_ns": outcome.retry_at_ns,
    }
    alert = session.get(AlertRow, row.alert_id)
    if alert is not None:
        payload |= {"rule": alert.rule, "key": alert.key}
    audit.append(
        session,
        ts=now_ns,
        kind=audit.AuditKind.ALERT_FAILED,
        actor=_ACTOR,
        payload=payload,
        run_id=None if alert is None else alert.run_id,
    )
