"""The bars a discovery run works on: each instrument on each timeframe, with its features.

A run is given bars of one interval (hourly, say); a candidate may trade them as they are or
resampled to 4h or 1d, exactly as `coinswarm data resample` would write them. Features are
computed once per instrument and timeframe, on first use, and shared by every candidate.
The dataset is what a worker receives once (see `evolution.workers`), so it holds arrays only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from coinswarm.data.features import FeatureCache
from coinswarm.data.timefmt import format_interval
from coinswarm.data.timeframe import on_timeframe, timeframe_ns
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import DataError

__all__ = ["NS_PER_DAY", "Dataset", "Market"]

NS_PER_DAY = 86_400 * 10**9
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class Market:
    """One instrument on one timeframe: its bars, their features, each bar's UTC day and the
    log of each close (every candidate's window record needs the market's own log returns)."""

    series: BarSeries
    features: FeatureCache
    days: IntArray = field(init=False)
    log_close: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", self.series.ts // NS_PER_DAY)
        object.__setattr__(self, "log_close", np.log(self.series.close))

    def log_returns(self, a: int, b: int) -> FloatArray:
        """Return the close-to-close log returns of bars `[a, b)`; bar a's is 0 (the close
        before it is outside the span)."""
        span = self.log_close[a:b]
        returns: FloatArray = np.diff(span, prepend=span[0])
        return returns

    def bounds(self, start_ns: int, end_ns: int) -> tuple[int, int]:
        """Return the bar indices `[a, b)` whose open times fall in `[start_ns, end_ns)`."""
        ts = self.series.ts
        return int(np.searchsorted(ts, start_ns)), int(np.searchsorted(ts, end_ns))


class Dataset:
    """Every instrument of a run on every timeframe its candidates may trade."""

    def __init__(self, series: Sequence[BarSeries], timeframes: Sequence[str]) -> None:
        if not series:
            raise DataError("expected at least one instrument's bars")
        names = [s.instrument for s in series]
        if len(set(names)) != len(names):
            raise DataError(f"expected each instrument once, found {', '.join(names)}")
        intervals = {s.interval_ns for s in series}
        if len(intervals) != 1:
            found = ", ".join(sorted(format_interval(i) for i in intervals))
            raise DataError(f"expected every file on one bar interval, found {found}")
        self.bar_ns = intervals.pop()
        self.instruments = tuple(sorted(names))
        self.timeframes = tuple(timeframes)
        by_name = {s.instrument: s for s in series}
        self._markets = {
            label: tuple(
                Market(resampled, FeatureCache(resampled))
                for resampled in (
                    on_timeframe(by_name[name], timeframe_ns(label)) for name in self.instruments
                )
            )
            for label in self.timeframes
        }
        self.start_ns = min(int(s.ts[0]) for s in series)
        self.end_ns = max(int(s.ts[-1]) for s in series) + self.bar_ns
        self.fingerprint = _fingerprint(series)

    def markets(self, timeframe: str) -> tuple[Market, ...]:
        try:
            return self._markets[timeframe]
        except KeyError:
            known = ", ".join(self.timeframes)
            raise DataError(f"timeframe {timeframe!r} is not in this run ({known})") from None

    @property
    def bars(self) -> int:
        """The number of bars of the finest timeframe over every instrument."""
        return sum(len(m.series) for m in next(iter(self._markets.values())))


def _fingerprint(series: Sequence[BarSeries]) -> str:
    """A digest of every bar, so a resumed run can refuse data that changed under it."""
    digest = hashlib.sha256()
    for s in sorted(series, key=lambda item: item.instrument):
        digest.update(s.instrument.encode())
        for column in (s.ts, s.open, s.high, s.low, s.close, s.volume):
            digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()[:16]
