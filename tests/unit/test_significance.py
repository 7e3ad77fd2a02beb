"""White's Reality Check, Hansen's SPA and the random-entry test
(evolution.statistics.significance): a real edge is found, noise is not, and a seed gives the
same answer twice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coinswarm.evolution.statistics import significance
from coinswarm.evolution.statistics.significance import (
    RandomEntryTest,
    random_entry_test,
    random_entry_totals,
    reality_check,
)

BARS = 500


def candidates_around(benchmark: np.ndarray, seed: int, edge: float = 0.0) -> np.ndarray:
    """Eight candidates: the benchmark plus noise, the fourth with `edge` a bar on top."""
    matrix = benchmark[:, np.newaxis] + np.random.default_rng(seed).normal(0, 0.005, (BARS, 8))
    matrix[:, 3] += edge
    return matrix


@pytest.fixture
def benchmark() -> np.ndarray:
    return np.random.default_rng(1).normal(0.0002, 0.01, BARS)


def test_a_strong_edge_beats_the_benchmark(benchmark):
    result = reality_check(candidates_around(benchmark, 2, edge=0.002), benchmark, seed=5, reps=500)
    assert result.best_candidate == 3
    assert result.best_mean_excess == pytest.approx(0.002, abs=0.0005)
    assert max(result.white_pvalue, result.spa_consistent, result.spa_lower) < 0.01
    assert result.white_pvalue == result.spa_upper
    assert (result.reps, result.block_size) == (500, int(math.sqrt(BARS)))


def test_noise_does_not_beat_the_benchmark(benchmark):
    pvalues = [
        reality_check(candidates_around(benchmark, seed), benchmark, seed=seed, reps=300)
        for seed in range(40)
    ]
    consistent = np.array([p.spa_consistent for p in pvalues])
    white = np.array([p.white_pvalue for p in pvalues])
    assert float(np.median(consistent)) > 0.2
    assert float(np.mean(consistent < 0.05)) <= 0.15
    assert float(np.mean(white < 0.05)) <= 0.15
    # Hansen's lower p-value never recentres a worse candidate, so it is never above White's.
    assert all(p.spa_lower <= p.spa_consistent <= p.spa_upper for p in pvalues)


def test_the_same_seed_gives_the_same_p_values(benchmark):
    candidates = candidates_around(benchmark, 3, edge=0.0004)
    first = reality_check(candidates, benchmark, seed=21, reps=400)
    assert reality_check(candidates, benchmark, seed=21, reps=400) == first
    generated = reality_check(candidates, benchmark, seed=np.random.default_rng(21), reps=400)
    assert generated == first  # an integer seed is numpy's default_rng of it
    others = [reality_check(candidates, benchmark, seed=s, reps=400) for s in (22, 23, 24)]
    assert any(other != first for other in others)


def test_reality_check_refuses_mismatched_shapes(benchmark):
    with pytest.raises(ValueError, match="same T"):
        reality_check(np.zeros((BARS - 1, 3)), benchmark, seed=1)
    with pytest.raises(ValueError, match="T x N"):
        reality_check(np.zeros(BARS), benchmark, seed=1)


def test_random_entry_totals_by_hand():
    returns = np.array([0.01, -0.02, 0.03, 0.00, 0.05])
    result = random_entry_test(
        returns, [0, 2], [2, 3], side=-1, fee_log_cost=0.001, draws=50, seed=1
    )
    # Short: -(0.01 - 0.02) - (0.03 + 0.00 + 0.05), less two fees.
    assert result.actual == pytest.approx(0.01 - 0.08 - 0.002, abs=1e-15)
    # The only placements: a 2-bar trade at 0..3 and a 3-bar trade at 0..2.
    twos = [-(returns[e] + returns[e + 1]) for e in range(4)]
    threes = [-(returns[e : e + 3].sum()) for e in range(3)]
    totals = [a + b - 0.002 for a in twos for b in threes]
    assert result.random_mean == pytest.approx(np.mean(totals), abs=0.01)
    assert min(totals) - 1e-12 <= result.actual <= max(totals) + 1e-12


def planted_jumps(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0, 0.002, 3000)
    jumps = np.sort(rng.choice(np.arange(10, 2990), size=15, replace=False))
    returns[jumps] += 0.03
    return returns, jumps


def test_trades_placed_before_planted_jumps_are_not_luck():
    returns, jumps = planted_jumps(4)
    lengths = np.full(jumps.size, 4)
    result = random_entry_test(
        returns, jumps - 1, lengths, side=1, fee_log_cost=0.002, draws=999, seed=8
    )
    assert result.p_value == 1 / 1000  # no random placement did as well
    assert result.actual > result.random_mean + 10 * result.random_std
    # The same trades short lose what the jumps gave.
    short = random_entry_test(
        returns, jumps - 1, lengths, side=-1, fee_log_cost=0.002, draws=999, seed=8
    )
    assert short.p_value > 0.99


def test_random_trades_give_roughly_uniform_p_values():
    pvalues = []
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        returns = rng.normal(0, 0.01, 1000)
        lengths = rng.integers(1, 30, size=12)
        entries = rng.integers(0, 1000 - lengths + 1)
        pvalues.append(
            random_entry_test(
                returns, entries, lengths, side=1, fee_log_cost=0.0, draws=199, seed=seed
            ).p_value
        )
    values = np.array(pvalues)
    assert 0.03 <= float(np.mean(values <= 0.1)) <= 0.2
    assert 0.38 <= float(np.mean(values <= 0.5)) <= 0.62
    assert 0.4 <= float(np.mean(values)) <= 0.6


def test_random_entry_is_reproducible_whatever_the_chunk(monkeypatch):
    returns, jumps = planted_jumps(5)
    lengths = np.full(jumps.size, 3)
    first = random_entry_test(returns, jumps, lengths, side=1, fee_log_cost=0, draws=300, seed=9)
    again = random_entry_test(returns, jumps, lengths, side=1, fee_log_cost=0, draws=300, seed=9)
    assert first == again
    # Draws are made a chunk at a time to bound memory; the chunk must not change them.
    monkeypatch.setattr(significance, "_RANDOM_ENTRY_CELLS", 7 * jumps.size)
    chunked = random_entry_test(returns, jumps, lengths, side=1, fee_log_cost=0, draws=300, seed=9)
    assert chunked == first


@pytest.mark.parametrize(
    ("entries", "lengths", "message"),
    [([0, 8], [2, 3], "within"), ([0], [0], "length"), ([0, 1], [2], "equal"), ([], [], "equal")],
)
def test_random_entry_refuses_trades_off_the_window(entries, lengths, message):
    with pytest.raises(ValueError, match=message):
        random_entry_test(
            np.zeros(10), entries, lengths, side=1, fee_log_cost=0.0, draws=10, seed=1
        )
    with pytest.raises(ValueError, match="side"):
        random_entry_test(np.zeros(10), [0], [1], side=0, fee_log_cost=0.0, draws=10, seed=1)


def test_several_instruments_sum_their_draws():
    (first, jumps_a), (second, jumps_b) = planted_jumps(6), planted_jumps(7)
    terms = {"side": 1, "fee_log_cost": 0.002, "draws": 400}
    a_actual, a_totals = random_entry_totals(first, jumps_a, np.full(15, 2), seed=1, **terms)
    b_actual, b_totals = random_entry_totals(second, jumps_b - 1, np.full(15, 2), seed=2, **terms)
    both = RandomEntryTest.of(a_actual + b_actual, a_totals + b_totals)
    assert both.draws == 400
    assert both.actual == a_actual + b_actual
    assert both.p_value == 1 / 401
    alone = random_entry_test(first, jumps_a, np.full(15, 2), seed=1, **terms)
    assert alone == RandomEntryTest.of(a_actual, a_totals)
