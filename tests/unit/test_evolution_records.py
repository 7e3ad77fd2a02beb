"""The discovery store's records refuse, by name, what a database would bend or take silently."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.pattern import Condition, Exit, Pattern, Side
from coinswarm.infra.storage import (
    EvolutionRun,
    EvolutionStatus,
    PatternUpdate,
    StorageError,
    Trial,
)

RULE = Pattern(entry=(Condition("rsi:14", "<", 30.0),), side=Side.LONG, exit=Exit(max_bars=5))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "1.5", None])
def test_a_trial_refuses_an_in_sample_sharpe_that_is_not_a_finite_number(bad: object) -> None:
    with pytest.raises(StorageError, match="in_sample_sharpe: expected a"):
        Trial(kind="chaos", in_sample_sharpe=bad)  # type: ignore[arg-type]


def test_a_trial_refuses_a_bad_out_of_sample_sharpe_trade_count_or_kind() -> None:
    with pytest.raises(StorageError, match="out_of_sample_sharpe: expected a finite number"):
        Trial(kind="chaos", in_sample_sharpe=0.0, out_of_sample_sharpe=math.nan)
    for trades in (-1, 1.0, True):
        with pytest.raises(StorageError, match="trades: expected a whole number"):
            Trial(kind="chaos", in_sample_sharpe=0.0, trades=trades)  # type: ignore[arg-type]
    for kind in ("", "x" * 33):
        with pytest.raises(StorageError, match="trial kind: expected text of 1 to 32"):
            Trial(kind=kind, in_sample_sharpe=0.0)
    with pytest.raises(StorageError, match="extras: expected a mapping, found list"):
        Trial(kind="chaos", in_sample_sharpe=0.0, extras=[1])  # type: ignore[arg-type]


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 2**62))
def test_numpy_scalars_become_plain_python_values(sharpe: float, trades: int) -> None:
    trial = Trial(kind="child", in_sample_sharpe=np.float64(sharpe), trades=np.int64(trades))
    assert type(trial.in_sample_sharpe) is float
    assert type(trial.trades) is int
    assert (trial.in_sample_sharpe, trial.trades) == (sharpe, trades)
    assert Trial(kind="child", in_sample_sharpe=np.float32(0.5)).in_sample_sharpe == 0.5


def test_a_pattern_update_refuses_a_retirement_before_its_birth_and_a_long_status() -> None:
    with pytest.raises(StorageError, match="expected retired_cycle at or after born_cycle 3"):
        PatternUpdate(pattern=RULE, status="retired", born_cycle=3, retired_cycle=2)
    with pytest.raises(StorageError, match="pattern status: expected text"):
        PatternUpdate(pattern=RULE, status="s" * 33, born_cycle=0)
    with pytest.raises(StorageError, match="born_cycle: expected a whole number"):
        PatternUpdate(pattern=RULE, status="candidate", born_cycle=-1)
    kept = PatternUpdate(pattern=RULE, status="retired", born_cycle=3, retired_cycle=np.int32(3))
    assert kept.retired_cycle == 3


def test_a_run_resumes_at_the_cycle_after_its_last() -> None:
    fresh = EvolutionRun(run_id="r", created_ns=1, config_json="{}", status=EvolutionStatus.RUNNING)
    assert (fresh.next_cycle, fresh.imported) == (0, False)
    assert (
        EvolutionRun(
            run_id="import:x", created_ns=1, config_json="{}", status="finished", last_cycle=4
        ).next_cycle
        == 5
    )
