"""Deleting runs (`coinswarm runs delete|prune`): every row, every file, and the space back.

A run's rows go in one transaction: the run and, by the database's cascades, its intents,
orders and their state changes, fills, deposits, ledger snapshots with their balances,
positions and round trips, verdicts with their votes, and risk events. Its folder under the
runs folder (summary, explanations), its session journals and its run-lock record go too.

Its audit entries stay. The audit log is a hash chain: each entry hashes the one before, so
taking a run's entries out would break the chain where they stood, and `coinswarm audit
verify` would rightly call that tampering. The deletion is appended to the chain instead (who,
why, and how many rows of each table), so the chain still verifies and tells what was removed.
The audit log is therefore the one part of a run that deleting does not shrink.

Space: SQLite keeps freed pages inside the file, so each database a deletion touched is then
rewritten (`VACUUM`) and its write-ahead log truncated, unless a run is running in it (a
rewrite would hold its writer up), and the bytes the files shrank by are reported. PostgreSQL
keeps its files and reuses the space (autovacuum): the rows are deleted and no bytes are
claimed for them.

Refused: a run that a live process holds, and a live run (the record of real money) unless
the person says so (`allow_live`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coinswarm.backtest.catalog import (
    RUNNING,
    Place,
    RunEntry,
    opened,
    run_files,
)
from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.storage import RunBusyError, Store

__all__ = [
    "DeleteReport",
    "LiveRunError",
    "PrunePlan",
    "PruneRules",
    "Removal",
    "RunInUseError",
    "Space",
    "check_deletable",
    "delete_runs",
    "plan_prune",
]

NS_PER_DAY = 86_400 * 1_000_000_000


class RunInUseError(CoinswarmError):
    """A run cannot be deleted while a live process works on it."""


class LiveRunError(CoinswarmError):
    """A live run's ledger is the record of real money: deleting it needs a person's yes."""


def check_deletable(entries: Iterable[RunEntry], *, allow_live: bool) -> None:
    """Raise unless every run of `entries` may be deleted; checked before anything is."""
    for entry in entries:
        if entry.status == RUNNING:
            msg = f"run {entry.run_id} is running; stop it first (Ctrl-C), then delete it"
            raise RunInUseError(msg)
        if entry.mode == "live" and not allow_live:
            msg = (
                f"run {entry.run_id} is a live run, the record of real money; "
                "pass --yes to delete it anyway"
            )
            raise LiveRunError(msg)


@dataclass(frozen=True, slots=True)
class Removal:
    """One run deleted: the rows it had in each table, and the files removed with it."""

    run_id: str
    mode: str
    status: str
    where: str
    rows: Mapping[str, int]
    files: tuple[Path, ...]
    file_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "mode": self.mode,
            "status": self.status,
            "database": self.where,
            "rows": dict(self.rows),
            "files": [str(path) for path in self.files],
            "file_bytes": self.file_bytes,
        }


@dataclass(frozen=True, slots=True)
class Space:
    """One database's size before and after its runs were deleted, and why if unchanged."""

    where: str
    before: int | None
    after: int | None
    note: str | None = None

    @property
    def reclaimed(self) -> int:
        if self.before is None or self.after is None:
            return 0
        return max(self.before - self.after, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.where,
            "bytes_before": self.before,
            "bytes_after": self.after,
            "bytes_reclaimed": self.reclaimed,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class DeleteReport:
    """What a deletion removed, what it could not (a run started meanwhile), and the space."""

    removed: tuple[Removal, ...]
    busy: tuple[str, ...] = ()
    spaces: tuple[Space, ...] = ()

    @property
    def bytes_reclaimed(self) -> int:
        """The files removed plus what the databases shrank by."""
        return sum(r.file_bytes for r in self.removed) + sum(s.reclaimed for s in self.spaces)

    def to_json(self) -> dict[str, Any]:
        return {
            "deleted": [removal.to_json() for removal in self.removed],
            "busy": list(self.busy),
            "databases": [space.to_json() for space in self.spaces],
            "bytes_reclaimed": self.bytes_reclaimed,
        }


def _remove_files(entry: RunEntry, sessions_dir: Path, store: Store) -> tuple[list[Path], int]:
    files = run_files(entry, sessions_dir)
    size = sum(path.stat().st_size for path in files if path.exists())
    for path in files:
        path.unlink(missing_ok=True)
    if entry.folder is not None and entry.folder.exists():
        shutil.rmtree(entry.folder)
    size += store.locks().forget(entry.run_id)
    return files, size


def _delete_one(
    store: Store, entry: RunEntry, sessions_dir: Path, *, ts: int, actor: str, reason: str
) -> Removal | None:
    """Delete one run under its lock (so that no process starts it meanwhile); None if one
    already had."""
    try:
        with store.locks().hold(entry.run_id):
            rows = {k: v for k, v in store.row_counts(entry.run_id).items() if k != "audit_entries"}
            details = {
                "mode": entry.mode,
                "strategy": entry.strategy,
                "status": entry.status,
                "rows": rows,
                "reason": reason,
            }
            store.delete_run(entry.run_id, ts=ts, actor=actor, details=details)
    except RunBusyError:
        return None
    files, size = _remove_files(entry, sessions_dir, store)
    return Removal(
        entry.run_id, entry.mode, entry.status, entry.place.where, rows, tuple(files), size
    )


def _reclaim(store: Store, where: str, before: int | None) -> Space:
    if before is None:
        note = "a database server keeps its files and reuses the space of deleted rows"
        return Space(where, None, None, note)
    running = [r.run_id for r in store.runs() if r.status == RUNNING]
    if store.locks().running(running):
        note = "not rewritten while a run is running in it; its free pages are reused"
        return Space(where, before, store.database_bytes(), note)
    store.reclaim_space()
    return Space(where, before, store.database_bytes())


def delete_runs(
    entries: Sequence[RunEntry],
    *,
    sessions_dir: Path,
    ts: int,
    actor: str,
    reason: str,
) -> DeleteReport:
    """Delete every run of `entries` (see the module's note); check them first with
    `check_deletable`."""
    by_place: dict[Place, list[RunEntry]] = {}
    for entry in entries:
        by_place.setdefault(entry.place, []).append(entry)
    removed: list[Removal] = []
    busy: list[str] = []
    spaces: list[Space] = []
    for place, group in by_place.items():
        with opened(place) as store:
            assert store is not None  # the entries were read from it
            before = store.database_bytes()
            for entry in group:
                done = _delete_one(store, entry, sessions_dir, ts=ts, actor=actor, reason=reason)
                if done is None:
                    busy.append(entry.run_id)
                else:
                    removed.append(done)
            spaces.append(_reclaim(store, place.where, before))
    return DeleteReport(tuple(removed), tuple(busy), tuple(spaces))


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneRules:
    """Which runs `runs prune` removes: all the criteria given must hold.

    `older_than_ns`: started longer ago than this (a run whose start is unknown is spared);
    `statuses`: in one of these; `keep`: not among the newest `keep` runs of its mode.
    """

    older_than_ns: int | None = None
    statuses: frozenset[str] = field(default_factory=frozenset)
    keep: int | None = None
    include_live: bool = False

    @property
    def empty(self) -> bool:
        return self.older_than_ns is None and not self.statuses and self.keep is None


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """The runs a prune removes, and those it matched but spares, with why."""

    chosen: tuple[RunEntry, ...]
    spared: tuple[tuple[RunEntry, str], ...]


def _newest(entries: Sequence[RunEntry], keep: int | None) -> set[str]:
    if keep is None:
        return set()
    kept: set[str] = set()
    for mode in {entry.mode for entry in entries}:
        ours = [entry for entry in entries if entry.mode == mode]
        ours.sort(key=lambda e: (e.started_ns() or -1, e.record.created_ts), reverse=True)
        kept |= {entry.run_id for entry in ours[:keep]}
    return kept


def _age_problem(entry: RunEntry, rules: PruneRules, now_ns: int) -> tuple[bool, str | None]:
    """Return whether the entry passes the age rule, and why it is spared if it cannot tell."""
    if rules.older_than_ns is None:
        return True, None
    started = entry.started_ns()
    if started is None:
        return False, "when it ran is unknown"
    return now_ns - started > rules.older_than_ns, None


def plan_prune(entries: Sequence[RunEntry], rules: PruneRules, *, now_ns: int) -> PrunePlan:
    """Return what a prune under `rules` removes from `entries`, and what it spares."""
    newest = _newest(entries, rules.keep)
    chosen: list[RunEntry] = []
    spared: list[tuple[RunEntry, str]] = []
    for entry in entries:
        if entry.run_id in newest or (rules.statuses and entry.status not in rules.statuses):
            continue
        old_enough, unknown = _age_problem(entry, rules, now_ns)
        if unknown is not None:
            spared.append((entry, unknown))
            continue
        if not old_enough:
            continue
        if entry.status == RUNNING:
            spared.append((entry, "it is running"))
        elif entry.mode == "live" and not rules.include_live:
            spared.append((entry, "a live run: pass --yes to prune live runs"))
        else:
            chosen.append(entry)
    return PrunePlan(tuple(chosen), tuple(spared))
