"""Walk-forward windows: every out-of-sample window lies after its in-sample one and the purge,
none overlaps another or the holdout, and a span too short is refused with its reason."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from coinswarm.domain.errors import DataError
from coinswarm.evolution.windows import plan_windows

HOUR = 3600 * 10**9


@given(
    st.integers(2_000, 60_000),
    st.integers(1, 6),
    st.floats(0.05, 0.45),
    st.integers(1, 200),
    st.integers(0, 100),
)
def test_windows_run_forward_and_never_overlap(bars, folds, share, purge, embargo):
    try:
        plan = plan_windows(
            0,
            bars * HOUR,
            bar_ns=HOUR,
            folds=folds,
            holdout_share=share,
            purge_bars=purge,
            embargo_bars=embargo,
        )
    except DataError:
        assume(False)
    previous_oos_end = None
    for fold in plan.folds:
        assert fold.in_sample.start_ns == 0  # anchored at the start
        assert fold.out_of_sample.start_ns - fold.in_sample.end_ns == purge * HOUR
        if previous_oos_end is not None:
            # The next fold learns from the last one's out-of-sample window: it is now the past.
            assert fold.in_sample.end_ns >= previous_oos_end
            assert fold.out_of_sample.start_ns >= previous_oos_end + embargo * HOUR
        previous_oos_end = fold.out_of_sample.end_ns
    last = plan.folds[-1].out_of_sample.end_ns
    assert plan.holdout.start_ns >= last + (purge + embargo) * HOUR
    assert plan.holdout.end_ns == bars * HOUR


def test_a_span_too_short_for_the_purge_names_the_window_and_the_fix():
    with pytest.raises(DataError, match=r"fold 1's out-of-sample window has 0 bars.*shorter purge"):
        plan_windows(0, 20_000 * HOUR, bar_ns=HOUR, folds=3, purge_bars=5_000)


def test_bad_settings_are_refused():
    with pytest.raises(DataError, match="fold"):
        plan_windows(0, 10_000 * HOUR, bar_ns=HOUR, folds=0)
    with pytest.raises(DataError, match="holdout share"):
        plan_windows(0, 10_000 * HOUR, bar_ns=HOUR, holdout_share=0.6)
    with pytest.raises(DataError, match="purge"):
        plan_windows(0, 10_000 * HOUR, bar_ns=HOUR, purge_bars=0)
