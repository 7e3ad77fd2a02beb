"""The end of a discovery run: judge every pattern that reached an out-of-sample window.

Each judged pattern gets one walk-forward score: its out-of-sample record over every fold it
was scored on, with the deflated Sharpe for the trials the run made, its random-entry p-value,
and the search's PBO and reality-check p-value beside them. Only the proven are then scored on
the holdout, once. Everything is computed again from the data and the ledger's patterns
(deterministic), so a run killed while closing simply closes again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinswarm.domain.pattern import Sample, Score
from coinswarm.evolution.config import EvolutionConfig
from coinswarm.evolution.dataset import NS_PER_DAY, Dataset
from coinswarm.evolution.loop import LoopState, WindowScorer
from coinswarm.evolution.proof import (
    Evidence,
    SearchEvidence,
    holdout_reason,
    judge_pattern,
    judge_search,
)
from coinswarm.evolution.scoring import WindowResult
from coinswarm.evolution.windows import Window, WindowPlan

__all__ = ["PROVEN", "REJECTED", "Closing", "close_run", "hold_daily"]

FloatArray = npt.NDArray[np.float64]
PROVEN = "proven"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Closing:
    """The verdicts of a run: statuses with reasons, and the scores that back them."""

    search: SearchEvidence
    evidence: tuple[Evidence, ...]
    statuses: tuple[tuple[str, str, str], ...]  # (pattern id, status, reason)
    scores: tuple[tuple[str, Score], ...]

    @property
    def proven(self) -> tuple[str, ...]:
        return tuple(i for i, status, _ in self.statuses if status == PROVEN)


def hold_daily(dataset: Dataset, window: Window) -> FloatArray:
    """Buy-and-hold of every instrument, equal weight, as daily log returns over `window`."""
    first_day = window.start_ns // NS_PER_DAY
    n_days = -(-window.end_ns // NS_PER_DAY) - first_day
    daily = np.zeros(n_days)
    markets = dataset.markets(dataset.timeframes[0])
    for market in markets:
        a, b = market.bounds(window.start_ns, window.end_ns)
        if b - a < 2:
            continue
        log_close = np.log(market.series.close[a:b])
        bar_returns = np.diff(log_close, prepend=log_close[0])
        daily += np.bincount(market.days[a:b] - first_day, weights=bar_returns, minlength=n_days)
    return daily / len(markets)


def close_run(
    dataset: Dataset,
    config: EvolutionConfig,
    plan: WindowPlan,
    state: LoopState,
    score: WindowScorer,
) -> Closing:
    """Judge the run's out-of-sample patterns, and score the proven on the holdout."""
    judged = sorted(state.scored_folds)
    records = _out_of_sample_records(judged, state, plan, score)
    oos_windows = [fold.out_of_sample for fold in plan.folds]
    hold = np.concatenate([hold_daily(dataset, w) for w in oos_windows])
    oos_matrix = np.column_stack(
        [_on_grid(records[i], state.scored_folds[i], oos_windows) for i in judged]
        or [np.zeros(len(hold))]
    )
    research = Window(plan.folds[0].in_sample.start_ns, plan.folds[-1].out_of_sample.end_ns)
    everyone = sorted(state.candidates)
    research_daily = np.column_stack(
        [r.daily for r in score([(state.candidates[i], research) for i in everyone])]
        or [np.zeros(1)]
    )
    search = judge_search(
        state.trials,
        [np.concatenate([r.daily for r in records[i]]) for i in judged],
        research_daily,
        oos_matrix,
        hold,
        seed=config.seed,
    )
    evidence = tuple(
        judge_pattern(
            i,
            records[i],
            search,
            config.proof,
            markets=dataset.markets(state.candidates[i].timeframe),
            side=state.candidates[i].side.sign,
            fee_rate=config.fee_rate,
            seed=config.seed,
        )
        for i in judged
    )
    return _verdicts(
        dataset, config, plan, state, score, search=search, evidence=evidence, records=records
    )


def _verdicts(
    dataset: Dataset,
    config: EvolutionConfig,
    plan: WindowPlan,
    state: LoopState,
    score: WindowScorer,
    *,
    search: SearchEvidence,
    evidence: tuple[Evidence, ...],
    records: Mapping[str, Sequence[WindowResult]],
) -> Closing:
    """Store each judged pattern's walk-forward score; score the proven on the holdout."""
    scores: list[tuple[str, Score]] = []
    statuses: list[tuple[str, str, str]] = []
    proven = [e for e in evidence if e.proven]
    holdouts = score([(state.candidates[e.pattern_id], plan.holdout) for e in proven])
    holdout_of = {e.pattern_id: r for e, r in zip(proven, holdouts, strict=True)}
    for item in evidence:
        pattern = state.candidates[item.pattern_id]
        own = records[item.pattern_id]
        walk_forward = Score(
            sample=Sample.OUT_OF_SAMPLE,
            start_ns=own[0].window.start_ns,
            end_ns=own[-1].window.end_ns,
            instruments=dataset.instruments,
            timeframe=pattern.timeframe,
            trades=item.trades,
            net_return=item.net_return,
            sharpe=item.sharpe,
            n_trials=search.n_trials,
            deflated_sharpe=item.deflated_sharpe,
            pbo=search.pbo,
            spa_p=search.reality_check_p,
            random_entry_p=item.random_entry_p,
            cycle=config.cycles,
            trade_mean=item.trade_mean,
            trade_std=item.trade_std,
        )
        scores.append((item.pattern_id, walk_forward))
        status, reason = REJECTED, "; ".join(item.reasons)
        holdout = holdout_of.get(item.pattern_id)
        if holdout is not None:
            scores.append(
                (item.pattern_id, holdout.score(Sample.HOLDOUT, pattern, dataset, config.cycles))
            )
            failed = holdout_reason(holdout, config.proof)
            status, reason = (REJECTED, failed) if failed else (PROVEN, "")
        statuses.append((item.pattern_id, status, reason))
    return Closing(search, evidence, tuple(statuses), tuple(scores))


def _out_of_sample_records(
    judged: Sequence[str], state: LoopState, plan: WindowPlan, score: WindowScorer
) -> dict[str, list[WindowResult]]:
    items = [
        (state.candidates[i], plan.folds[fold].out_of_sample)
        for i in judged
        for fold in state.scored_folds[i]
    ]
    results = iter(score(items))
    return {i: [next(results) for _ in state.scored_folds[i]] for i in judged}


def _on_grid(
    records: Sequence[WindowResult], folds: Sequence[int], windows: Sequence[Window]
) -> FloatArray:
    """A pattern's out-of-sample daily record on every fold's days (0 where it was not alive)."""
    by_fold = dict(zip(folds, records, strict=True))
    parts = []
    for index, window in enumerate(windows):
        result = by_fold.get(index)
        days = -(-window.end_ns // NS_PER_DAY) - window.start_ns // NS_PER_DAY
        parts.append(result.daily if result is not None else np.zeros(days))
    return np.concatenate(parts)
