"""The audit log: append-only, and tamper-evident because each entry hashes the one before.

An entry's hash is SHA-256 over the canonical JSON of the previous entry's hash and the entry's
own fields (sequence number, time, kind, actor, run and payload), so editing a payload,
deleting an entry, inserting one or renumbering them breaks the chain where it happened.
`verify` walks the chain and names the first entry that does not hold.

What a chain cannot show on its own is the loss of its newest entries, or a chain rewritten
from some entry on with every later hash recomputed: `infra.audit_anchor` keeps the head
elsewhere (in each run's record and in an anchor file) and checks it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from coinswarm.infra.storage._sql import insert_rows
from coinswarm.infra.storage.models import AuditRow
from coinswarm.infra.storage.types import canonical_json, from_json

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditKind",
    "AuditReport",
    "BrokenEntry",
    "Pending",
    "append",
    "append_many",
    "appended",
    "entries",
    "entry_hash",
    "head",
    "verify",
]

GENESIS_HASH = "0" * 64
# Any fixed number: PostgreSQL advisory locks are keyed by integers, and appends need one.
_APPEND_LOCK = 0x636F696E  # "coin"
_PAGE = 1000


class AuditKind(StrEnum):
    RUN = "run"
    ORDER = "order"
    FILL = "fill"
    RISK_DECISION = "risk_decision"
    RISK_EVENT = "risk_event"
    MANUAL_STOP = "manual_stop"
    RESET = "reset"
    CONFIG_CHANGE = "config_change"
    DEPOSIT = "deposit"
    API_CONTROL = "api_control"
    """An operator's action through the API (pause, resume, stop, a job started), or its refusal."""
    API_REFUSED = "api_refused"
    """A request the API refused for want of a valid token or role."""
    ALERT = "alert"
    """An alert raised, with the channels it goes to (`infra.alerts`)."""
    ALERT_FAILED = "alert_failed"
    """One failed attempt to deliver an alert on one channel; it is retried."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One link of the chain; `payload` is the canonical JSON text that was hashed."""

    seq: int
    ts: int
    kind: str
    actor: str
    run_id: str | None
    payload: str
    prev_hash: str
    hash: str

    def data(self) -> Any:
        """Return the payload parsed from its JSON."""
        return from_json(self.payload)


@dataclass(frozen=True, slots=True)
class BrokenEntry:
    """Where the chain first fails, and why."""

    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What `verify` found: how many entries it checked and the first broken one, if any."""

    entries: int
    first_broken: BrokenEntry | None
    tip_hash: str

    @property
    def ok(self) -> bool:
        return self.first_broken is None

    def __str__(self) -> str:
        if self.first_broken is None:
            return f"audit log intact: {self.entries} entries, tip {self.tip_hash}"
        broken = self.first_broken
        return f"audit log broken at entry {broken.seq}: {broken.reason}"


def entry_hash(
    prev_hash: str, *, seq: int, ts: int, kind: str, actor: str, run_id: str | None, payload: str
) -> str:
    """Return the hash an entry with these fields must carry."""
    material = canonical_json([prev_hash, seq, ts, kind, actor, run_id, payload])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


_TIP = "coinswarm.audit.tip"
_BASE = "coinswarm.audit.base"


def _lock_tip(session: Session) -> None:
    # SQLite transactions already begin IMMEDIATE (one writer at a time); PostgreSQL needs a
    # lock so that two writers cannot both read the same tip and fork the chain.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})


def _stored_head(session: Session) -> tuple[int, str]:
    row = session.execute(
        select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (row[0], row[1])


def head(session: Session) -> tuple[int, str]:
    """Return the sequence number and hash of the chain's newest entry as `session` sees it.

    That is the entry this transaction appended last, else the newest stored one; (0, the
    genesis hash) for an empty chain.
    """
    tip = session.info.get(_TIP)
    return tip if tip is not None else _stored_head(session)


def appended(session: Session) -> tuple[tuple[int, str], tuple[int, str]] | None:
    """Return the head before and after this transaction's appends, or None if it made none."""
    tip = session.info.get(_TIP)
    return None if tip is None else (session.info[_BASE], tip)


