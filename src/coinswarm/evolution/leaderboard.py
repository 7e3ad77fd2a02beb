"""The leaderboard: every judged pattern of a run, with the numbers that decided its verdict.

Each row puts beside the out-of-sample Sharpe what a reader needs to trust it or not: the
deflated Sharpe for the trials the run made, the search's PBO and its reality-check p-value
against buy-and-hold, the random-entry p-value, the in-sample Sharpe it was selected on, and
the holdout for the proven. Rows come from the store alone, so a leaderboard printed twice,
or by another machine, is the same byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from coinswarm.domain.pattern import Sample, Score
from coinswarm.infra.storage import Store, StoredPattern

__all__ = ["Row", "leaderboard"]

JUDGED = ("proven", "rejected")


@dataclass(frozen=True, slots=True)
class Row:
    """One pattern's line on the leaderboard; every score says its sample."""

    pattern_id: str
    run_id: str
    status: str
    reason: str
    source: str
    timeframe: str
    rule: str
    in_sample_sharpe: float | None
    out_of_sample_sharpe: float | None
    out_of_sample_trades: int | None
    out_of_sample_return: float | None
    deflated_sharpe: float | None
    pbo: float | None
    reality_check_p: float | None
    random_entry_p: float | None
    n_trials: int | None
    holdout_return: float | None
    holdout_sharpe: float | None
    scores: tuple[Score, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data, with every score the pattern received."""
        data = asdict(self)
        data["scores"] = [score.to_dict() for score in self.scores]
        return data


def leaderboard(store: Store, run_id: str | None = None, *, proven_only: bool = False) -> list[Row]:
    """Return a run's judged patterns (every run's when `run_id` is None), best first.

    Proven rows come first, then by deflated Sharpe, out-of-sample Sharpe, and id.
    """
    rows = [_row(stored) for stored in store.patterns(run_id) if stored.status in JUDGED]
    if proven_only:
        rows = [r for r in rows if r.status == "proven"]
    # The deflated Sharpe ranks before the raw one: a Sharpe of 5 over two trades says less
    # than a Sharpe of 2 over two hundred, and it knows how many trials were run.
    return sorted(
        rows,
        key=lambda r: (
            r.status != "proven",
            -(r.deflated_sharpe or 0.0),
            -(r.out_of_sample_sharpe or 0.0),
            r.pattern_id,
        ),
    )


def _row(stored: StoredPattern) -> Row:
    pattern = stored.pattern
    walk_forward = _last(pattern.scores, Sample.OUT_OF_SAMPLE, judged=True)
    in_sample = _first(pattern.scores, Sample.IN_SAMPLE)
    holdout = _last(pattern.scores, Sample.HOLDOUT)
    return Row(
        pattern_id=pattern.id,
        run_id=stored.run_id,
        status=stored.status,
        reason=stored.reason,
        source=pattern.source.value,
        timeframe=pattern.timeframe,
        rule=pattern.describe(),
        in_sample_sharpe=None if in_sample is None else in_sample.sharpe,
        out_of_sample_sharpe=None if walk_forward is None else walk_forward.sharpe,
        out_of_sample_trades=None if walk_forward is None else walk_forward.trades,
        out_of_sample_return=None if walk_forward is None else walk_forward.net_return,
        deflated_sharpe=None if walk_forward is None else walk_forward.deflated_sharpe,
        pbo=None if walk_forward is None else walk_forward.pbo,
        reality_check_p=None if walk_forward is None else walk_forward.spa_p,
        random_entry_p=None if walk_forward is None else walk_forward.random_entry_p,
        n_trials=None if walk_forward is None else walk_forward.n_trials,
        holdout_return=None if holdout is None else holdout.net_return,
        holdout_sharpe=None if holdout is None else holdout.sharpe,
        scores=pattern.scores,
    )


def _first(scores: Sequence[Score], sample: Sample) -> Score | None:
    return next((s for s in scores if s.sample is sample), None)


def _last(scores: Sequence[Score], sample: Sample, *, judged: bool = False) -> Score | None:
    found = [s for s in scores if s.sample is sample and (not judged or s.n_trials is not None)]
    return found[-1] if found else None
