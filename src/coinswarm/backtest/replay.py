"""Replay recorded bars at a chosen speed, so a paper session can run on yesterday's market.

The engine calls the pacer once per new timestamp; the pacer holds it back until that bar's
time has come at `speed` times real time: a wall-clock second replays `speed` seconds of
market time, whatever the bars' interval (60: an hour of bars a minute, so one hourly bar a
minute or sixty one-minute bars; 3600: an hour a second). The first bar is shown at once.
Speed "max" needs no pacer at all. The monotonic clock and the sleep are injected, so tests
never wait; a paper session sleeps on its stop event, so Ctrl-C ends a long wait at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["ReplayPacer"]


class ReplayPacer:
    """Hold each timestamp back until its time has come at `speed` times real time."""

    __slots__ = ("_monotonic", "_sleep", "_speed", "_start")

    def __init__(
        self,
        speed: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if not speed > 0:
            msg = f"expected a replay speed above 0, found {speed}"
            raise ValueError(msg)
        self._speed = speed
        self._monotonic = monotonic
        self._sleep = sleep
        self._start: tuple[int, float] | None = None  # first bar time, and when it was shown

    def __call__(self, ts_ns: int) -> None:
        if self._start is None:
            self._start = (ts_ns, self._monotonic())
            return
        first_ts, first_wall = self._start
        due = first_wall + (ts_ns - first_ts) / 1e9 / self._speed
        delay = due - self._monotonic()
        if delay > 0:
            self._sleep(delay)
