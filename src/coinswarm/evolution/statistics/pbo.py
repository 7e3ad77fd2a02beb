"""The probability of backtest overfitting, by combinatorially symmetric cross-validation.

Bailey, Borwein, Lopez de Prado & Zhu, "The Probability of Backtest Overfitting" (Journal of
Computational Finance 20(4), 2016). The T bars of a T x N returns matrix (N candidates) are cut
into S contiguous blocks. For each of the C(S, S/2) ways to pick half the blocks as in-sample
(IS), the rest out-of-sample (OOS):

* the candidate with the best IS per-period Sharpe ratio is chosen (the lowest index among
  equal ones);
* its OOS relative rank is w = r / (N + 1), where r = 1 + (candidates with a lower OOS Sharpe
  ratio) + (other candidates with an equal one) / 2, the average rank of a tie (as
  `scipy.stats.rankdata` gives it); the logit is log(w / (1 - w));
* PBO is the share of combinations with logit <= 0: the IS winner did no better than the OOS
  median (the paper's indicator on (-inf, 0]).

Performance degradation is the least-squares line of the chosen candidates' OOS Sharpe ratio
on their IS one (slope 0 and the mean OOS Sharpe ratio as intercept when the IS ones do not
vary); the probability of OOS loss is the share of combinations whose chosen candidate has an
OOS Sharpe ratio below 0.

"Equal" and "below" are up to `SHARPE_TIE`: Sharpe ratios that differ by less are equal. Ties
are not rare: a candidate with one trading bar in a half has Sharpe ratio +-1/sqrt(n) there
whatever its size, and two such candidates must tie however their sums were rounded. The
tolerance is far above the rounding that separates two computations of one value (about 1e-15
for real returns) and far below any difference worth choosing on.

Block b holds bars floor(b T / S) .. floor((b + 1) T / S) - 1, so T need not be a multiple of S
and no bar is dropped. Each half concatenates its blocks in time order; the Sharpe ratio is
`stats.sharpe_ratios` (ddof=1, 0 for a constant series).

`probability_of_backtest_overfitting` works from per-block sums and sums of squares: a 0/1
matrix of which blocks each combination holds turns them into IS sums by one matrix product
per chunk of combinations, and the OOS sums are the totals minus those. A combination and its
complement swap IS and OOS, so only the half of the combinations holding block 0 are computed
and each serves twice. `probability_of_backtest_overfitting_reference` concatenates the rows of
every combination and computes each Sharpe ratio directly; the tests hold the two to the same
choices and ranks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinswarm.evolution.statistics.sharpe import CONSTANT_VARIANCE_SHARE, FloatArray, sharpe_ratios

__all__ = [
    "DEFAULT_MAX_CHUNK_BYTES",
    "SHARPE_TIE",
    "PboResult",
    "probability_of_backtest_overfitting",
    "probability_of_backtest_overfitting_reference",
]

IntArray = npt.NDArray[np.int64]

DEFAULT_MAX_CHUNK_BYTES = 256 * 1024 * 1024
SHARPE_TIE = 1e-9
# Working arrays of (combinations in a chunk) x N float64 alive at once in `_evaluate_chunk`:
# the product (two), the OOS sums (two), the two Sharpe matrices and the temporaries of one
# Sharpe computation and one comparison.
_ARRAYS_PER_CHUNK = 10


@dataclass(frozen=True, slots=True, eq=False)
class PboResult:
    """CSCV's verdict on a set of candidates; arrays hold one entry per combination.

    Combinations are in the order of `itertools.combinations(range(S), S // 2)` applied to the
    IS blocks. The arrays are read-only.
    """

    pbo: float
    logits: FloatArray
    n_combinations: int
    n_candidates: int  # N
    n_partitions: int  # S
    degradation_slope: float  # OOS Sharpe ratio ~ intercept + slope * IS Sharpe ratio
    degradation_intercept: float
    prob_oos_loss: float
    chosen: IntArray  # the candidate chosen in sample
    is_sharpe: FloatArray  # its per-period Sharpe ratio in sample
    oos_sharpe: FloatArray  # and out of sample


@dataclass(frozen=True, slots=True)
class _Choices:
    """What each combination chose and how its choice ranked out of sample."""

    chosen: IntArray
    is_sharpe: FloatArray
    oos_sharpe: FloatArray
    lower: IntArray  # candidates with a strictly lower OOS Sharpe ratio
    ties: IntArray  # other candidates with an equal OOS Sharpe ratio


_NOT_FINITE = "expected finite returns whose squares are finite, found NaN, infinity or overflow"


def _validated(returns: npt.ArrayLike, n_partitions: int) -> FloatArray:
    """Return the returns as a float64 matrix after checking its shape (not its values)."""
    matrix = np.asarray(returns, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"expected a T x N returns matrix, found shape {matrix.shape}")
    bars, candidates = matrix.shape
    if n_partitions < 2 or n_partitions % 2:
        raise ValueError(f"S (partitions) must be an even number >= 2, found {n_partitions}")
    if bars < n_partitions:
        raise ValueError(
            f"S={n_partitions} partitions need at least {n_partitions} bars, found T={bars}"
        )
    if candidates < 2:
        raise ValueError(f"PBO compares candidates: expected N >= 2, found N={candidates}")
    return matrix


def _bounds(bars: int, n_partitions: int) -> list[int]:
    return [b * bars // n_partitions for b in range(n_partitions + 1)]


def _combinations(n_partitions: int) -> list[tuple[int, ...]]:
    return list(itertools.combinations(range(n_partitions), n_partitions // 2))


def _frozen(array: npt.NDArray[np.generic]) -> None:
    array.flags.writeable = False


def _summarise(choices: _Choices, n_candidates: int, n_partitions: int) -> PboResult:
    doubled_rank = 2 * choices.lower + choices.ties + 2  # twice the average rank, exactly
    doubled_total = 2 * (n_candidates + 1)
    logits = np.log(doubled_rank / (doubled_total - doubled_rank))
    x, y = choices.is_sharpe, choices.oos_sharpe
    x_spread = x - x.mean()
    spread = float(x_spread @ x_spread)
    slope = float(x_spread @ (y - y.mean())) / spread if spread > 0 else 0.0
    intercept = float(y.mean()) - slope * float(x.mean())
    for array in (logits, choices.chosen, x, y):
        _frozen(array)
    return PboResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        n_combinations=int(logits.size),
        n_candidates=n_candidates,
        n_partitions=n_partitions,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(y < -SHARPE_TIE)),
        chosen=choices.chosen,
        is_sharpe=x,
        oos_sharpe=y,
    )


def probability_of_backtest_overfitting_reference(
    returns: npt.ArrayLike, n_partitions: int = 16
) -> PboResult:
    """Return CSCV's PBO by the plain route: every combination's rows, every Sharpe ratio.

    The definition the fast version is tested against; about an hour for 10,000 candidates x
    8,760 bars (see benchmarks/bench_pbo.py).
    """
    matrix = _validated(returns, n_partitions)
    with np.errstate(over="ignore"):  # an overflow is what the check looks for
        finite = bool(np.isfinite(matrix * matrix).all())
    if not finite:
        raise ValueError(_NOT_FINITE)
    bounds = _bounds(matrix.shape[0], n_partitions)
    blocks = [matrix[bounds[b] : bounds[b + 1]] for b in range(n_partitions)]
    combinations = _combinations(n_partitions)
    size = len(combinations)
    chosen = np.empty(size, dtype=np.int64)
    is_sharpe = np.empty(size, dtype=np.float64)
    oos_sharpe = np.empty(size, dtype=np.float64)
    lower = np.empty(size, dtype=np.int64)
    ties = np.empty(size, dtype=np.int64)
    outputs = (chosen, is_sharpe, oos_sharpe, lower, ties)
    for index, in_sample in enumerate(combinations):
        out_of_sample = [b for b in range(n_partitions) if b not in in_sample]
        is_ratios = sharpe_ratios(np.concatenate([blocks[b] for b in in_sample]))
        oos_ratios = sharpe_ratios(np.concatenate([blocks[b] for b in out_of_sample]))
        choice = _rank_choice(is_ratios[np.newaxis, :], oos_ratios[np.newaxis, :])
        for output, values in zip(outputs, choice, strict=True):
            output[index] = values[0]
    choices = _Choices(chosen, is_sharpe, oos_sharpe, lower, ties)
    return _summarise(choices, matrix.shape[1], n_partitions)


def _block_moments(matrix: FloatArray, bounds: list[int]) -> tuple[FloatArray, FloatArray]:
    """Return each block's column sums and sums of squares, S x N each."""
    n_blocks = len(bounds) - 1
    sums = np.empty((n_blocks, matrix.shape[1]), dtype=np.float64)
    squares = np.empty_like(sums)
    for b in range(n_blocks):
        block = matrix[bounds[b] : bounds[b + 1]]
        sums[b] = block.sum(axis=0)
        squares[b] = np.einsum("ij,ij->j", block, block)
    return sums, squares


