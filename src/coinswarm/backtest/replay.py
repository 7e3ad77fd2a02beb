"""Replay recorded bars at a chosen speed, so a paper session can run on yesterday's market.

The engine calls the pacer once per new timestamp; the pacer holds it back until that bar's
time has come at `speed` times real time (60: an hour of bars a minute). Speed "max" needs no
pacer at all. The monotonic clock and the sleep are injected, so tests never wait.
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
        sleep: Callable[[float], None] = time.sleep,
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
