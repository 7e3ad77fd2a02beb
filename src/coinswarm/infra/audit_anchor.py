"""Anchors of the audit chain's head, kept where a cut tail or a rewritten chain shows.

A hash chain shows an edit in its middle, but not the loss of its newest entries, nor a chain
rewritten from some entry on with every later hash recomputed: both leave a chain that holds
together. An anchor is the sequence number and hash of the chain's head at some moment, kept
apart from the chain; the chain must still hold that entry, with that hash. Two kinds:

- each run's record holds the head when the run last checkpointed or finished, written in the
  same transaction (so it is never ahead of the chain);
- the anchor file holds the newest head this machine committed: beside a SQLite database
  (`coinswarm.db.audit-anchor`), in the Coinswarm home for a server database
  (`audit-anchor-<digest of the URL>.json`), or wherever `COINSWARM_AUDIT_ANCHOR` says. It is
  rewritten after each commit that appended to the chain, atomically (a temporary file
  renamed), under a lock and only forward, so two processes appending at once never move it
  back; a process killed between its commit and the file leaves the file behind the chain,
  which is still true.

With `COINSWARM_AUDIT_KEY` set, every anchor carries an HMAC-SHA256 of its sequence number and
hash, so that a forger who rewrites the database cannot write run anchors that agree with the
rewrite. Set the key for every process from the first run on: while it is set, an unsigned
anchor is refused. The key is never printed.

A missing anchor file is a first use (or a database older than anchors) while no run record
holds an anchor; once one does, the file is created before that run anchor commits, so from
then on a missing file means it was deleted, or the database was copied without it: `verify`
says so, and no process recreates it (that would hide the deletion). Copy the file along with
the database, or point `COINSWARM_AUDIT_ANCHOR` at it; or, once the chain and every run's
anchor check out, write it afresh with `coinswarm audit anchor` (`reanchor`).

What anchors cannot catch: someone who can write both the database and the anchor file (and,
with a key, knows it) can rewrite everything consistently. Keep the file, or a copy of it,
where the database's writers cannot change it to close that gap.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, Engine, func, select, update
from sqlalchemy.orm import Session

from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra import audit
from coinswarm.infra.storage.database import default_sqlite_path, sqlite_path
from coinswarm.infra.storage.models import AuditRow, RunRow

__all__ = [
    "ANCHOR_FILE_VARIABLE",
    "KEY_VARIABLE",
    "Anchor",
    "AnchorCheck",
    "AnchorFile",
    "AuditMismatchError",
    "IntegrityReport",
    "after_commit",
    "anchor_run",
    "check_anchors",
    "key_from_environment",
    "reanchor",
    "require_intact",
    "sign",
    "verify",
]

ANCHOR_FILE_VARIABLE = "COINSWARM_AUDIT_ANCHOR"
KEY_VARIABLE = "COINSWARM_AUDIT_KEY"
_SUFFIX = ".audit-anchor"


class AuditMismatchError(CoinswarmError):
    """The audit chain is broken, or disagrees with one of its anchors."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain's head at one moment: entry `seq` had hash `hash` (`mac`: its signature)."""

    seq: int
    hash: str
    mac: str | None = None


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    """One anchor (`where`: the anchor file or a run), and how it disagrees with the chain."""

    where: str
    anchor: Anchor | None
    problem: str | None = None


def key_from_environment() -> bytes | None:
    """Return the signing key from `COINSWARM_AUDIT_KEY`, or None when it is unset or empty."""
    key = os.environ.get(KEY_VARIABLE, "")
    return key.encode("utf-8") if key else None


def sign(seq: int, digest: str, key: bytes) -> str:
    """Return the HMAC-SHA256 that vouches for an anchor at entry `seq` with hash `digest`."""
    message = f"coinswarm audit anchor\n{seq}\n{digest}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _anchor(seq: int, digest: str, key: bytes | None) -> Anchor:
    return Anchor(seq, digest, None if key is None else sign(seq, digest, key))


# -- the anchor file ----------------------------------------------------------------------------