def _sharpe_from_sums(sums: FloatArray, squares: FloatArray, rows: FloatArray) -> FloatArray:
    """Return per-period Sharpe ratios from sums and sums of squares over `rows` bars each.

    Works in place on `sums` (it becomes the result); one row per combination.
    """
    inverse_rows = (1.0 / rows)[:, np.newaxis]
    inverse_dof = (1.0 / np.maximum(rows - 1.0, 1.0))[:, np.newaxis]
    mean = np.multiply(sums, inverse_rows, out=sums)
    squared_deviations = mean * (mean * rows[:, np.newaxis])  # s^2 / n
    np.subtract(squares, squared_deviations, out=squared_deviations)
    constant = squared_deviations <= squares * CONSTANT_VARIANCE_SHARE
    constant[rows < 2] = True
    np.copyto(squared_deviations, 1.0, where=constant)
    np.multiply(squared_deviations, inverse_dof, out=squared_deviations)
    np.sqrt(squared_deviations, out=squared_deviations)
    np.divide(mean, squared_deviations, out=mean)
    np.copyto(mean, 0.0, where=constant)
    return mean


def _rank_choice(
    is_ratios: FloatArray, oos_ratios: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray, IntArray, IntArray]:
    """Choose the IS best of each row and count where it falls among that row's OOS ratios.

    Both implementations decide here, so ties (up to `SHARPE_TIE`) fall alike.
    """
    rows = np.arange(is_ratios.shape[0])
    best = is_ratios.max(axis=1) - SHARPE_TIE
    pick = np.argmax(is_ratios >= best[:, np.newaxis], axis=1)  # the first of the best
    value = oos_ratios[rows, pick][:, np.newaxis]
    lower = np.count_nonzero(oos_ratios < value - SHARPE_TIE, axis=1)
    ties = np.count_nonzero(oos_ratios <= value + SHARPE_TIE, axis=1) - lower - 1
    return (
        pick.astype(np.int64),
        is_ratios[rows, pick],
        value[:, 0],
        lower.astype(np.int64),
        ties.astype(np.int64),
    )


