"""Clocks: the only way any component learns what time it is."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "HistoricalClock", "WallClock", "ns_to_datetime"]


class Clock(Protocol):
    """Tell the time in UTC nanoseconds since the epoch."""

    def now_ns(self) -> int: ...


class HistoricalClock:
    """A clock that a backtest moves forward bar by bar; it never runs backwards."""

    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        """Move the clock to `ts_ns`, refusing to go back in time."""
        if ts_ns < self._now:
            msg = f"clock cannot go back from {self._now} to {ts_ns}"
            raise ValueError(msg)
        self._now = ts_ns


def ns_to_datetime(ts_ns: int) -> datetime:
    """Return a UTC datetime for a timestamp in nanoseconds."""
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC)


class WallClock:
    """The real time, for live sessions and for people's commands, to the microsecond."""

    __slots__ = ()

    def now_ns(self) -> int:
        # Timestamps are written as ISO text with microseconds; finer digits would not survive.
        return time.time_ns() // 1_000 * 1_000
