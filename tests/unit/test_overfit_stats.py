"""Sharpe ratios, PSR and the Deflated Sharpe Ratio (evolution.statistics.sharpe): hand values,
the paper's worked example, and the False Strategy theorem against a seeded Monte Carlo."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.evolution.statistics.sharpe import (
    annualised_sharpe_ratio,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    kurtosis,
    probabilistic_sharpe_ratio,
    sharpe_ratio,
    sharpe_ratios,
    skewness,
)


def normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_sharpe_ratio_is_mean_over_sample_std():
    # mean 2.5, std (ddof=1) sqrt(5/3)
    assert sharpe_ratio([1.0, 2.0, 3.0, 4.0]) == pytest.approx(2.5 / math.sqrt(5 / 3), rel=1e-15)
    assert annualised_sharpe_ratio([1.0, 2.0, 3.0, 4.0], 8760) == pytest.approx(
        2.5 / math.sqrt(5 / 3) * math.sqrt(8760), rel=1e-15
    )


@pytest.mark.parametrize("values", [[0.1] * 10, [0.0] * 5, [-3e-7] * 1000, [7.0]])
def test_a_constant_series_has_sharpe_zero(values):
    assert sharpe_ratio(values) == 0.0


def test_columns_are_the_one_series_function():
    rng = np.random.default_rng(3)
    matrix = rng.normal(0.001, 0.01, (300, 6))
    matrix[:, 2] = 0.25
    expected = [sharpe_ratio(matrix[:, j]) for j in range(6)]
    # Equal to rounding: numpy sums a column of a matrix in another order than a lone series.
    assert sharpe_ratios(matrix).tolist() == pytest.approx(expected, rel=1e-12)
    assert expected[2] == 0.0


def test_skewness_and_kurtosis_are_the_population_moments():
    values = np.random.default_rng(4).lognormal(0, 0.5, 400)
    assert skewness(values) == pytest.approx(scipy.stats.skew(values, bias=True), rel=1e-12)
    assert kurtosis(values) == pytest.approx(
        scipy.stats.kurtosis(values, fisher=False, bias=True), rel=1e-12
    )
    assert (skewness([2.0] * 9), kurtosis([2.0] * 9)) == (0.0, 3.0)


def test_psr_against_a_hand_computed_value():
    # sr 0.1 over 253 returns, skew -0.5, kurtosis 4:
    # z = 0.1 * sqrt(252) / sqrt(1 + 0.05 + 0.75 * 0.01) = 1.5437...
    z = 0.1 * math.sqrt(252) / math.sqrt(1.0575)
    assert probabilistic_sharpe_ratio(0.1, 253, -0.5, 4.0) == pytest.approx(normal_cdf(z), 1e-12)
    assert probabilistic_sharpe_ratio(0.1, 253, -0.5, 4.0) == pytest.approx(0.938668, abs=1e-6)
    assert probabilistic_sharpe_ratio(0.1, 253, 0.0, 3.0, benchmark_sr=0.1) == 0.5


def test_dsr_reproduces_the_papers_worked_example():
    # Bailey & Lopez de Prado (2014), section 5: 100 trials, best annualised SR 2.5, annualised
    # variance of the trials' SRs 0.5, 1250 daily returns with skew -3 and kurtosis 10:
    # SR0 = 1.7894 annualised and DSR = 0.9004.
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 * math.sqrt(250) == pytest.approx(1.7894, abs=5e-5)
    dsr = probabilistic_sharpe_ratio(2.5 / math.sqrt(250), 1250, -3.0, 10.0, benchmark_sr=sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_excess_kurtosis_is_refused():
    with pytest.raises(ValueError, match="non-excess"):
        probabilistic_sharpe_ratio(0.1, 100, 0.0, 0.0)


@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 400), mean=st.floats(-0.01, 0.01))
def test_one_trial_is_psr_against_zero(seed, n, mean):
    returns = np.random.default_rng(seed).normal(mean, 0.01, n)
    result = deflated_sharpe_ratio(returns, n_trials=1, trial_sharpe_variance=0.3)
    assert result.sr0 == 0.0
    assert result.dsr == probabilistic_sharpe_ratio(
        sharpe_ratio(returns), n, skewness(returns), kurtosis(returns), benchmark_sr=0.0
    )
    assert (result.sr, result.n) == (sharpe_ratio(returns), n)


def test_dsr_falls_as_trials_grow():
    noise = np.random.default_rng(5).standard_normal(2000)
    returns = 0.01 * ((noise - noise.mean()) / noise.std(ddof=1) + 0.05)  # Sharpe 0.05
    values = [deflated_sharpe_ratio(returns, n, 0.0005).dsr for n in (1, 2, 5, 10, 100, 10_000)]
    assert all(a > b for a, b in itertools.pairwise(values))
    assert values[0] > 0.98  # PSR: z = 0.05 sqrt(1999) = 2.24
    assert values[-1] < 0.5


def test_expected_max_sharpe_grows_with_trials_and_scales_with_the_spread():
    values = [expected_max_sharpe(n, 1.0) for n in (1, 2, 3, 10, 100, 1000, 10**6)]
    assert values[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(values))
    assert expected_max_sharpe(50, 0.04) == pytest.approx(0.2 * expected_max_sharpe(50, 1.0))


@pytest.mark.parametrize(("n_trials", "repetitions"), [(10, 2000), (100, 400)])
def test_expected_max_sharpe_matches_the_max_of_noise_strategies(n_trials, repetitions):
    # The False Strategy theorem: N strategies with true Sharpe 0; the best one's sample Sharpe
    # averages SR0 over many repetitions (the formula is asymptotic: about 2% high at N=10).
    rng = np.random.default_rng(11 + n_trials)
    bars = 250
    ratios = np.empty((repetitions, n_trials))
    for r in range(repetitions):
        ratios[r] = sharpe_ratios(rng.standard_normal((bars, n_trials)))
    simulated = ratios.max(axis=1).mean()
    predicted = expected_max_sharpe(n_trials, float(ratios.var(ddof=1)))
    assert predicted == pytest.approx(simulated, rel=0.05)
