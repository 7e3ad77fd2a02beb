"""Resampling bars to a longer interval (1h -> 4h, 1d), buckets aligned to the UTC epoch.

A target bar takes the first open, the highest high, the lowest low, the last close and the
summed volume of the source bars whose open time falls in its bucket. A bucket with no source
bars produces no bar (a gap stays a gap). A partial bucket, where some but not all source bars
are present, is KEPT by default, because dropping it would turn a one-hour outage into a
missing day; pass `complete_only=True` to keep only buckets with every source bar.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from coinswarm.data.timefmt import format_interval
from coinswarm.domain.bar import BarSeries

__all__ = ["resample"]


def _check_interval(series: BarSeries, interval_ns: int) -> None:
    source = series.interval_ns
    if interval_ns < source or interval_ns % source != 0:
        msg = (
            f"expected a target interval that is a whole multiple of the source's "
            f"{format_interval(source)}, found {format_interval(interval_ns)}"
        )
        raise ValueError(msg)


def _empty(instrument: str, interval_ns: int) -> BarSeries:
    def column() -> npt.NDArray[np.float64]:
        return np.empty(0, dtype=np.float64)

    ts = np.empty(0, dtype=np.int64)
    return BarSeries(instrument, interval_ns, ts, column(), column(), column(), column(), column())


def resample(series: BarSeries, interval_ns: int, *, complete_only: bool = False) -> BarSeries:
    """Return `series` in bars of `interval_ns`, a whole multiple of its own interval.

    Buckets start at multiples of `interval_ns` since the UTC epoch, so daily bars open at
    00:00Z and 4-hour bars at 00:00, 04:00, ... Partial buckets are kept unless
    `complete_only` is true.
    """
    _check_interval(series, interval_ns)
    if len(series) == 0:
        return _empty(series.instrument, interval_ns)
    bucket = series.ts // interval_ns * interval_ns
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(bucket)]
    keep = (ends - starts == interval_ns // series.interval_ns) if complete_only else ...
    return BarSeries(
        series.instrument,
        interval_ns,
        bucket[starts][keep],
        series.open[starts][keep],
        np.maximum.reduceat(series.high, starts)[keep],
        np.minimum.reduceat(series.low, starts)[keep],
        series.close[ends - 1][keep],
        np.add.reduceat(series.volume, starts)[keep],
    )