def probability_of_backtest_overfitting(
    returns: npt.ArrayLike,
    n_partitions: int = 16,
    *,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> PboResult:
    """Return CSCV's PBO of the candidates (columns) of a T x N per-period returns matrix.

    `n_partitions` is S, even (the paper suggests 16: 12,870 combinations). Working memory
    beyond the input and its per-block sums is about `max_chunk_bytes`. Same choices, ranks and
    logits as `probability_of_backtest_overfitting_reference`; the Sharpe ratios come from sums
    rather than from the rows, so they agree with it to rounding.
    """
    matrix = _validated(returns, n_partitions)
    bars, candidates = matrix.shape
    bounds = _bounds(bars, n_partitions)
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        sums, squares = _block_moments(matrix, bounds)
    # A NaN or infinity anywhere leaves its block's sum or sum of squares non-finite (so does a
    # square that overflows): checking S x N sums spares a pass over the T x N input.
    if not (np.isfinite(sums).all() and np.isfinite(squares).all()):
        raise ValueError(_NOT_FINITE)
    moments = np.concatenate([sums, squares], axis=1)  # S x 2N: one product gives both
    total = moments.sum(axis=0)
    block_rows = np.diff(np.asarray(bounds, dtype=np.float64))

    combinations = _combinations(n_partitions)
    position = {combination: index for index, combination in enumerate(combinations)}
    everything = frozenset(range(n_partitions))
    halves = [c for c in combinations if c[0] == 0]
    own = np.asarray([position[c] for c in halves], dtype=np.int64)
    complements = np.asarray(
        [position[tuple(sorted(everything - set(c)))] for c in halves], dtype=np.int64
    )
    membership = np.zeros((len(halves), n_partitions), dtype=np.float64)
    for row, combination in enumerate(halves):
        membership[row, list(combination)] = 1.0

    size = len(combinations)
    chosen = np.empty(size, dtype=np.int64)
    is_sharpe = np.empty(size, dtype=np.float64)
    oos_sharpe = np.empty(size, dtype=np.float64)
    lower = np.empty(size, dtype=np.int64)
    ties = np.empty(size, dtype=np.int64)
    outputs = (chosen, is_sharpe, oos_sharpe, lower, ties)

    chunk = max(1, max_chunk_bytes // (_ARRAYS_PER_CHUNK * 8 * candidates))
    for start in range(0, len(halves), chunk):
        stop = min(start + chunk, len(halves))
        weights = membership[start:stop]
        half_a = weights @ moments
        half_b = total - half_a  # before `_sharpe_from_sums` overwrites half_a's sums
        rows_a = weights @ block_rows
        sharpe_a = _sharpe_from_sums(half_a[:, :candidates], half_a[:, candidates:], rows_a)
        sharpe_b = _sharpe_from_sums(half_b[:, :candidates], half_b[:, candidates:], bars - rows_a)
        # The combination holding block 0 has half A in sample; its complement has half B.
        for targets, is_ratios, oos_ratios in (
            (own[start:stop], sharpe_a, sharpe_b),
            (complements[start:stop], sharpe_b, sharpe_a),
        ):
            for output, values in zip(outputs, _rank_choice(is_ratios, oos_ratios), strict=True):
                output[targets] = values
    choices = _Choices(chosen, is_sharpe, oos_sharpe, lower, ties)
    return _summarise(choices, candidates, n_partitions)
