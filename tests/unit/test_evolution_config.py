"""A discovery run's settings: folds spread evenly over the cycles, bad settings refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from coinswarm.evolution.config import EvolutionConfig


@given(st.integers(1, 8), st.integers(0, 200))
def test_every_fold_gets_its_cycles_in_order_and_each_ends_once(folds, extra):
    config = EvolutionConfig(folds=folds, cycles=folds + extra)
    phases = [config.fold_of(c) for c in range(config.cycles)]
    assert phases == sorted(phases)
    assert set(phases) == set(range(folds))
    ends = [c for c in range(config.cycles) if config.ends_fold(c)]
    assert [phases[c] for c in ends] == list(range(folds))
    assert ends[-1] == config.cycles - 1


def test_fewer_cycles_than_folds_or_unknown_settings_are_refused():
    with pytest.raises(ValidationError, match="at least one cycle per fold"):
        EvolutionConfig(folds=4, cycles=3)
    with pytest.raises(ValidationError, match="extra"):
        EvolutionConfig(mutation_rate=0.5)
    with pytest.raises(ValidationError):
        EvolutionConfig(fee_rate=1.5)
