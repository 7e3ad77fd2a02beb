"""Resampling to longer bars on hand-made series, and its invariants as properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.data import resample, to_timeframe
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries

DAY = 24 * NS_PER_HOUR


def hourly(hours: list[int], *, start: int = 0) -> BarSeries:
    """Return hourly bars at the given hour offsets; bar k has open k+1, close k+2."""
    ts = start + np.array(hours, dtype=np.int64) * NS_PER_HOUR
    k = np.arange(len(hours), dtype=np.float64)
    return BarSeries("T-USD", NS_PER_HOUR, ts, k + 1, k + 10, k + 0.5, k + 2, k * 0 + 1.5)


def test_four_hour_buckets():
    out = resample(hourly(list(range(8))), 4 * NS_PER_HOUR)
    assert out.interval_ns == 4 * NS_PER_HOUR
    assert (out.ts // NS_PER_HOUR).tolist() == [0, 4]
    assert out.open.tolist() == [1.0, 5.0]
    assert out.high.tolist() == [13.0, 17.0]
    assert out.low.tolist() == [0.5, 4.5]
    assert out.close.tolist() == [5.0, 9.0]
    assert out.volume.tolist() == [6.0, 6.0]


def test_buckets_align_to_the_epoch_not_the_first_bar():
    out = resample(hourly([0, 1, 2, 3, 4], start=2 * NS_PER_HOUR), 4 * NS_PER_HOUR)
    assert (out.ts // NS_PER_HOUR).tolist() == [0, 4]
    assert out.volume.tolist() == [3.0, 4.5]


def test_empty_bucket_produces_no_bar():
    out = resample(hourly([0, 1, 2, 3, 12, 13]), 4 * NS_PER_HOUR)
    assert (out.ts // NS_PER_HOUR).tolist() == [0, 12]


def test_partial_buckets_are_kept_unless_asked():
    series = hourly([0, 1, 2, 3, 4, 6, 7, 9, 10, 11])
    assert len(resample(series, 4 * NS_PER_HOUR)) == 3
    complete = resample(series, 4 * NS_PER_HOUR, complete_only=True)
    assert (complete.ts // NS_PER_HOUR).tolist() == [0]
    assert complete.close.tolist() == [5.0]


def test_complete_only_does_not_leak_bars_from_dropped_buckets():
    series = hourly([0, 1, 2, 3, 4, 8, 9, 10, 11])
    complete = resample(series, 4 * NS_PER_HOUR, complete_only=True)
    assert (complete.ts // NS_PER_HOUR).tolist() == [0, 8]
    assert complete.volume.tolist() == [6.0, 6.0]
    assert complete.high.tolist() == [13.0, 18.0]


def test_daily_bars_from_hourly():
    out = resample(hourly(list(range(48)), start=DAY * 19_000), DAY)
    assert out.ts.tolist() == [DAY * 19_000, DAY * 19_001]
    assert out.open.tolist() == [1.0, 25.0]
    assert out.close.tolist() == [25.0, 49.0]


def test_same_interval_is_identity():
    series = hourly([0, 1, 5])
    out = resample(series, NS_PER_HOUR)
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(out, name), getattr(series, name))


def test_empty_series():
    out = resample(hourly([]), DAY)
    assert len(out) == 0
    assert out.interval_ns == DAY


@pytest.mark.parametrize("target", [NS_PER_HOUR // 2, 90 * 60 * 1_000_000_000, 0])
def test_target_must_be_a_multiple(target):
    with pytest.raises(ValueError, match="whole multiple"):
        resample(hourly([0, 1]), target)


@st.composite
def random_hourly(draw: st.DrawFn) -> BarSeries:
    hours = sorted(draw(st.sets(st.integers(0, 24 * 10), min_size=1, max_size=120)))
    n = len(hours)
    floats = st.floats(1.0, 1000.0, allow_nan=False)
    opens = np.array(draw(st.lists(floats, min_size=n, max_size=n)))
    closes = np.array(draw(st.lists(floats, min_size=n, max_size=n)))
    volume = np.array(draw(st.lists(st.floats(0.0, 1e6), min_size=n, max_size=n)))
    high = np.maximum(opens, closes) * 1.01
    low = np.minimum(opens, closes) * 0.99
    ts = np.array(hours, dtype=np.int64) * NS_PER_HOUR
    return BarSeries("P-USD", NS_PER_HOUR, ts, opens, high, low, closes, volume)


@given(series=random_hourly(), factor=st.sampled_from([1, 2, 4, 6, 24]))
def test_resample_invariants(series: BarSeries, factor: int) -> None:
    out = resample(series, factor * NS_PER_HOUR)
    assert out.volume.sum() == pytest.approx(series.volume.sum(), rel=1e-12, abs=1e-9)
    assert out.high.max() == series.high.max()
    assert out.low.min() == series.low.min()
    assert out.open[0] == series.open[0]
    assert out.close[-1] == series.close[-1]
    assert (np.diff(out.ts) > 0).all()
    assert (out.ts % (factor * NS_PER_HOUR) == 0).all()
    assert (out.low <= np.minimum(out.open, out.close)).all()
    assert (out.high >= np.maximum(out.open, out.close)).all()
    assert len(out) == len(np.unique(series.ts // (factor * NS_PER_HOUR)))


@given(series=random_hourly())
def test_resampling_in_steps_equals_resampling_at_once(series: BarSeries) -> None:
    direct = resample(series, 24 * NS_PER_HOUR)
    stepped = resample(resample(series, 4 * NS_PER_HOUR), 24 * NS_PER_HOUR)
    for name in ("ts", "open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(stepped, name), getattr(direct, name))
    np.testing.assert_allclose(stepped.volume, direct.volume, rtol=1e-12)


def test_an_unfinished_last_bucket_is_dropped_only_when_asked():
    series = hourly(list(range(10)))  # 00:00 .. 09:00: the 08:00 4h bucket ends at 12:00
    assert (resample(series, 4 * NS_PER_HOUR).ts // NS_PER_HOUR).tolist() == [0, 4, 8]
    kept = resample(series, 4 * NS_PER_HOUR, drop_unfinished=True)
    assert (kept.ts // NS_PER_HOUR).tolist() == [0, 4]


def test_to_timeframe_reports_gaps_and_the_dropped_bucket():
    result = to_timeframe(hourly([0, 1, 2, 3, 4, 6, 7, 8, 9]), 4 * NS_PER_HOUR)
    assert (result.series.ts // NS_PER_HOUR).tolist() == [0, 4]
    assert result.source_bars == 9
    assert result.incomplete == 1  # the 04:00 bucket misses 05:00
    assert result.unfinished_ts == 8 * NS_PER_HOUR


def test_a_last_bucket_that_ends_with_the_data_is_kept():
    result = to_timeframe(hourly(list(range(8))), 4 * NS_PER_HOUR)
    assert len(result.series) == 2
    assert result.unfinished_ts is None
    assert result.incomplete == 0


def test_a_last_bucket_whose_final_bars_are_missing_counts_as_unfinished():
    # The data ends at 05:00: nobody can tell a gap at 06:00-07:00 from data not yet closed.
    result = to_timeframe(hourly([0, 1, 2, 3, 4, 5]), 4 * NS_PER_HOUR)
    assert result.unfinished_ts == 4 * NS_PER_HOUR
    assert len(result.series) == 1


def bucket_members(series: BarSeries, out: BarSeries) -> list[np.ndarray]:
    """Return, for each resampled bar, the source rows whose open time falls in its bucket."""
    return [
        np.flatnonzero((series.ts >= start) & (series.ts < start + out.interval_ns))
        for start in out.ts.tolist()
    ]


@given(series=random_hourly(), factor=st.sampled_from([2, 4, 6, 24]))
def test_each_bar_bounds_every_source_bar_of_its_bucket(series: BarSeries, factor: int) -> None:
    target = factor * NS_PER_HOUR
    result = to_timeframe(series, target)
    out = result.series
    buckets = np.unique(series.ts // target)
    dropped = 0 if result.unfinished_ts is None else 1
    assert len(out) == len(buckets) - dropped
    for row, members in enumerate(bucket_members(series, out)):
        assert len(members) > 0  # no bar is invented for an empty bucket
        assert (out.high[row] >= series.high[members]).all()
        assert (out.low[row] <= series.low[members]).all()
        assert out.high[row] == series.high[members].max()
        assert out.open[row] == series.open[members[0]]
        assert out.close[row] == series.close[members[-1]]
        assert out.volume[row] == pytest.approx(series.volume[members].sum(), rel=1e-12, abs=1e-9)
    kept = np.concatenate([*bucket_members(series, out), np.empty(0, dtype=np.int64)])
    assert out.volume.sum() == pytest.approx(series.volume[kept].sum(), rel=1e-12, abs=1e-9)
    full = [len(m) == factor for m in bucket_members(series, out)]
    assert result.incomplete == full.count(False)
    if dropped:
        last = int(series.ts[-1])
        assert result.unfinished_ts == last // target * target
        assert last + NS_PER_HOUR < result.unfinished_ts + target
