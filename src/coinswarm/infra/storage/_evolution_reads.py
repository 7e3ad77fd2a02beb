"""The part of the store that reads the discovery loop back: runs, trials, patterns, lineage."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import ColumnElement, Select, and_, func, select, true
from sqlalchemy.orm import Session

from coinswarm.domain.pattern import Score
from coinswarm.infra.storage._base import Transactional
from coinswarm.infra.storage._map_evolution import (
    TRIAL_COLUMNS,
    run_from_row,
    score_from_row,
    stored_pattern,
    trial_from_row,
)
from coinswarm.infra.storage._sql import chunks
from coinswarm.infra.storage.evolution_records import (
    EvolutionRun,
    LineageLink,
    StoredPattern,
    StoredTrial,
)
from coinswarm.infra.storage.models import (
    EvolutionRunRow,
    PatternLineageRow,
    PatternRow,
    PatternScoreRow,
    TrialRow,
)

__all__ = ["EvolutionReads"]


class EvolutionReads(Transactional):
    """Read what `EvolutionStore` wrote; an unknown run reads as empty, not as an error."""

    def evolution_run(self, run_id: str) -> EvolutionRun | None:
        """Return the discovery run stored under `run_id`, or None."""
        with self.transaction() as session:
            row = session.get(EvolutionRunRow, run_id)
            return None if row is None else run_from_row(row)

    def evolution_runs(self) -> list[EvolutionRun]:
        """Return every discovery run (imports too), oldest first."""
        query = select(EvolutionRunRow).order_by(EvolutionRunRow.created_ns, EvolutionRunRow.run_id)
        with self.transaction() as session:
            return [run_from_row(row) for row in session.scalars(query)]

    def trial_count(self, run_id: str) -> int:
        """Return how many trials the run's ledger holds (its numbers run 0 to count - 1)."""
        # The largest number, read from the primary key's index, rather than a count(*) that
        # reads every entry: the ledger is dense, so the two agree.
        query = select(func.max(TrialRow.seq)).where(TrialRow.run_id == run_id)
        with self.transaction() as session:
            largest = session.scalar(query)
        return 0 if largest is None else int(largest) + 1

    def trials(self, run_id: str) -> list[StoredTrial]:
        """Return the run's trial ledger in order."""
        query = select(*TRIAL_COLUMNS).where(TrialRow.run_id == run_id).order_by(TrialRow.seq)
        with self.transaction() as session:
            return [trial_from_row(row) for row in session.execute(query)]

    def patterns(self, run_id: str | None = None, status: str | None = None) -> list[StoredPattern]:
        """Return the stored patterns, of one run or all, with one status or any.

        Runs oldest first, then by the cycle each pattern was born in, then by id; each with
        its scores in the order received.
        """
        where = _pattern_filter(run_id, status)
        query = (
            select(PatternRow)
            .join(EvolutionRunRow, PatternRow.run_id == EvolutionRunRow.run_id)
            .where(where)
            .order_by(
                EvolutionRunRow.created_ns,
                PatternRow.run_id,
                PatternRow.born_cycle,
                PatternRow.pattern_id,
            )
        )
        with self.transaction() as session:
            scores = _scores(session, _scores_of(where))
            return [
                stored_pattern(row, scores.get((row.run_id, row.pattern_id), ()))
                for row in session.scalars(query)
            ]

    def pattern(self, pattern_id: str, run_id: str | None = None) -> StoredPattern | None:
        """Return pattern `pattern_id` as run `run_id` holds it, or as the newest run holding
        it does when no run is named; None if none does."""
        query = (
            select(PatternRow)
            .join(EvolutionRunRow, PatternRow.run_id == EvolutionRunRow.run_id)
            .where(_pattern_filter(run_id, None), PatternRow.pattern_id == pattern_id)
            .order_by(EvolutionRunRow.created_ns.desc(), PatternRow.run_id.desc())
            .limit(1)
        )
        with self.transaction() as session:
            row = session.scalars(query).one_or_none()
            if row is None:
                return None
            where = and_(PatternRow.run_id == row.run_id, PatternRow.pattern_id == pattern_id)
            scores = _scores(session, _scores_of(where))
            return stored_pattern(row, scores.get((row.run_id, pattern_id), ()))

    def lineage(self, pattern_id: str, run_id: str | None = None) -> list[LineageLink]:
        """Return every link from the pattern up to its first ancestors, nearest first.

        Parents come before grandparents; links of one generation are ordered by run, child
        and parent. With no run named, the links of every run are followed. A rule bred back
        into one of its ancestors (the same rule, so the same id) is followed once.
        """
        links: list[LineageLink] = []
        seen = {pattern_id}
        generation = [pattern_id]
        with self.transaction() as session:
            while generation:
                parents: list[str] = []
                for link in _links(session, generation, run_id):
                    links.append(link)
                    if link.parent_id not in seen:
                        seen.add(link.parent_id)
                        parents.append(link.parent_id)
                generation = parents
        return links


def _pattern_filter(run_id: str | None, status: str | None) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [true()]
    if run_id is not None:
        clauses.append(PatternRow.run_id == run_id)
    if status is not None:
        clauses.append(PatternRow.status == status)
    return and_(*clauses)


def _scores_of(where: ColumnElement[bool]) -> Select[PatternScoreRow]:
    """Return the query of the scores of the patterns `where` picks, in order received."""
    return (
        select(PatternScoreRow)
        .join(
            PatternRow,
            and_(
                PatternScoreRow.run_id == PatternRow.run_id,
                PatternScoreRow.pattern_id == PatternRow.pattern_id,
            ),
        )
        .where(where)
        .order_by(PatternScoreRow.run_id, PatternScoreRow.pattern_id, PatternScoreRow.seq)
    )


def _scores(session: Session, query: Select[PatternScoreRow]) -> dict[tuple[str, str], list[Score]]:
    found: dict[tuple[str, str], list[Score]] = defaultdict(list)
    for row in session.scalars(query):
        found[row.run_id, row.pattern_id].append(score_from_row(row))
    return found


def _links(session: Session, children: list[str], run_id: str | None) -> list[LineageLink]:
    found: list[LineageLink] = []
    for chunk in chunks(children):
        query = select(PatternLineageRow).where(PatternLineageRow.child_id.in_(chunk))
        if run_id is not None:
            query = query.where(PatternLineageRow.run_id == run_id)
        found.extend(
            LineageLink(row.run_id, row.child_id, row.parent_id) for row in session.scalars(query)
        )
    return sorted(found, key=lambda link: (link.run_id, link.child_id, link.parent_id))
