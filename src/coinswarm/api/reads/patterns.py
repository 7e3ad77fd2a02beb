"""The pattern leaderboard over every database: each pattern with its evidence, sample named.

A pattern's row takes the scores the leaderboard of `coinswarm patterns list` takes
(`evolution.leaderboard`): the first in-sample score (what it was selected on), the last
judged out-of-sample score (with the deflated Sharpe for the trials its search made, the
search's PBO and reality-check p-value, and the random-entry p-value), and the last holdout
score. Unlike that leaderboard it lists every status, not only the judged: a candidate, a
retired (demoted) or an imported pattern is shown with the reason it stands where it does.
Ranking is the leaderboard's: proven first, then by deflated Sharpe, by out-of-sample Sharpe,
by id.
"""

from __future__ import annotations

from collections.abc import Sequence

from coinswarm.api.errors import NotFoundError
from coinswarm.api.reads.models import LineageItem, PatternDetail, PatternItem, ScoreItem
from coinswarm.api.reads.stores import Databases
from coinswarm.domain.pattern import Sample, Score
from coinswarm.infra.storage import StoredPattern

__all__ = ["PROVEN", "list_patterns", "pattern_detail"]

PROVEN = "proven"


def _first(scores: Sequence[Score], sample: Sample) -> Score | None:
    return next((s for s in scores if s.sample is sample), None)


def _last(scores: Sequence[Score], sample: Sample, *, judged: bool = False) -> Score | None:
    found = [s for s in scores if s.sample is sample and (not judged or s.n_trials is not None)]
    return found[-1] if found else None


def _item(stored: StoredPattern) -> PatternItem:
    pattern = stored.pattern
    scores = pattern.scores
    is_ = _first(scores, Sample.IN_SAMPLE)
    oos = _last(scores, Sample.OUT_OF_SAMPLE, judged=True) or _last(scores, Sample.OUT_OF_SAMPLE)
    hold = _last(scores, Sample.HOLDOUT)
    return PatternItem(
        pattern_id=pattern.id,
        run_id=stored.run_id,
        status=stored.status,
        proven=stored.status == PROVEN,
        reason=stored.reason,
        source=pattern.source.value,
        reference=pattern.reference,
        timeframe=pattern.timeframe,
        rule=pattern.describe(),
        born_cycle=stored.born_cycle,
        retired_cycle=stored.retired_cycle,
        parents=list(pattern.parents),
        in_sample_sharpe=None if is_ is None else is_.sharpe,
        in_sample_return=None if is_ is None else is_.net_return,
        in_sample_trades=None if is_ is None else is_.trades,
        out_of_sample_sharpe=None if oos is None else oos.sharpe,
        out_of_sample_return=None if oos is None else oos.net_return,
        out_of_sample_trades=None if oos is None else oos.trades,
        out_of_sample_deflated_sharpe=None if oos is None else oos.deflated_sharpe,
        search_pbo=None if oos is None else oos.pbo,
        out_of_sample_reality_check_p=None if oos is None else oos.spa_p,
        out_of_sample_random_entry_p=None if oos is None else oos.random_entry_p,
        search_trials=None if oos is None else oos.n_trials,
        holdout_sharpe=None if hold is None else hold.sharpe,
        holdout_return=None if hold is None else hold.net_return,
    )


def _rank(item: PatternItem) -> tuple[bool, float, float, str]:
    return (
        not item.proven,
        -(item.out_of_sample_deflated_sharpe or 0.0),
        -(item.out_of_sample_sharpe or 0.0),
        item.pattern_id,
    )


def list_patterns(
    databases: Databases,
    *,
    proven: bool | None = None,
    status: str | None = None,
    run_id: str | None = None,
    limit: int = 100,
) -> list[PatternItem]:
    """Return the patterns that match, best first, at most `limit`."""
    wanted = PROVEN if proven else status
    items = [
        _item(stored)
        for _place, store in databases.stores()
        for stored in store.patterns(run_id, wanted)
        if proven is not False or stored.status != PROVEN
    ]
    return sorted(items, key=_rank)[:limit]


def _score(score: Score) -> ScoreItem:
    return ScoreItem(
        sample=score.sample.value,
        cycle=score.cycle,
        timeframe=score.timeframe,
        instruments=list(score.instruments),
        start_ns=score.start_ns,
        end_ns=score.end_ns,
        trades=score.trades,
        net_return=score.net_return,
        sharpe=score.sharpe,
        max_drawdown=score.max_drawdown,
        deflated_sharpe=score.deflated_sharpe,
        pbo=score.pbo,
        n_trials=score.n_trials,
        reality_check_p=score.spa_p,
        random_entry_p=score.random_entry_p,
    )


def pattern_detail(
    databases: Databases, pattern_id: str, run_id: str | None = None
) -> PatternDetail:
    """Return one pattern as the newest run holding it does (or run `run_id`), with its whole
    lineage and every score; NotFoundError if no database holds it."""
    found: list[tuple[int, PatternDetail]] = []
    for _place, store in databases.stores():
        stored = store.pattern(pattern_id, run_id)
        if stored is None:
            continue
        run = store.evolution_run(stored.run_id)
        lineage = [
            LineageItem(run_id=link.run_id, child_id=link.child_id, parent_id=link.parent_id)
            for link in store.lineage(pattern_id, stored.run_id)
        ]
        detail = PatternDetail(
            **_item(stored).model_dump(),
            lineage=lineage,
            scores=[_score(s) for s in stored.pattern.scores],
        )
        found.append((0 if run is None else run.created_ns, detail))
    if not found:
        where = "" if run_id is None else f" in run {run_id}"
        raise NotFoundError(f"no pattern {pattern_id!r}{where}")
    return max(found, key=lambda pair: pair[0])[1]
