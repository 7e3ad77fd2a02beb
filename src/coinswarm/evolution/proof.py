"""Calling a pattern proven: out-of-sample evidence, the statistics that guard it, and reasons.

A pattern is proven only when every check of the run's `ProofThresholds` passes on its
walk-forward out-of-sample record, after fees, and the search that found it is not overfit
as a whole. Each failed check becomes a reason a person reads ("deflated Sharpe 0.41 < 0.95"),
so "nothing proven" always says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinswarm.evolution.config import ProofThresholds
from coinswarm.evolution.dataset import Market
from coinswarm.evolution.scoring import DAYS_PER_YEAR, WindowResult
from coinswarm.evolution.statistics.pbo import probability_of_backtest_overfitting
from coinswarm.evolution.statistics.sharpe import deflated_sharpe_ratio, sharpe_ratio
from coinswarm.evolution.statistics.significance import (
    RandomEntryTest,
    random_entry_totals,
    reality_check,
)

__all__ = [
    "Evidence",
    "SearchEvidence",
    "failed_checks",
    "holdout_reason",
    "judge_pattern",
    "judge_search",
]

FloatArray = npt.NDArray[np.float64]
RANDOM_ENTRY_DRAWS = 2_000
PBO_PARTITIONS = 16


@dataclass(frozen=True, slots=True)
class SearchEvidence:
    """What holds for the whole search: how many trials, and whether it overfit."""

    n_trials: int
    trial_sharpe_variance: float  # of the judged patterns' daily out-of-sample Sharpes
    pbo: float | None  # None when too few candidates or days to measure it
    reality_check_p: float | None  # Hansen SPA (consistent), best out-of-sample vs hold


@dataclass(frozen=True, slots=True)
class Evidence:
    """One pattern's out-of-sample record and the verdict on it."""

    pattern_id: str
    trades: int
    sharpe: float  # annualised, out of sample, after fees
    net_return: float
    deflated_sharpe: float
    random_entry_p: float
    reasons: tuple[str, ...]  # each failed check; empty when proven
    trade_mean: float | None = None  # of the trades' net returns (None without a trade)
    trade_std: float | None = None  # their sample deviation (None under two trades)

    @property
    def proven(self) -> bool:
        return not self.reasons


def judge_search(
    n_trials: int,
    judged_daily: Sequence[FloatArray],
    research_daily: FloatArray,
    out_of_sample_daily: FloatArray,
    hold_daily: FloatArray,
    *,
    seed: int,
) -> SearchEvidence:
    """Measure the search: the spread of the judged patterns' out-of-sample Sharpes (one
    daily record each), PBO over every candidate's daily record across the research span
    (days x candidates), and the reality check of the out-of-sample records against hold."""
    # The deflated Sharpe judges a pattern's out-of-sample record, so the spread it needs is
    # that of the judged patterns' Sharpes on those same days; N stays every trial run.
    sharpes = np.array([sharpe_ratio(d) for d in judged_daily if len(d) >= 2])
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
    pbo = None
    days, candidates = research_daily.shape
    if candidates >= 2 and days >= 4 * PBO_PARTITIONS:
        pbo = probability_of_backtest_overfitting(research_daily, PBO_PARTITIONS).pbo
    spa = None
    if out_of_sample_daily.shape[1] >= 1 and out_of_sample_daily.shape[0] >= 10:
        spa = reality_check(out_of_sample_daily, hold_daily, seed).spa_consistent
    return SearchEvidence(n_trials, variance, pbo, spa)


