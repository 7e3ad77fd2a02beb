"""Is the best pattern better than luck? Bootstrap tests against a benchmark and random entries.

* `reality_check`: White's Reality Check ("A Reality Check for Data Snooping", Econometrica
  68(5), 2000) and Hansen's Superior Predictive Ability p-values ("A Test for Superior
  Predictive Ability", JBES 23(4), 2005) of the best of N candidates against a benchmark
  (buy-and-hold), by `arch.bootstrap.SPA` with the stationary bootstrap. The null is that no
  candidate's mean per-period return beats the benchmark's.
* `random_entry_test`: the trades as placed against the same number of trades, with the same
  holding lengths, entered at uniformly random bars: does the entry timing carry information?
  `random_entry_totals` gives the draws themselves, to sum over several instruments.

Both draw every random number from the seed or Generator they are given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from arch.bootstrap import SPA

from coinswarm.evolution.statistics.sharpe import FloatArray

__all__ = [
    "RandomEntryTest",
    "RealityCheck",
    "random_entry_test",
    "random_entry_totals",
    "reality_check",
]

# Bounds the random-entry draws' working arrays (draws x trades) to about 32 MB of int64.
_RANDOM_ENTRY_CELLS = 4_000_000


@dataclass(frozen=True, slots=True)
class RealityCheck:
    """The p-values of "no candidate beats the benchmark", and the best candidate."""

    white_pvalue: float  # White's Reality Check: every candidate recentred (arch's "upper")
    spa_consistent: float  # Hansen's SPA p-values under his three recentring rules
    spa_lower: float
    spa_upper: float
    best_candidate: int  # the column with the highest mean return over the benchmark
    best_mean_excess: float  # that mean, per period
    reps: int
    block_size: int  # the stationary bootstrap's mean block length, in periods


@dataclass(frozen=True, slots=True)
class RandomEntryTest:
    """Trades as placed against trades at random entries, in total net log return."""

    actual: float
    random_mean: float
    random_std: float  # ddof=1 over the draws; 0 with one draw
    p_value: float  # (1 + draws with a total >= actual) / (1 + draws)
    draws: int

    @classmethod
    def of(cls, actual: float, totals: FloatArray) -> RandomEntryTest:
        """Summarise the actual total against the random draws' totals.

        Several instruments: sum their actuals, and their `random_entry_totals` draw by draw.
        """
        if totals.ndim != 1 or totals.size == 0:
            raise ValueError(f"expected a 1-D array of draws' totals, found shape {totals.shape}")
        return cls(
            actual=actual,
            random_mean=float(totals.mean()),
            random_std=float(totals.std(ddof=1)) if totals.size > 1 else 0.0,
            p_value=(1 + int(np.count_nonzero(totals >= actual))) / (1 + totals.size),
            draws=int(totals.size),
        )


def reality_check(
    candidate_returns: npt.ArrayLike,
    benchmark_returns: npt.ArrayLike,
    seed: int | np.random.Generator,
    reps: int = 1000,
    block_size: int | None = None,
) -> RealityCheck:
    """Test whether the best of the candidates (T x N per-period returns) beats the benchmark.

    Losses are negated returns. `block_size` is the stationary bootstrap's mean block length
    (arch's default: sqrt(T)). An integer `seed` gives the same p-values on every call; a
    Generator is advanced.

    arch 8.0.0 bootstraps the plain mean loss differentials: its `studentize` flag changes
    nothing but a label (checked: equal p-values either way), and the variance it estimates is
    used only for the consistent p-value's threshold. So the statistic is White's, `spa_upper`
    (every candidate recentred) is White's Reality Check exactly, and the consistent and lower
    p-values are Hansen's recentring rules applied to it, not his studentised statistic. The
    variance estimate costs O(T^2 N) (about 1.7 s for T=8760, N=20): pass a shortlist.
    """
    candidates = np.asarray(candidate_returns, dtype=np.float64)
    benchmark = np.asarray(benchmark_returns, dtype=np.float64)
    if candidates.ndim != 2 or benchmark.ndim != 1:
        raise ValueError(
            f"expected T x N candidate returns and T benchmark returns, found shapes"
            f" {candidates.shape} and {benchmark.shape}"
        )
    if candidates.shape[0] != benchmark.shape[0] or candidates.shape[0] < 2:
        raise ValueError(
            f"expected the same T >= 2 bars for candidates and benchmark, found"
            f" {candidates.shape[0]} and {benchmark.shape[0]}"
        )
    if not (np.isfinite(candidates).all() and np.isfinite(benchmark).all()):
        raise ValueError("expected finite returns, found NaN or infinity")
    if reps < 1:
        raise ValueError(f"reps must be at least 1, found {reps}")
    spa = SPA(-benchmark, -candidates, block_size=block_size, reps=reps, seed=seed)
    spa.compute()
    pvalues = spa.pvalues
    excess = (candidates - benchmark[:, np.newaxis]).mean(axis=0)
    best = int(np.argmax(excess))
    return RealityCheck(
        white_pvalue=float(pvalues["upper"]),
        spa_consistent=float(pvalues["consistent"]),
        spa_lower=float(pvalues["lower"]),
        spa_upper=float(pvalues["upper"]),
        best_candidate=best,
        best_mean_excess=float(excess[best]),
        reps=reps,
        block_size=int(spa.block_size),
    )


def _trades(
    bars: int, trade_entries: npt.ArrayLike, trade_lengths: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    entries = np.asarray(trade_entries, dtype=np.int64)
    lengths = np.asarray(trade_lengths, dtype=np.int64)
    if entries.ndim != 1 or entries.shape != lengths.shape or entries.size == 0:
        raise ValueError(
            f"expected equal, non-empty 1-D entries and lengths, found shapes"
            f" {entries.shape} and {lengths.shape}"
        )
    if (lengths < 1).any() or (lengths > bars).any():
        raise ValueError(f"every trade length must be 1..{bars} bars")
    if (entries < 0).any() or (entries + lengths > bars).any():
        raise ValueError(f"every trade must lie within the {bars} bars (entry + length <= T)")
    return entries, lengths


def random_entry_totals(
    bar_log_returns: npt.ArrayLike,
    trade_entries: npt.ArrayLike,
    trade_lengths: npt.ArrayLike,
    *,
    side: int,
    fee_log_cost: float,
    draws: int,
    seed: int | np.random.Generator,
) -> tuple[float, FloatArray]:
    """Return the trades' total net log return and the totals of `draws` random placements.

    A trade entered at bar e for L bars earns side * (r[e] + ... + r[e + L - 1]) -
    `fee_log_cost`, r the market's per-bar log returns (no fees in them) and `fee_log_cost` a
    trade's round-trip cost as a positive log return (fee rate f per side: log((1 + f) / (1 -
    f))). Each draw keeps every trade's length and moves its entry to a uniform bar in
    0..T - L, so no trade runs past the end; random trades may overlap one another. The draws
    are made a chunk at a time (bounded memory); the chunk does not change them.
    """
    returns = np.asarray(bar_log_returns, dtype=np.float64)
    if returns.ndim != 1 or returns.size == 0 or not np.isfinite(returns).all():
        raise ValueError("expected a non-empty 1-D series of finite bar log returns")
    if side not in (1, -1):
        raise ValueError(f"side must be +1 (long) or -1 (short), found {side}")
    if not (math.isfinite(fee_log_cost) and fee_log_cost >= 0):
        raise ValueError(f"fee_log_cost must be finite and >= 0, found {fee_log_cost}")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, found {draws}")
    bars = returns.size
    entries, lengths = _trades(bars, trade_entries, trade_lengths)
    cumulative = np.concatenate([[0.0], np.cumsum(returns)])
    cost = fee_log_cost * entries.size

    def total(starts: npt.NDArray[np.int64]) -> FloatArray:
        gains = (cumulative[starts + lengths] - cumulative[starts]).sum(axis=-1)
        return np.asarray(side * gains - cost, dtype=np.float64)

    rng = np.random.default_rng(seed)
    highs = bars - lengths + 1
    chunk = max(1, _RANDOM_ENTRY_CELLS // entries.size)
    totals = np.concatenate(
        [
            total(rng.integers(0, highs, size=(min(chunk, draws - done), entries.size)))
            for done in range(0, draws, chunk)
        ]
    )
    # The same sum as every draw's, so a draw that lands on the actual entries ties exactly.
    return float(total(entries[np.newaxis, :])[0]), totals


def random_entry_test(
    bar_log_returns: npt.ArrayLike,
    trade_entries: npt.ArrayLike,
    trade_lengths: npt.ArrayLike,
    *,
    side: int,
    fee_log_cost: float,
    draws: int,
    seed: int | np.random.Generator,
) -> RandomEntryTest:
    """Compare the trades' total net log return with that of trades at random entry bars.

    One instrument; the terms are `random_entry_totals`'. The p-value is (1 + draws whose total
    is >= the actual) / (1 + draws).
    """
    actual, totals = random_entry_totals(
        bar_log_returns,
        trade_entries,
        trade_lengths,
        side=side,
        fee_log_cost=fee_log_cost,
        draws=draws,
        seed=seed,
    )
    return RandomEntryTest.of(actual, totals)
