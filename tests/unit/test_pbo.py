"""PBO by CSCV (evolution.statistics.pbo): the fast version makes the reference's choices
exactly, noise is overfit about half the time, a real edge almost never, and bad shapes are
refused."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.evolution.statistics.pbo import (
    probability_of_backtest_overfitting,
    probability_of_backtest_overfitting_reference,
)


@st.composite
def returns_matrices(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    """Draw seeded noise with some columns repeated, flat or never trading, and an S."""
    n_partitions = draw(st.sampled_from([2, 4, 6, 8]))
    bars = draw(st.integers(n_partitions, 120))
    candidates = draw(st.integers(2, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    matrix = rng.normal(draw(st.floats(-0.01, 0.01)), 0.01, (bars, candidates))
    for column in range(candidates):
        kind = draw(st.sampled_from(["noise"] * 4 + ["copy", "zero", "flat", "sparse"]))
        if kind == "copy":  # an exact tie with another column, in and out of sample
            matrix[:, column] = matrix[:, draw(st.integers(0, candidates - 1))]
        elif kind == "zero":  # a candidate that never traded
            matrix[:, column] = 0.0
        elif kind == "flat":  # constant: Sharpe 0 everywhere
            matrix[:, column] = 0.001
        elif kind == "sparse":  # a few trades: whole halves may be flat
            matrix[rng.random(bars) < 0.9, column] = 0.0
    return matrix, n_partitions


@settings(max_examples=200)
@given(case=returns_matrices(), tiny_chunks=st.booleans())
def test_fast_makes_the_references_choices_exactly(case, tiny_chunks):
    matrix, n_partitions = case
    chunk = 1 if tiny_chunks else 1 << 28  # one combination per chunk, or all in one
    fast = probability_of_backtest_overfitting(matrix, n_partitions, max_chunk_bytes=chunk)
    reference = probability_of_backtest_overfitting_reference(matrix, n_partitions)
    assert fast.chosen.tolist() == reference.chosen.tolist()
    assert fast.logits.tolist() == reference.logits.tolist()
    assert fast.pbo == reference.pbo
    assert fast.prob_oos_loss == reference.prob_oos_loss
    assert (fast.n_combinations, fast.n_candidates, fast.n_partitions) == (
        math.comb(n_partitions, n_partitions // 2),
        matrix.shape[1],
        n_partitions,
    )
    np.testing.assert_allclose(fast.is_sharpe, reference.is_sharpe, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.oos_sharpe, reference.oos_sharpe, rtol=1e-9, atol=1e-12)
    assert fast.degradation_slope == pytest.approx(reference.degradation_slope, abs=1e-8)
    assert fast.degradation_intercept == pytest.approx(reference.degradation_intercept, abs=1e-8)


def test_logits_follow_the_rank_convention_by_hand():
    # Two blocks, three candidates. In block 0 (in sample for the first combination) candidate
    # 1 is best; out of sample (block 1) it ties with candidate 2 above candidate 0: rank
    # 1 + 1 + 1/2 = 2.5 of 3, w = 2.5 / 4, logit log(2.5 / 1.5).
    block0 = [[0.0, 0.3, 0.1], [0.1, 0.5, 0.0]]
    block1 = [[0.0, 0.2, 0.2], [0.1, 0.4, 0.4]]
    result = probability_of_backtest_overfitting(np.array(block0 + block1), 2)
    assert result.chosen.tolist()[0] == 1
    assert result.logits[0] == pytest.approx(math.log(2.5 / 1.5))
    # The second combination has block 1 in sample: candidates 1 and 2 tie, the first wins.
    assert result.chosen.tolist()[1] == 1


def test_all_equal_candidates_rank_at_the_median():
    result = probability_of_backtest_overfitting(np.zeros((40, 5)), 4)
    assert result.chosen.tolist() == [0] * 6
    assert result.logits.tolist() == [0.0] * 6
    assert result.pbo == 1.0  # the paper's indicator on (-inf, 0]


def test_noise_candidates_are_overfit_about_half_the_time():
    values = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0, 0.01, (480, 40)), 8
        ).pbo
        for seed in range(40)
    ]
    assert 0.4 < float(np.mean(values)) < 0.6
    assert 0.3 < float(np.median(values)) < 0.7


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_a_real_edge_among_noise_is_not_overfit(seed):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0, 0.01, (480, 40))
    matrix[:, 17] += 0.003  # Sharpe 0.3 a bar; the best of 40 noise columns is about 0.14
    result = probability_of_backtest_overfitting(matrix, 8)
    assert result.pbo < 0.05
    assert float(np.mean(result.chosen == 17)) > 0.95
    assert result.prob_oos_loss < 0.05
    assert float(np.median(result.logits)) == pytest.approx(math.log(40 / 1))  # ranked first


def test_combinations_are_in_itertools_order_and_symmetric():
    matrix = np.random.default_rng(8).normal(0, 0.01, (64, 6))
    result = probability_of_backtest_overfitting(matrix, 6)
    combinations = list(itertools.combinations(range(6), 3))
    bounds = [b * 64 // 6 for b in range(7)]
    for index in (0, 7, 19):
        rows = np.concatenate([matrix[bounds[b] : bounds[b + 1]] for b in combinations[index]])
        means, stds = rows.mean(axis=0), rows.std(axis=0, ddof=1)
        assert result.chosen[index] == int(np.argmax(means / stds))
        assert result.is_sharpe[index] == pytest.approx(float(np.max(means / stds)), rel=1e-12)


def test_results_are_read_only():
    result = probability_of_backtest_overfitting(np.random.default_rng(9).normal(size=(40, 3)), 4)
    with pytest.raises(ValueError, match="read-only"):
        result.logits[0] = 1.0


@pytest.mark.parametrize(
    ("shape", "n_partitions", "message"),
    [
        ((100, 5), 5, "even"),
        ((100, 5), 0, "even"),
        ((7, 5), 8, "at least 8 bars"),
        ((100, 1), 4, "N >= 2"),
        ((100,), 4, "T x N"),
    ],
)
def test_bad_shapes_are_refused(shape, n_partitions, message):
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(np.zeros(shape), n_partitions)
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting_reference(np.zeros(shape), n_partitions)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e200])
def test_non_finite_returns_are_refused(bad):
    matrix = np.zeros((20, 3))
    matrix[4, 1] = bad
    for pbo in (probability_of_backtest_overfitting, probability_of_backtest_overfitting_reference):
        with pytest.raises(ValueError, match="finite"):
            pbo(matrix, 4)
