"""Gap detection: missing bars are found and counted, never filled."""

from __future__ import annotations

import numpy as np

from coinswarm.data import Gap, find_gaps
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries


def hourly(hours: list[int]) -> BarSeries:
    ts = np.array(hours, dtype=np.int64) * NS_PER_HOUR
    ones = np.ones(len(hours))
    return BarSeries("T-USD", NS_PER_HOUR, ts, ones, ones, ones, ones, ones)


def test_no_gaps():
    assert find_gaps(hourly([0, 1, 2, 3])) == ()


def test_empty_and_single_bar():
    assert find_gaps(hourly([])) == ()
    assert find_gaps(hourly([5])) == ()


def test_gaps_are_found_and_counted():
    gaps = find_gaps(hourly([0, 1, 4, 5, 7]))
    assert gaps == (
        Gap(1 * NS_PER_HOUR, 4 * NS_PER_HOUR, 2),
        Gap(5 * NS_PER_HOUR, 7 * NS_PER_HOUR, 1),
    )
    assert gaps[0].span_ns == 3 * NS_PER_HOUR


def test_gap_count_uses_the_series_interval():
    ts = np.array([0, 4, 16], dtype=np.int64) * NS_PER_HOUR
    ones = np.ones(3)
    series = BarSeries("T-USD", 4 * NS_PER_HOUR, ts, ones, ones, ones, ones, ones)
    assert find_gaps(series) == (Gap(4 * NS_PER_HOUR, 16 * NS_PER_HOUR, 2),)


def test_off_grid_step_counts_slots_between():
    ts = np.array([0, 3 * NS_PER_HOUR // 2], dtype=np.int64)
    ones = np.ones(2)
    series = BarSeries("T-USD", NS_PER_HOUR, ts, ones, ones, ones, ones, ones)
    assert find_gaps(series) == (Gap(0, 3 * NS_PER_HOUR // 2, 1),)
