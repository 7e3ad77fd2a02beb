"""The part of the store that keeps the discovery loop: runs, patterns, lineage, scores, trials.

The loop is deterministic (cycle c's randomness derives from the run's seed and c), so a run
resumes from the state its last committed cycle left and nothing else. `commit_cycle` writes
everything a cycle produced in one transaction, and only for the cycle after the last one
committed: a process killed mid-cycle loses that cycle and no more, and a resumed run can
neither skip a cycle nor count a cycle's trials twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coinswarm.domain.pattern import Pattern, Score
from coinswarm.infra.crash import crash_point
from coinswarm.infra.storage._base import Transactional
from coinswarm.infra.storage._evolution_reads import EvolutionReads
from coinswarm.infra.storage._map_evolution import (
    pattern_values,
    run_from_row,
    score_values,
    trial_values,
)
from coinswarm.infra.storage._sql import chunks, insert_rows, insert_unless_present
from coinswarm.infra.storage.errors import CycleOrderError, RunExistsError, StorageError
from coinswarm.infra.storage.evolution_records import (
    IMPORT_PREFIX,
    IMPORTED,
    EvolutionRun,
    EvolutionStatus,
    PatternUpdate,
    Trial,
)
from coinswarm.infra.storage.models import (
    ID,
    EvolutionRunRow,
    PatternLineageRow,
    PatternRow,
    PatternScoreRow,
    TrialRow,
)
from coinswarm.infra.storage.types import canonical_json

__all__ = ["EvolutionStore"]

_MAX_RUN_ID = ID.length or 128


class EvolutionStore(EvolutionReads, Transactional):
    """Write the discovery loop's runs cycle by cycle; read them back (`EvolutionReads`)."""

    def create_evolution_run(self, run_id: str, config_json: str, created_ns: int) -> EvolutionRun:
        """Store a new running discovery run; raise RunExistsError if its id is taken."""
        _check_run_id(run_id)
        if run_id.startswith(IMPORT_PREFIX):
            msg = f"run id {run_id!r}: ids starting {IMPORT_PREFIX!r} are kept for imports"
            raise StorageError(msg)
        row = EvolutionRunRow(
            run_id=run_id,
            created_ns=created_ns,
            config_json=config_json,
            status=EvolutionStatus.RUNNING.value,
        )
        try:
            with self.transaction() as session:
                session.add(row)
                session.flush()
                return run_from_row(row)
        except IntegrityError as exc:
            msg = f"expected a new discovery run id, found {run_id!r} already stored"
            raise RunExistsError(msg) from exc

    def resume_evolution_run(self, run_id: str) -> EvolutionRun:
        """Mark a killed, interrupted or failed run running again; return it to resume from.

        The loop resumes at the returned run's `next_cycle`, from its `state_json`. A
        finished run is refused: its results are final.
        """
        with self.transaction() as session:
            row = _locked_run(session, run_id)
            if row.status == EvolutionStatus.FINISHED:
                msg = f"discovery run {run_id!r} is finished; start a new run instead"
                raise StorageError(msg)
            row.status = EvolutionStatus.RUNNING.value
            row.finished_ns = None
            session.flush()
            return run_from_row(row)

    def finish_evolution_run(
        self, run_id: str, status: EvolutionStatus | str, finished_ns: int
    ) -> EvolutionRun:
        """Record how a run ended: finished, interrupted or failed."""
        ending = EvolutionStatus(status)
        if ending is EvolutionStatus.RUNNING:
            msg = f"discovery run {run_id!r}: expected an ending status, found {ending.value!r}"
            raise StorageError(msg)
        with self.transaction() as session:
            row = _locked_run(session, run_id)
            if row.status == EvolutionStatus.FINISHED:
                msg = f"discovery run {run_id!r} is already finished; its results are final"
                raise StorageError(msg)
            row.status = ending.value
            row.finished_ns = finished_ns
            session.flush()
            return run_from_row(row)

    def commit_cycle(
        self,
        run_id: str,
        cycle: int,
        *,
        trials: Sequence[Trial] = (),
        patterns: Sequence[PatternUpdate] = (),
        scores: Sequence[tuple[str, Score]] = (),
        state_json: str,
    ) -> EvolutionRun:
        """Store everything cycle `cycle` produced and the state it left, in one transaction.

        The cycle must be the run's `next_cycle` (CycleOrderError otherwise) and the run
        running. Trials are numbered on from those stored; `patterns` are new to the run or
        change a stored one's standing; each of `scores` is appended to its pattern's, which
        must be stored or among `patterns`. Nothing is written if anything is refused.
        """
        updates = _one_update_each(patterns)
        with self.transaction() as session:
            row = _locked_run(session, run_id)
            _check_turn(row, cycle)
            connection = session.connection()
            scored = {pattern_id for pattern_id, _ in scores}
            stored = _stored_ids(session, run_id, {*updates, *scored})
            new = [u for pattern_id, u in updates.items() if pattern_id not in stored]
            _insert_patterns(connection, run_id, new)
            _update_patterns(connection, run_id, [updates[i] for i in updates if i in stored])
            _insert_scores(session, run_id, scores, stored | set(updates))
            first = self.trial_count(run_id)
            ledger = [trial_values(run_id, first + n, cycle, t) for n, t in enumerate(trials)]
            insert_rows(connection, TrialRow, ledger)
            crash_point("evolution_cycle_written")
            # The run's row last: a failure anywhere up to here, this statement included,
            # takes the whole cycle back with it (the contract tests fail it here).
            row.last_cycle = cycle
            row.state_json = state_json
            session.flush()
            return run_from_row(row)

    def import_patterns(
        self, patterns: Iterable[Pattern], source_label: str, *, imported_ns: int
    ) -> list[str]:
        """Store patterns from elsewhere (a file), with their scores; return the new ids.

        They go in a run of their own, `import:<source_label>`, finished as it is created,
        with the status "imported". A pattern the label already holds is left as it was, so
        importing the same file twice stores it once.
        """
        if not source_label:
            raise StorageError("import: expected a source label (the file's name), found ''")
        run_id = IMPORT_PREFIX + source_label
        _check_run_id(run_id)
        reason = f"imported from {source_label}"
        unique: dict[str, Pattern] = {}
        for pattern in patterns:
            unique.setdefault(pattern.id, pattern)  # the first of each id wins
        with self.transaction() as session:
            run = {
                "run_id": run_id,
                "created_ns": imported_ns,
                "config_json": canonical_json({"import": source_label}),
                "status": EvolutionStatus.FINISHED.value,
                "finished_ns": imported_ns,
            }
            insert_unless_present(session, EvolutionRunRow, run)
            stored = _stored_ids(session, run_id, set(unique))
            new = [p for pattern_id, p in unique.items() if pattern_id not in stored]
            updates = [
                PatternUpdate(pattern=p, status=IMPORTED, born_cycle=0, reason=reason) for p in new
            ]
            _insert_patterns(session.connection(), run_id, updates)
            scores = [(p.id, score) for p in new for score in p.scores]
            _insert_scores(session, run_id, scores, {p.id for p in new})
        return [p.id for p in new]


