"""Resampling bars to a longer interval (1h -> 4h, 1d), buckets aligned to the UTC epoch.

A target bar takes the first open, the highest high, the lowest low, the last close and the
summed volume of the source bars whose open time falls in its bucket. A bucket with no source
bars produces no bar (a gap stays a gap). A partial bucket, where some but not all source bars
are present, is KEPT by default, because dropping it would turn a one-hour outage into a
missing day; pass `complete_only=True` to keep only buckets with every source bar.

The last bucket is different: when the data ends inside it, its bar is not finished (a daily
bar made of the first 14 hours of a day closes at 14:00, not at midnight), so `to_timeframe`,
which the command line uses, drops it and says so; `resample` keeps it unless told.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinswarm.data.timefmt import format_interval
from coinswarm.domain.bar import BarSeries

__all__ = ["Resampled", "check_timeframe", "resample", "to_timeframe"]


@dataclass(frozen=True, slots=True)
class Resampled:
    """A resampled series, and what resampling could not make whole.

    `incomplete` counts the bars kept from buckets that miss some source bars (a gap inside
    the bucket, or data that starts inside it); `unfinished_ts` is the open time of the last
    bucket when the data ended inside it and its bar was dropped, else None.
    """

    series: BarSeries
    source_bars: int
    incomplete: int
    unfinished_ts: int | None


def check_timeframe(source_ns: int, target_ns: int) -> None:
    """Raise ValueError unless `target_ns` is a whole multiple of `source_ns` (or equal)."""
    if target_ns < source_ns or target_ns % source_ns != 0:
        msg = (
            f"expected a target interval that is a whole multiple of the source's "
            f"{format_interval(source_ns)}, found {format_interval(target_ns)}"
        )
        raise ValueError(msg)


def _empty(instrument: str, interval_ns: int) -> BarSeries:
    def column() -> npt.NDArray[np.float64]:
        return np.empty(0, dtype=np.float64)

    ts = np.empty(0, dtype=np.int64)
    return BarSeries(instrument, interval_ns, ts, column(), column(), column(), column(), column())


def _aggregate(
    series: BarSeries,
    interval_ns: int,
    *,
    complete_only: bool,
    drop_unfinished: bool,
) -> tuple[BarSeries, int, int | None]:
    """Return the resampled series, how many kept bars are incomplete, and a dropped last ts."""
    check_timeframe(series.interval_ns, interval_ns)
    if len(series) == 0:
        return _empty(series.instrument, interval_ns), 0, None
    bucket = series.ts // interval_ns * interval_ns
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(bucket)]
    complete = ends - starts == interval_ns // series.interval_ns
    # The data ends inside the last bucket when its last source bar is not the bucket's last.
    unfinished = int(series.ts[-1]) + series.interval_ns < int(bucket[-1]) + interval_ns
    keep = complete.copy() if complete_only else np.ones(len(starts), dtype=np.bool_)
    dropped = None
    if drop_unfinished and unfinished and keep[-1]:
        keep[-1] = False
        dropped = int(bucket[-1])
    out = BarSeries(
        series.instrument,
        interval_ns,
        bucket[starts][keep],
        series.open[starts][keep],
        np.maximum.reduceat(series.high, starts)[keep],
        np.minimum.reduceat(series.low, starts)[keep],
        series.close[ends - 1][keep],
        np.add.reduceat(series.volume, starts)[keep],
    )
    return out, int(np.count_nonzero(keep & ~complete)), dropped


def resample(
    series: BarSeries,
    interval_ns: int,
    *,
    complete_only: bool = False,
    drop_unfinished: bool = False,
) -> BarSeries:
    """Return `series` in bars of `interval_ns`, a whole multiple of its own interval.

    Buckets start at multiples of `interval_ns` since the UTC epoch, so daily bars open at
    00:00Z and 4-hour bars at 00:00, 04:00, ... Partial buckets are kept unless
    `complete_only` is true; the last one, when the data ends inside it, is also dropped when
    `drop_unfinished` is true.
    """
    out, _, _ = _aggregate(
        series, interval_ns, complete_only=complete_only, drop_unfinished=drop_unfinished
    )
    return out


def to_timeframe(series: BarSeries, interval_ns: int) -> Resampled:
    """Return `series` in bars of `interval_ns` as a backtest on that timeframe sees them.

    Every bucket with data gives a bar (inner partial buckets are counted in `incomplete`),
    except an unfinished last bucket, which is dropped: its bar has not closed yet.
    """
    out, incomplete, dropped = _aggregate(
        series, interval_ns, complete_only=False, drop_unfinished=True
    )
    return Resampled(out, len(series), incomplete, dropped)
