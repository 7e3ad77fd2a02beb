"""Variation: every mutation and crossover gives a valid, new, traceable pattern; tournaments
pick the fittest they sample."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.data.synthetic import synthetic_market
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side, Source
from coinswarm.evolution.dataset import Dataset
from coinswarm.evolution.variation import (
    FeatureQuantiles,
    crossover,
    mutate,
    tournament,
    validity_problems,
)
from coinswarm.evolution.windows import Window

# Continuous, discrete (hour, weekday, breakouts) and one that never warms up on 4h bars here.
FEATURES = ("ret:24", "rsi:14", "vol:24", "hour", "weekday", "breakout_up:20", "drawdown:720")
SEED_PATTERN = Pattern((Condition("ret:24", "<", -0.02),), Side.LONG, Exit(24))


@pytest.fixture(scope="module")
def dataset():
    return Dataset([synthetic_market(instrument="BTC-USD", bars=1_500, seed=4)], ("1h", "4h"))


@pytest.fixture(scope="module")
def quantiles(dataset):
    return FeatureQuantiles.build(
        dataset, Window(dataset.start_ns, dataset.end_ns), features=FEATURES
    )


def random_pattern(rng, quantiles):
    """A starting pattern with arbitrary thresholds (some far outside any feature's range)."""
    count = int(rng.integers(1, 4))
    picks = rng.permutation(len(FEATURES) * 2)[:count]
    entry = tuple(
        Condition(
            FEATURES[p // 2],
            "<>"[p % 2],
            float(rng.choice([rng.normal(0, 1), rng.normal(0, 1e4), 0.0, 1.0])),
        )
        for p in picks
    )
    tp = None if rng.random() < 0.5 else float(rng.uniform(0.01, 0.1))
    side = Side.LONG if rng.random() < 0.5 else Side.SHORT
    return Pattern(entry, side, Exit(int(rng.integers(1, 100)), take_profit=tp), timeframe="1h")


def test_quantiles_are_the_pooled_percentiles_inside_the_window(dataset, quantiles):
    market = dataset.markets("1h")[0]
    values = market.features.values("rsi:14")
    known = values[~np.isnan(values)]
    assert quantiles.value("1h", "rsi:14", 50) == np.percentile(known, 50, method="inverted_cdf")
    assert quantiles.value("1h", "rsi:14", 1) == np.percentile(known, 1, method="inverted_cdf")
    assert quantiles.percentile("1h", "rsi:14", quantiles.value("1h", "rsi:14", 37)) == 37
    assert quantiles.percentile("1h", "rsi:14", 1e9) == 99
    assert quantiles.percentile("1h", "rsi:14", -1e9) == 1
    assert quantiles.has("1h", "drawdown:720")
    assert not quantiles.has("4h", "drawdown:720")  # 375 four-hour bars: never warmed up
    assert quantiles.timeframes == ("1h", "4h")
    half = Window(dataset.start_ns, dataset.start_ns + (dataset.end_ns - dataset.start_ns) // 2)
    early = FeatureQuantiles.build(dataset, half, features=("rsi:14",))
    a, b = market.bounds(half.start_ns, half.end_ns)
    window_values = values[a:b]
    expected = np.percentile(window_values[~np.isnan(window_values)], 90, method="inverted_cdf")
    assert early.value("1h", "rsi:14", 90) == pytest.approx(expected)


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_mutation_is_valid_new_and_names_its_parent(quantiles, seed):
    rng = np.random.default_rng(seed)
    pattern = random_pattern(rng, quantiles)
    for _ in range(30):
        child = mutate(pattern, rng, quantiles, features=FEATURES, max_conditions=3)
        assert validity_problems(child) == ()
        assert child.id != pattern.id
        assert child.parents == (pattern.id,)
        assert child.source is Source.EVOLVED
        assert 1 <= len(child.entry) <= max(3, len(pattern.entry))
        assert child.side is pattern.side
        assert all(math.isfinite(c.threshold) for c in child.entry)
        assert list(child.entry) == sorted(
            child.entry, key=lambda c: (c.feature, c.op, c.threshold)
        )
        pattern = child


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_crossover_is_valid_and_names_both_parents(quantiles, seed):
    rng = np.random.default_rng(seed)
    a, b = random_pattern(rng, quantiles), random_pattern(rng, quantiles)
    for _ in range(10):
        child = crossover(a, b, rng, max_conditions=3)
        assert validity_problems(child) == ()
        assert child.parents == (a.id, b.id)
        assert child.source is Source.EVOLVED
        assert (child.side, child.timeframe) == (a.side, a.timeframe)
        assert child.exit in (a.exit, b.exit)
        assert 1 <= len(child.entry) <= 3
        assert set(child.entry) <= set(a.entry) | set(b.entry)
        assert set(child.entry) & set(a.entry)
        b_keys = {(c.feature, c.op) for c in b.entry}
        a_keys = {(c.feature, c.op) for c in a.entry}
        if not b_keys <= a_keys:
            # Unless all of b's repeat a's, the child has a condition from b too.
            assert set(child.entry) & set(b.entry)
        a, b = child, mutate(b, rng, quantiles, features=FEATURES)


def test_mutation_uses_every_operator(quantiles):
    """Over many draws each kind of change happens, the timeframe change rarely."""
    rng = np.random.default_rng(0)
    kinds = Counter()
    parent = Pattern(
        (Condition("ret:24", "<", -0.02), Condition("rsi:14", "<", 40.0)),
        Side.LONG,
        Exit(24, stop_loss=0.05),
    )
    for _ in range(2_000):
        kinds[change(parent, mutate(parent, rng, quantiles, features=FEATURES))] += 1
    assert set(kinds) == {
        "nudge", "flip", "swap", "add", "drop", "hold", "take_profit", "stop_loss", "timeframe"
    }  # fmt: skip
    assert kinds["nudge"] > kinds["flip"]
    assert 0 < kinds["timeframe"] < kinds["flip"] / 2


def change(parent, child):
    if child.timeframe != parent.timeframe:
        return "timeframe"
    if child.exit.max_bars != parent.exit.max_bars:
        return "hold"
    for name in ("take_profit", "stop_loss"):
        if getattr(child.exit, name) != getattr(parent.exit, name):
            return name
    before, after = set(parent.entry), set(child.entry)
    if len(after) != len(before):
        return "add" if len(after) > len(before) else "drop"
    [old], [new] = before - after, after - before
    if old.feature != new.feature:
        return "swap"
    return "flip" if old.op != new.op else "nudge"


def test_a_nudge_moves_a_few_percentiles_on_the_features_own_scale(quantiles):
    rng = np.random.default_rng(5)
    start = quantiles.value("1h", "rsi:14", 50)
    parent = Pattern((Condition("rsi:14", "<", start),), Side.LONG, Exit(24))
    moves = []
    for _ in range(400):
        child = mutate(parent, rng, quantiles, features=FEATURES, max_conditions=1)
        [condition] = child.entry
        if condition.feature == "rsi:14" and condition.op == "<" and child.exit == parent.exit:
            moves.append(quantiles.percentile("1h", "rsi:14", condition.threshold) - 50)
    assert moves
    assert set(moves) <= {-5, -4, -3, -2, -1, 1, 2, 3, 4, 5}
    assert min(moves) < 0 < max(moves)


def test_a_discrete_features_threshold_moves_to_another_value(quantiles):
    rng = np.random.default_rng(1)
    parent = Pattern((Condition("breakout_up:20", ">", 0.0),), Side.LONG, Exit(24))
    for _ in range(200):
        child = mutate(parent, rng, quantiles, features=("breakout_up:20",), max_conditions=1)
        [condition] = child.entry
        if condition.op == ">" and child.exit == parent.exit and child.timeframe == "1h":
            assert condition.threshold != 0.0


def test_moving_to_another_timeframe_keeps_each_thresholds_percentile_and_the_holding_time(
    quantiles,
):
    rng = np.random.default_rng(2)
    parent = Pattern(
        (Condition("ret:24", "<", quantiles.value("1h", "ret:24", 10)),),
        Side.LONG,
        Exit(24, conditions=(Condition("rsi:14", ">", quantiles.value("1h", "rsi:14", 70)),)),
    )
    moved = None
    for _ in range(500):
        child = mutate(parent, rng, quantiles, features=FEATURES)
        if child.timeframe == "4h":
            moved = child
            break
    assert moved is not None
    assert moved.exit.max_bars == 6
    assert moved.entry[0].threshold == quantiles.value("4h", "ret:24", 10)
    assert moved.exit.conditions[0].threshold == quantiles.value("4h", "rsi:14", 70)


def test_a_rule_on_a_feature_without_a_scale_never_moves_timeframe(quantiles):
    rng = np.random.default_rng(3)
    parent = Pattern((Condition("drawdown:720", "<", -0.1),), Side.LONG, Exit(24))
    for _ in range(300):
        assert mutate(parent, rng, quantiles, features=FEATURES).timeframe == "1h"


def test_mutation_and_crossover_replay_from_a_seed(quantiles):
    def run(seed):
        rng = np.random.default_rng(seed)
        pattern = SEED_PATTERN
        ids = []
        for _ in range(50):
            pattern = crossover(
                mutate(pattern, rng, quantiles, features=FEATURES), SEED_PATTERN, rng
            )
            ids.append(pattern.id)
        return ids

    assert run(9) == run(9)
    assert run(9) != run(10)


def test_crossover_of_a_pattern_with_itself_is_itself_with_both_parents_named():
    rng = np.random.default_rng(0)
    child = crossover(SEED_PATTERN, SEED_PATTERN, rng)
    assert child.id == SEED_PATTERN.id
    assert child.parents == (SEED_PATTERN.id, SEED_PATTERN.id)


def test_a_tournament_picks_the_fittest_of_those_it_samples():
    fitness = [0.1, 0.9, 0.5, 0.3, 0.7, 0.2]
    for seed in range(200):
        entrants = np.random.default_rng(seed).choice(len(fitness), size=3, replace=False)
        winner = tournament(fitness, np.random.default_rng(seed), size=3)
        assert winner in entrants
        assert fitness[winner] == max(fitness[i] for i in entrants)


def test_tournament_ties_go_to_the_lower_index_and_nan_loses():
    rng = np.random.default_rng(0)
    assert tournament([1.0, 1.0, 1.0], rng, size=3) == 0
    assert tournament([math.nan, 0.0, math.nan], rng, size=3) == 1
    assert tournament([2.0, 5.0], rng, size=10) == 1  # a tournament larger than the field
    assert tournament([-1.0], rng) == 0
    wins = Counter(tournament([0.0, 1.0, 2.0, 3.0, 4.0], rng, size=2) for _ in range(2_000))
    assert wins[4] > wins[3] > wins[2] > wins[1] > 0
    assert wins[0] == 0  # the weakest can win only alone
    with pytest.raises(ValueError, match="at least one"):
        tournament([], rng)


def test_validity_problems_name_what_is_wrong():
    bad = Pattern(
        (Condition("rsi:14", "<", 30.0), Condition("rsi:14", "<", 20.0), Condition("nope", ">", 1)),
        Side.LONG,
        Exit(5),
    )
    problems = validity_problems(bad)
    assert any("two conditions 'rsi:14 <'" in p for p in problems)
    assert any("unknown family 'nope'" in p for p in problems)
    assert validity_problems(SEED_PATTERN) == ()