def append(
    session: Session,
    *,
    ts: int,
    kind: str,
    actor: str,
    payload: Mapping[str, Any],
    run_id: str | None = None,
) -> AuditEntry:
    """Add an entry at the end of the chain, inside the caller's transaction."""
    tip = session.info.get(_TIP)
    if tip is None:
        # The first append of a transaction locks the chain and reads its tip; the lock holds
        # to the end of the transaction, so later appends can follow the tip they wrote.
        _lock_tip(session)
        tip = _stored_head(session)
        session.info[_BASE] = tip
    seq, prev_hash = tip[0] + 1, tip[1]
    body = canonical_json(payload)
    digest = entry_hash(
        prev_hash, seq=seq, ts=ts, kind=str(kind), actor=actor, run_id=run_id, payload=body
    )
    entry = AuditEntry(seq, ts, str(kind), actor, run_id, body, prev_hash, digest)
    session.add(
        AuditRow(
            seq=seq,
            ts=ts,
            kind=entry.kind,
            actor=actor,
            run_id=run_id,
            payload=body,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    session.flush()
    session.info[_TIP] = (seq, digest)
    return entry


@dataclass(frozen=True, slots=True)
class Pending:
    """An entry to append, before the chain gives it a number and a hash."""

    ts: int
    kind: str
    actor: str
    payload: Mapping[str, Any]
    run_id: str | None = None


def append_many(session: Session, pending: Sequence[Pending]) -> list[AuditEntry]:
    """Add entries at the end of the chain in one statement, inside the caller's transaction.

    The chain is the one `append` would build entry by entry: the same numbers, payloads and
    hashes, since each hash depends only on the entry before it, which is computed here.
    """
    if not pending:
        return []
    tip = session.info.get(_TIP)
    if tip is None:
        _lock_tip(session)
        tip = _stored_head(session)
        session.info[_BASE] = tip
    seq, prev_hash = tip
    made: list[AuditEntry] = []
    for item in pending:
        seq += 1
        body = canonical_json(item.payload)
        kind = str(item.kind)
        run_id, actor = item.run_id, item.actor
        digest = entry_hash(
            prev_hash, seq=seq, ts=item.ts, kind=kind, actor=actor, run_id=run_id, payload=body
        )
        made.append(AuditEntry(seq, item.ts, kind, actor, run_id, body, prev_hash, digest))
        prev_hash = digest
    rows = [
        {
            "seq": e.seq,
            "ts": e.ts,
            "kind": e.kind,
            "actor": e.actor,
            "run_id": e.run_id,
            "payload": e.payload,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in made
    ]
    insert_rows(session.connection(), AuditRow, rows)
    session.info[_TIP] = (seq, prev_hash)
    return made


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        row.seq, row.ts, row.kind, row.actor, row.run_id, row.payload, row.prev_hash, row.hash
    )


def _page(session: Session, after: int) -> list[AuditRow]:
    query = select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(_PAGE)
    return list(session.scalars(query))


def _pages(session: Session, since: int) -> Iterator[AuditEntry]:
    # Paged by sequence number so that a long chain is never held in memory at once.
    last = since
    while True:
        rows = _page(session, last)
        yield from (_entry(row) for row in rows)
        if len(rows) < _PAGE:
            return
        last = rows[-1].seq


def _walk(bind: Engine | Session, since: int = 0) -> Iterator[AuditEntry]:
    if isinstance(bind, Session):
        yield from _pages(bind, since)
        return
    with Session(bind) as session:
        yield from _pages(session, since)


def entries(bind: Engine | Session, *, since: int = 0) -> list[AuditEntry]:
    """Return every entry after sequence number `since`, oldest first."""
    return list(_walk(bind, since))


def _problem(entry: AuditEntry, expected_seq: int, prev_hash: str) -> BrokenEntry | None:
    if entry.seq != expected_seq:
        reason = (
            f"expected entry {expected_seq} next, found entry {entry.seq}: "
            f"entry {expected_seq} was deleted or renumbered"
        )
        return BrokenEntry(expected_seq, reason)
    if entry.prev_hash != prev_hash:
        reason = (
            f"its prev_hash {entry.prev_hash[:16]}... does not match the hash "
            f"{prev_hash[:16]}... of the entry before it: an entry was inserted, deleted "
            "or replaced"
        )
        return BrokenEntry(entry.seq, reason)
    expected = entry_hash(
        entry.prev_hash,
        seq=entry.seq,
        ts=entry.ts,
        kind=entry.kind,
        actor=entry.actor,
        run_id=entry.run_id,
        payload=entry.payload,
    )
    if expected != entry.hash:
        reason = "its hash does not match its contents: the entry was modified"
        return BrokenEntry(entry.seq, reason)
    return None


def verify(bind: Engine | Session) -> AuditReport:
    """Walk the whole chain from the first entry and report the first broken one, if any."""
    count = 0
    prev_hash = GENESIS_HASH
    for entry in _walk(bind):
        broken = _problem(entry, count + 1, prev_hash)
        if broken is not None:
            return AuditReport(count, broken, prev_hash)
        count += 1
        prev_hash = entry.hash
    return AuditReport(count, None, prev_hash)