def _check_run_id(run_id: str) -> None:
    if not run_id or len(run_id) > _MAX_RUN_ID:
        msg = f"expected a run id of 1 to {_MAX_RUN_ID} characters, found {run_id!r}"
        raise StorageError(msg)


def _locked_run(session: Session, run_id: str) -> EvolutionRunRow:
    # FOR UPDATE on PostgreSQL: a second writer of the same run waits here for the first to
    # commit, then sees its cycle. SQLite's transactions already begin IMMEDIATE.
    query = select(EvolutionRunRow).where(EvolutionRunRow.run_id == run_id).with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        msg = f"expected a stored discovery run {run_id!r}, found none; create the run first"
        raise StorageError(msg)
    return row


def _check_turn(row: EvolutionRunRow, cycle: int) -> None:
    if row.status != EvolutionStatus.RUNNING:
        msg = (
            f"discovery run {row.run_id!r} is {row.status}: expected a running run; "
            "resume it first (a finished run cannot be resumed)"
        )
        raise StorageError(msg)
    expected = 0 if row.last_cycle is None else row.last_cycle + 1
    if isinstance(cycle, bool) or not isinstance(cycle, int) or cycle != expected:
        last = "none yet" if row.last_cycle is None else f"cycle {row.last_cycle}"
        msg = (
            f"discovery run {row.run_id!r}: expected cycle {expected} (last committed: "
            f"{last}), found {cycle!r}; a resumed run continues at the cycle after the last"
        )
        raise CycleOrderError(msg)


