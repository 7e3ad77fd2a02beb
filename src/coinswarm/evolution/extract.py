"""Extraction: from chaos trades, the feature conditions under which trading would have paid.

For each side, every feature is cut at empirical quantiles of its values over the batch
(deciles by default), giving conditions `feature < q` and `feature > q`. A condition is
scored by the t-statistic of the mean net outcome (after fees) of the side's chaos trades it
selects, against 0: how many standard errors the mean lies above breaking even. The standard
error is clustered in time (trades whose holds overlap ride the same prices, so they are one
piece of evidence, not several), and a condition is scored only when it selects at least
`min_support` trades from at least `min_clusters` separate spans of time. The best singles of
each side are then paired (a shallow search for frequent condition sets): a pair is kept only
when it beats both of its halves, so a second condition must earn its place. The best `top`
rules, at most one per side and set of (feature, op), become candidate patterns.

How honest this is, and what keeps it honest: the scores are in-sample by construction. The
same trades choose the thresholds and judge them, and the search tries hundreds of conditions,
so the best t-statistic is biased upward even on a market without any structure (on a random
walk the best of ~1,000 conditions reaches t of 3 to 4; tests/unit/test_pattern_extraction.py).
Extraction is therefore a proposal, never a verdict: the loop scores every emitted candidate on
later data it has not seen, and counts each one as a trial in the multiple-testing corrections
(deflated Sharpe, PBO, the reality check). Emitting few candidates, at most one per condition
set, keeps that trial count small; clustering keeps one lucky week from posing as many trades.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinswarm.data.timeframe import timeframe_ns
from coinswarm.domain.pattern import Condition, Exit, Op, Pattern, Side, Source
from coinswarm.evolution.chaos import ChaosBatch

__all__ = [
    "DECILES",
    "Candidate",
    "extract_candidates",
    "extract_patterns",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

DECILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_STOP_QUANTILES = (0.1, 0.9)  # the supporting trades' moves that set a stop loss, a take profit


@dataclass(frozen=True, slots=True)
class Candidate:
    """A proposed pattern and the in-sample evidence for it: the chaos trades it selects."""

    pattern: Pattern
    trades: int
    mean_return: float  # mean net return per supporting trade
    t_stat: float


@dataclass(frozen=True, slots=True, eq=False)
class _Evidence:
    """The batch's outcomes and, per trade, the time cluster its signal bar falls in."""

    outcomes: FloatArray
    clusters: IntArray

    @classmethod
    def of(cls, batch: ChaosBatch) -> _Evidence:
        span = timeframe_ns(batch.timeframe) * (int(batch.hold.max()) if len(batch) else 1)
        _, clusters = np.unique(batch.signal_ns // span, return_inverse=True)
        return cls(batch.net_return, clusters.astype(np.int64))


@dataclass(frozen=True, slots=True)
class _Support:
    """What a rule must select to be scored: enough trades, from enough spans of time."""

    trades: int
    clusters: int


@dataclass(frozen=True, slots=True, eq=False)
class _Rule:
    side: Side
    conditions: tuple[Condition, ...]
    mask: BoolArray  # over the batch's trades: the side's trades the conditions select
    mean: float
    t_stat: float

    @property
    def key(self) -> tuple[str, frozenset[tuple[str, str]]]:
        return self.side.value, frozenset((c.feature, c.op) for c in self.conditions)

    @property
    def text(self) -> str:
        return " and ".join(str(c) for c in self.conditions)


def extract_patterns(
    batch: ChaosBatch,
    *,
    top: int = 8,
    min_support: int = 15,
    min_clusters: int = 10,
    quantiles: Sequence[float] = DECILES,
    shortlist: int = 12,
    stops: bool = False,
) -> tuple[Pattern, ...]:
    """Return the `top` candidate patterns of `batch`, best first (see `extract_candidates`)."""
    found = extract_candidates(
        batch,
        top=top,
        min_support=min_support,
        min_clusters=min_clusters,
        quantiles=quantiles,
        shortlist=shortlist,
        stops=stops,
    )
    return tuple(candidate.pattern for candidate in found)


def extract_candidates(
    batch: ChaosBatch,
    *,
    top: int = 8,
    min_support: int = 15,
    min_clusters: int = 10,
    quantiles: Sequence[float] = DECILES,
    shortlist: int = 12,
    stops: bool = False,
) -> tuple[Candidate, ...]:
    """Return up to `top` candidates from `batch`, by in-sample t-statistic, best first.

    Singles are conditions at `quantiles` of each feature; the `shortlist` best singles of a
    side (one per feature and op) are paired. A rule is scored only with `min_support` trades
    from `min_clusters` spans of time (each as long as the batch's longest hold). Each
    candidate's pattern (source CHAOS, on the batch's timeframe) holds for the median hold of
    its supporting trades; with `stops`, it also takes profit at the 90th percentile of their
    price moves and stops out at the 10th (where those are gains and losses). Deterministic:
    ties go to the rule's text. Candidates are emitted whatever their sign: on a market
    without an edge the best are still proposed, and the loop's out-of-sample scoring turns
    them down.
    """
    if min_support < 2 or min_clusters < 2:
        msg = (
            "expected a minimum support of at least 2 trades and 2 clusters, found "
            f"{min_support} and {min_clusters}"
        )
        raise ValueError(msg)
    support = _Support(min_support, min_clusters)
    if top < 1 or shortlist < 1:
        raise ValueError(f"expected top and shortlist of at least 1, found {top} and {shortlist}")
    singles = _single_conditions(batch, quantiles)
    evidence = _Evidence.of(batch)
    rules: list[_Rule] = []
    for side in (Side.LONG, Side.SHORT):
        on_side = batch.side == side.sign
        scored = [
            rule
            for condition, mask in singles
            if (rule := _scored(side, (condition,), mask & on_side, evidence, support))
        ]
        rules += scored
        rules += _pairs(_best_per_key(scored)[:shortlist], evidence, support)
    chosen: list[Candidate] = []
    seen: set[str] = set()
    for rule in _best_per_key(rules):
        pattern = _pattern(rule, batch, stops=stops)
        if pattern.id in seen:
            continue
        seen.add(pattern.id)
        chosen.append(Candidate(pattern, int(rule.mask.sum()), rule.mean, rule.t_stat))
        if len(chosen) == top:
            break
    return tuple(chosen)


def _single_conditions(
    batch: ChaosBatch, quantiles: Sequence[float]
) -> list[tuple[Condition, BoolArray]]:
    """Return every `feature op q` at the batch's quantiles of the feature, with its mask."""
    singles = []
    for j, feature in enumerate(batch.features):
        column = batch.values[:, j]
        known = column[~np.isnan(column)]
        if len(known) == 0:
            continue
        for threshold in np.unique(np.quantile(known, quantiles, method="inverted_cdf")).tolist():
            with np.errstate(invalid="ignore"):  # NaN: still warming up, so the condition fails
                below, above = column < threshold, column > threshold
            singles.append((Condition(feature, "<", threshold), below))
            singles.append((Condition(feature, ">", threshold), above))
    return singles


def _scored(
    side: Side,
    conditions: tuple[Condition, ...],
    mask: BoolArray,
    evidence: _Evidence,
    support: _Support,
) -> _Rule | None:
    """Return the rule with its t-statistic, or None below the support or with no spread.

    The standard error is clustered by time: chaos trades whose holds overlap ride the same
    prices, so they are not independent draws, and the plain t-statistic would count one
    lucky week many times over (on a random walk it reaches 6 and more). Trades are grouped
    by the span of the longest hold their signal bar falls in, and the mean's variance is the
    sum of each group's squared residual sum (the cluster-robust, CR1 estimate). A rule whose
    trades fall in fewer than `support.clusters` groups is one stretch of history, not
    evidence, and that estimate is unreliable with so few groups: it is not scored.
    """
    n = int(mask.sum())
    if n < support.trades:
        return None
    outcomes = evidence.outcomes[mask]
    mean = float(np.mean(outcomes))
    groups = evidence.clusters[mask]
    sums = np.bincount(groups, weights=outcomes - mean)
    used = int(np.count_nonzero(np.bincount(groups)))
    if used < support.clusters:
        return None
    variance = float(np.sum(sums * sums)) / (n * n) * used / (used - 1)
    if not variance > 0.0:
        return None
    return _Rule(side, conditions, mask, mean, mean / math.sqrt(variance))


def _pairs(best: Sequence[_Rule], evidence: _Evidence, support: _Support) -> list[_Rule]:
    """Return the pairs of `best` singles that beat both their halves."""
    pairs = []
    for i, first in enumerate(best):
        for second in best[i + 1 :]:
            conditions = (*first.conditions, *second.conditions)
            rule = _scored(first.side, conditions, first.mask & second.mask, evidence, support)
            if rule is not None and rule.t_stat > max(first.t_stat, second.t_stat):
                pairs.append(rule)
    return pairs


def _best_per_key(rules: Sequence[_Rule]) -> list[_Rule]:
    """Return the rules best first, keeping the best threshold of each side and (feature, op) set.

    Ten thresholds of one idea would otherwise fill the list; the loop's mutation tunes a
    threshold later, so one of each is what extraction owes it.
    """
    ranked = sorted(rules, key=lambda rule: (-rule.t_stat, rule.side.value, rule.text))
    kept: dict[tuple[str, frozenset[tuple[str, str]]], _Rule] = {}
    for rule in ranked:
        kept.setdefault(rule.key, rule)
    return list(kept.values())


def _pattern(rule: _Rule, batch: ChaosBatch, *, stops: bool) -> Pattern:
    holds = np.sort(batch.hold[rule.mask])
    max_bars = int(holds[(len(holds) - 1) // 2])  # the lower median: a hold that was traded
    take_profit = stop_loss = None
    if stops:
        # The price move each trade made, before fees (the move take-profit and stop-loss read).
        keep = (1.0 - batch.fee_rate) / (1.0 + batch.fee_rate)
        moves = (1.0 + batch.net_return[rule.mask]) / keep - 1.0
        low, high = (float(q) for q in np.quantile(moves, _STOP_QUANTILES))
        take_profit = high if high > 0.0 else None
        stop_loss = -low if low < 0.0 else None
    conditions = tuple(sorted(rule.conditions, key=_order))
    return Pattern(
        entry=conditions,
        side=rule.side,
        exit=Exit(max_bars, take_profit=take_profit, stop_loss=stop_loss),
        timeframe=batch.timeframe,
        source=Source.CHAOS,
    )


def _order(condition: Condition) -> tuple[str, Op, float]:
    return condition.feature, condition.op, condition.threshold