def judge_pattern(
    pattern_id: str,
    records: Sequence[WindowResult],
    search: SearchEvidence,
    thresholds: ProofThresholds,
    *,
    markets: Sequence[Market],
    side: int,
    fee_rate: float,
    seed: int,
) -> Evidence:
    """Judge one pattern on its out-of-sample records (one per fold it was scored on).

    `markets` are the instruments the records were traded on (on the pattern's timeframe):
    the random-entry test draws on their bars.
    """
    daily = np.concatenate([r.daily for r in records]) if records else np.zeros(0)
    trades = sum(r.trades for r in records)
    sharpe = _annualised_sharpe(daily)
    net = math.expm1(float(np.sum(daily)))
    dsr = 0.0
    if len(daily) >= 2 and np.std(daily) > 0:
        variance = search.trial_sharpe_variance
        dsr = deflated_sharpe_ratio(daily, max(1, search.n_trials), variance).dsr
    fee_log_cost = math.log((1 + fee_rate) / (1 - fee_rate))
    by_name = {market.series.instrument: market for market in markets}
    p_random = _random_entry_p(records, by_name, side=side, fee_log_cost=fee_log_cost, seed=seed)
    reasons = failed_checks(
        thresholds, search, trades=trades, sharpe=sharpe, net=net, dsr=dsr, p_random=p_random
    )
    outcomes = np.concatenate([r.trade_returns for r in records] or [np.zeros(0)])
    return Evidence(
        pattern_id,
        trades,
        sharpe,
        net,
        dsr,
        p_random,
        reasons,
        trade_mean=float(np.mean(outcomes)) if len(outcomes) else None,
        trade_std=float(np.std(outcomes, ddof=1)) if len(outcomes) > 1 else None,
    )


def holdout_reason(result: WindowResult, thresholds: ProofThresholds) -> str | None:
    """Return why a proven pattern fails its holdout, or None when it passes."""
    if result.net_return < thresholds.min_holdout_return:
        return f"holdout net return {result.net_return:.2%} < {thresholds.min_holdout_return:.2%}"
    return None


def failed_checks(
    thresholds: ProofThresholds,
    search: SearchEvidence,
    *,
    trades: int,
    sharpe: float,
    net: float,
    dsr: float,
    p_random: float | None,
) -> tuple[str, ...]:
    """Return the reason of each check an out-of-sample record fails (empty: it passes).

    `p_random` None: the random-entry test does not apply (a strategy that sizes and exits
    its own trades, not one rule's), and is not checked.
    """
    checks = [
        (trades >= thresholds.min_trades, f"{trades} trades < {thresholds.min_trades}"),
        (net > 0, f"net return {net:.2%} after fees is not positive"),
        (sharpe >= thresholds.min_sharpe, f"Sharpe {sharpe:.2f} < {thresholds.min_sharpe}"),
        (
            dsr >= thresholds.min_deflated_sharpe,
            f"deflated Sharpe {dsr:.2f} < {thresholds.min_deflated_sharpe} "
            f"for {search.n_trials} trials",
        ),
        (
            p_random is None or p_random <= thresholds.max_random_entry_p,
            f"random-entry p {p_random or 0:.3f} > {thresholds.max_random_entry_p}",
        ),
        (
            search.pbo is None or search.pbo <= thresholds.max_pbo,
            f"the search's PBO {search.pbo or 0:.2f} > {thresholds.max_pbo}",
        ),
        (
            search.reality_check_p is None
            or search.reality_check_p <= thresholds.max_reality_check_p,
            f"the search's SPA p {search.reality_check_p or 0:.3f} > "
            f"{thresholds.max_reality_check_p}",
        ),
    ]
    return tuple(reason for passed, reason in checks if not passed)


def _annualised_sharpe(daily: FloatArray) -> float:
    if len(daily) < 2:
        return 0.0
    sd = float(np.std(daily, ddof=1))
    return 0.0 if sd == 0 else float(np.mean(daily)) / sd * math.sqrt(DAYS_PER_YEAR)


def _random_entry_p(
    records: Sequence[WindowResult],
    markets: Mapping[str, Market],
    *,
    side: int,
    fee_log_cost: float,
    seed: int,
) -> float:
    """Whether the trades' timing beat the same trades at random entries, over every record.

    Each instrument of each record is drawn on its own bars, `draws` times; draw i of every
    instrument belongs to one imagined run, so the totals add draw by draw.
    """
    actual = 0.0
    totals = np.zeros(RANDOM_ENTRY_DRAWS)
    seen = 0
    for record in records:
        for trades in record.per_instrument:
            if len(trades.entries) == 0:
                continue
            market = markets[trades.instrument]
            one, draws = random_entry_totals(
                market.log_returns(trades.start, trades.start + trades.bars),
                trades.entries,
                np.clip(trades.lengths, 1, trades.bars - trades.entries),
                side=side,
                fee_log_cost=fee_log_cost,
                draws=RANDOM_ENTRY_DRAWS,
                seed=np.random.default_rng([seed, seen]),
            )
            actual += one
            totals += draws
            seen += 1
    if not seen:
        return 1.0
    return RandomEntryTest.of(actual, totals).p_value
