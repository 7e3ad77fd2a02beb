"""Gaps: stretches where bars are missing. They are reported, never filled in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coinswarm.domain.bar import BarSeries

__all__ = ["Gap", "find_gaps"]


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars between two present ones.

    `start_ns` is the open time of the last bar before the gap, `end_ns` the open time of the
    first bar after it, and `missing_bars` how many bars of the series' interval fit between
    them: a gap from 01:00 to 04:00 in hourly bars misses 02:00 and 03:00, so 2 bars.
    """

    start_ns: int
    end_ns: int
    missing_bars: int

    @property
    def span_ns(self) -> int:
        """Return the time from the last bar before the gap to the first bar after it."""
        return self.end_ns - self.start_ns


def find_gaps(series: BarSeries) -> tuple[Gap, ...]:
    """Return every gap in `series`, oldest first (empty for a series without holes).

    A step between neighbouring bars longer than `interval_ns` is a gap. A step off the grid
    (not a whole number of intervals; the loader refuses those) counts the bar slots that
    start strictly between the two bars.
    """
    interval = series.interval_ns
    steps = np.diff(series.ts)
    where = np.flatnonzero(steps > interval)
    missing = -(-steps[where] // interval) - 1
    return tuple(
        Gap(int(series.ts[i]), int(series.ts[i + 1]), int(count))
        for i, count in zip(where.tolist(), missing.tolist(), strict=True)
    )