class AnchorFile:
    """The file that keeps the newest head this machine committed, moved only forward."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_url(cls, url: URL) -> AnchorFile | None:
        """Return the anchor file of the database at `url`; None for an in-memory database."""
        chosen = os.environ.get(ANCHOR_FILE_VARIABLE)
        if chosen:
            return cls(Path(chosen))
        path = sqlite_path(url)
        if path is not None:
            return cls(path.with_name(path.name + _SUFFIX))
        if url.get_backend_name() == "sqlite":
            return None
        server = url.set(drivername=url.get_backend_name(), username=None, password=None)
        digest = hashlib.sha256(server.render_as_string().encode()).hexdigest()[:16]
        return cls(default_sqlite_path().with_name(f"audit-anchor-{digest}.json"))

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> Anchor | None:
        """Return the anchor the file holds, None if there is no file; ValueError if garbled."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            anchor = Anchor(int(data["seq"]), str(data["hash"]), data.get("mac"))
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"expected a JSON anchor (seq, hash, mac), found {text[:40]!r}"
            raise ValueError(msg) from exc
        return anchor

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock, not lockf: it also keeps apart two stores of one process (one per thread).
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def advance(self, anchor: Anchor, *, create: bool, replace: bool = False) -> None:
        """Write `anchor` unless the file already holds this entry or a newer one.

        A missing file is written only with `create`; a garbled one is left for `verify`;
        `replace` writes whatever the file holds (`reanchor`, a person's decision).

        The writing runs on a thread of its own: a backtest fences the thread that runs the
        strategy against opening files (`strategies.fence`, a per-thread audit hook), and the
        store writes its checkpoints from that thread. The database's own files are opened by
        SQLite's C code, which that hook never sees; this keeps the anchor file alike.
        """
        failure: list[BaseException] = []

        def write() -> None:
            try:
                self._advance(anchor, create=create, replace=replace)
            except BaseException as exc:  # re-raised on the caller's thread
                failure.append(exc)

        writer = threading.Thread(target=write, name="audit-anchor")
        writer.start()
        writer.join()
        if failure:
            raise failure[0]

    def _advance(self, anchor: Anchor, *, create: bool, replace: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if replace or self._behind(anchor, create=create):
                self._write(anchor)

    def _behind(self, anchor: Anchor, *, create: bool) -> bool:
        try:
            current = self.read()
        except ValueError:
            return False
        return create if current is None else current.seq < anchor.seq

    def _write(self, anchor: Anchor) -> None:
        body = {"seq": anchor.seq, "hash": anchor.hash, "mac": anchor.mac}
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        # Not fsynced: after a power cut the file may hold an older anchor, which is still
        # true; an fsync per commit would halve the rate of one-fill transactions.
        partial.write_text(json.dumps(body, sort_keys=True) + "\n", encoding="utf-8")
        partial.replace(self.path)


def _runs_anchored(session: Session) -> bool:
    query = select(func.count()).select_from(RunRow).where(RunRow.audit_seq.is_not(None))
    return bool(session.scalar(query))


def after_commit(engine: Engine, head: tuple[int, str]) -> None:
    """Move the anchor file forward to `head`, just committed by a transaction that appended.

    A missing file is created only while no run holds an anchor (see the module's note).
    """
    file = AnchorFile.for_url(engine.url)
    if file is None:
        return
    create = False
    if not file.exists():
        with Session(engine) as session:
            create = not _runs_anchored(session)
    file.advance(_anchor(*head, key_from_environment()), create=create)


def anchor_run(session: Session, run_id: str) -> None:
    """Record the chain's head in the run's record, inside the caller's transaction.

    The first run anchor of a database creates its anchor file first, at the head already
    committed, so that a run anchor never exists without the file.
    """
    key = key_from_environment()
    file = AnchorFile.for_url(session.get_bind().engine.url)
    if file is not None and not file.exists() and not _runs_anchored(session):
        before = audit.appended(session)
        committed = before[0] if before is not None else audit.head(session)
        file.advance(_anchor(*committed, key), create=True)
    seq, digest = audit.head(session)
    anchor = _anchor(seq, digest, key)
    session.execute(
        update(RunRow)
        .where(RunRow.id == run_id)
        .values(audit_seq=anchor.seq, audit_hash=anchor.hash, audit_mac=anchor.mac)
    )


# -- checking ------------------------------------------------------------------------------------


def _disagreement(
    anchor: Anchor, key: bytes | None, last: int, stored: dict[int, str]
) -> str | None:
    if key is not None and anchor.mac is None:  # checked first: the clearer message
        return f"it is unsigned, but {KEY_VARIABLE} is set: forged, or written without the key"
    if key is not None and not hmac.compare_digest(
        anchor.mac or "", sign(anchor.seq, anchor.hash, key)
    ):
        return f"its signature does not match {KEY_VARIABLE}: forged, or signed with another key"
    if anchor.seq > last:
        return (
            f"it anchors entry {anchor.seq}, but the chain ends at entry {last}: "
            f"its newest {anchor.seq - last} entries were cut"
        )
    found = audit.GENESIS_HASH if anchor.seq == 0 else stored.get(anchor.seq)
    if found is None:
        return f"it anchors entry {anchor.seq}, which is missing from the chain"
    if found != anchor.hash:
        return (
            f"it anchors entry {anchor.seq} with hash {anchor.hash[:16]}..., but the chain's "
            f"entry {anchor.seq} has hash {found[:16]}...: the chain was rewritten"
        )
    return None


def _file_check(file: AnchorFile, runs: int) -> AnchorCheck:
    where = f"anchor file {file.path}"
    try:
        anchor = file.read()
    except ValueError as exc:
        return AnchorCheck(where, None, f"it cannot be read: {exc}")
    if anchor is None and runs:
        problem = (
            f"it is missing, though {runs} run records hold anchors: deleted, or the database "
            f"was copied without it (copy it along, or set {ANCHOR_FILE_VARIABLE})"
        )
        return AnchorCheck(where, None, problem)
    return AnchorCheck(where, anchor)


def _run_anchors(session: Session) -> list[tuple[str, Anchor]]:
    query = (
        select(RunRow.id, RunRow.audit_seq, RunRow.audit_hash, RunRow.audit_mac)
        .where(RunRow.audit_seq.is_not(None))
        .order_by(RunRow.id)
    )
    # `or 0`, `or ""`: never taken (the query keeps anchored runs), but a hash column emptied by
    # hand must read as a disagreement, not a crash.
    return [
        (f"run {run_id}", Anchor(seq or 0, digest or "", mac))
        for run_id, seq, digest, mac in session.execute(query)
    ]


def check_anchors(engine: Engine) -> tuple[AnchorCheck, ...]:
    """Check the anchor file and every run's anchor against the chain as stored."""
    key = key_from_environment()
    file = AnchorFile.for_url(engine.url)
    with Session(engine) as session:
        runs = _run_anchors(session)
        on_file = None if file is None else _file_check(file, len(runs))
        held = runs if on_file is None or on_file.anchor is None else [_held(on_file), *runs]
        last = session.scalar(select(func.max(AuditRow.seq))) or 0
        wanted = sorted({anchor.seq for _, anchor in held})
        query = select(AuditRow.seq, AuditRow.hash).where(AuditRow.seq.in_(wanted))
        stored = dict(session.execute(query).all())
    checks = [AnchorCheck(where, a, _disagreement(a, key, last, stored)) for where, a in held]
    if on_file is not None and on_file.anchor is None:
        checks.insert(0, on_file)  # missing or unreadable: nothing to compare
    return tuple(checks)


def _held(check: AnchorCheck) -> tuple[str, Anchor]:
    assert check.anchor is not None
    return check.where, check.anchor


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    """The chain's own check and every anchor's."""

    chain: audit.AuditReport
    anchors: tuple[AnchorCheck, ...]
    signed: bool

    @property
    def disagreements(self) -> list[AnchorCheck]:
        return [check for check in self.anchors if check.problem is not None]

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.disagreements

    def problems(self) -> list[str]:
        """Return one line per fault: the chain's first broken entry, then each anchor's."""
        chain = [] if self.chain.ok else [str(self.chain)]
        return chain + [f"{c.where} disagrees: {c.problem}" for c in self.disagreements]

    def lines(self) -> list[str]:
        """Return the report as lines to print."""
        return [str(self.chain), *self._anchor_lines()]

    def _anchor_lines(self) -> Sequence[str]:
        if self.disagreements:
            return [f"{c.where} disagrees: {c.problem}" for c in self.disagreements]
        held = [c for c in self.anchors if c.anchor is not None]
        file = [c for c in self.anchors if c.where.startswith("anchor file")]
        if not held and not file:
            return ["anchors: none (an in-memory database)"]
        parts = [
            f"{c.where} (entry {c.anchor.seq})" if c.anchor else f"{c.where} (none yet)"
            for c in file
        ]
        runs = len(held) - sum(1 for c in file if c.anchor)
        parts.append(f"{runs} run records")
        signed = "signatures checked" if self.signed else f"unsigned (no {KEY_VARIABLE})"
        return [f"anchors agree: {', '.join(parts)}; {signed}"]


def verify(engine: Engine) -> IntegrityReport:
    """Walk the chain (each entry's hash and its link to the one before), then every anchor."""
    return IntegrityReport(
        audit.verify(engine), check_anchors(engine), key_from_environment() is not None
    )


def reanchor(engine: Engine) -> Anchor:
    """Write the anchor file afresh at the chain's head, once everything else checks out.

    For a file that was lost or damaged (a moved database, a disk fault): the chain must hold
    and every run's anchor agree with it, so a cut tail or a rewrite is not hidden this way.
    Return the anchor written.
    """
    file = AnchorFile.for_url(engine.url)
    if file is None:
        msg = f"{engine.url.render_as_string(hide_password=True)}: nothing to anchor in memory"
        raise AuditMismatchError(msg)
    report = verify(engine)
    others = [c for c in report.disagreements if c.where != f"anchor file {file.path}"]
    faults = ([] if report.chain.ok else [str(report.chain)]) + [
        f"{c.where} disagrees: {c.problem}" for c in others
    ]
    if faults:
        msg = f"the anchor file is not rewritten: {faults[0]}"
        raise AuditMismatchError(msg)
    with Session(engine) as session:
        anchor = _anchor(*audit.head(session), key_from_environment())
    file.advance(anchor, create=True, replace=True)
    return anchor


def require_intact(engine: Engine, what: str) -> None:
    """Raise AuditMismatchError, naming the first fault, unless the chain and anchors agree."""
    report = verify(engine)
    if not report.ok:
        problems = report.problems()
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        msg = f"{what}: {problems[0]}{more}; see `coinswarm audit verify`"
        raise AuditMismatchError(msg)