def _one_update_each(patterns: Sequence[PatternUpdate]) -> dict[str, PatternUpdate]:
    updates: dict[str, PatternUpdate] = {}
    for update_ in patterns:
        pattern_id = update_.pattern.id
        if pattern_id in updates:
            msg = f"pattern {pattern_id}: expected one update per cycle, found two"
            raise StorageError(msg)
        updates[pattern_id] = update_
    return updates


def _stored_ids(session: Session, run_id: str, pattern_ids: Iterable[str]) -> set[str]:
    """Return those of `pattern_ids` the run already holds."""
    found: set[str] = set()
    for chunk in chunks(sorted(pattern_ids)):
        query = select(PatternRow.pattern_id).where(
            PatternRow.run_id == run_id, PatternRow.pattern_id.in_(chunk)
        )
        found.update(session.scalars(query))
    return found


def _insert_patterns(connection: Connection, run_id: str, updates: Sequence[PatternUpdate]) -> None:
    """Insert patterns new to the run, and the links to their parents."""
    insert_rows(connection, PatternRow, [pattern_values(run_id, u) for u in updates])
    links = [
        {"run_id": run_id, "child_id": u.pattern.id, "parent_id": parent}
        for u in updates
        for parent in dict.fromkeys(u.pattern.parents)
    ]
    insert_rows(connection, PatternLineageRow, links)


def _update_patterns(connection: Connection, run_id: str, updates: Sequence[PatternUpdate]) -> None:
    """Change the standing of patterns the run holds; their rule and birth stay as stored."""
    if not updates:
        return
    # The SET clause is the columns the rows name; the `key_` parameters pick the row.
    statement = update(PatternRow).where(
        PatternRow.run_id == bindparam("key_run"),
        PatternRow.pattern_id == bindparam("key_id"),
    )
    rows = [
        {
            "key_run": run_id,
            "key_id": u.pattern.id,
            "status": u.status,
            "reason": u.reason,
            "retired_cycle": u.retired_cycle,
        }
        for u in updates
    ]
    connection.execute(statement, rows)


def _insert_scores(
    session: Session, run_id: str, scores: Sequence[tuple[str, Score]], known: set[str]
) -> None:
    """Append each score to its pattern's, numbered on from those stored."""
    unknown = sorted({pattern_id for pattern_id, _ in scores} - known)
    if unknown:
        msg = (
            f"discovery run {run_id!r}: expected scores of stored patterns or of patterns in "
            f"the same commit, found a score of {unknown[0]}, which is neither"
        )
        raise StorageError(msg)
    next_seq = _next_score_seqs(session, run_id, {pattern_id for pattern_id, _ in scores})
    rows: list[dict[str, Any]] = []
    for pattern_id, score in scores:
        seq = next_seq.get(pattern_id, 0)
        next_seq[pattern_id] = seq + 1
        rows.append(score_values(run_id, pattern_id, seq, score))
    insert_rows(session.connection(), PatternScoreRow, rows)


def _next_score_seqs(session: Session, run_id: str, pattern_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(sorted(pattern_ids)):
        query = (
            select(PatternScoreRow.pattern_id, func.max(PatternScoreRow.seq))
            .where(PatternScoreRow.run_id == run_id, PatternScoreRow.pattern_id.in_(chunk))
            .group_by(PatternScoreRow.pattern_id)
        )
        found.update({pattern_id: int(seq) + 1 for pattern_id, seq in session.execute(query)})
    return found
