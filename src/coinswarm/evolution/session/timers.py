"""The clocks a `CycleScheduler` keeps time by: the machine's, or one a test moves by hand.

A timer tells the time in seconds and waits; `stop()` ends every wait at once and makes each
later one return at once, so a scheduler asked to stop never sleeps out its interval first.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["ManualTimer", "Timer", "WallTimer"]


class Timer(Protocol):
    """Seconds and waiting: what a scheduler needs of a clock."""

    def now(self) -> float:
        """Return the time in seconds (only differences mean anything)."""
        ...

    def wait(self, seconds: float) -> bool:
        """Wait `seconds` (or not at all if 0 or less); return True when stopped instead."""
        ...

    def stop(self) -> None:
        """End every wait now, and every later one at once."""
        ...


class WallTimer:
    """The machine's monotonic clock; waits end early on `stop()`."""

    def __init__(self) -> None:
        self._stopped = threading.Event()

    def now(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float) -> bool:
        return self._stopped.wait(max(seconds, 0.0))

    def stop(self) -> None:
        self._stopped.set()


class ManualTimer:
    """A clock that moves only when told: a scheduler's clock in tests and simulations.

    `advance(seconds)` moves time on, pausing at each moment a waiting thread is due. With
    `sleepers=n` it is in lockstep with n waiting threads: time moves only while all n wait
    for a moment still to come, so a thread's work between two waits takes no time on this
    clock (`spend` is how that work would take time). A thread that fails to wait again
    within `settle_s` real seconds makes `advance` raise TimeoutError rather than hang.
    """

    def __init__(self, start: float = 0.0, *, sleepers: int = 0, settle_s: float = 60.0) -> None:
        if sleepers < 0:
            raise ValueError(f"expected 0 or more sleepers, found {sleepers}")
        self._now = start
        self._sleepers = sleepers
        self._settle_s = settle_s
        self._deadlines: dict[int, float] = {}  # each waiting thread, and when it is due
        self._stopped = False
        self._changed = threading.Condition()

    def now(self) -> float:
        with self._changed:
            return self._now

    def wait(self, seconds: float) -> bool:
        me = threading.get_ident()
        with self._changed:
            deadline = self._now + max(seconds, 0.0)
            self._deadlines[me] = deadline
            self._changed.notify_all()
            try:
                self._changed.wait_for(lambda: self._stopped or self._now >= deadline)
            finally:
                del self._deadlines[me]
            return self._stopped

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds` from when the lockstep's threads are all waiting (the
        time their work took is theirs), as `advance_to` does."""
        if seconds < 0:
            raise ValueError(f"expected a time to move on by, 0 or more, found {seconds}")
        with self._changed:
            self._settle()
            self._run_to(self._now + seconds)

    def advance_to(self, moment: float) -> None:
        """Move time on to `moment`, stopping at each waiting thread's moment on the way and,
        in lockstep, letting it do its work before going on."""
        with self._changed:
            self._run_to(moment)

    def _run_to(self, target: float) -> None:
        while True:
            self._settle()
            if self._now >= target:
                return
            due = [d for d in self._deadlines.values() if self._now < d < target]
            self._now = min(due, default=target)
            self._changed.notify_all()

    def spend(self, seconds: float) -> None:
        """Move time on by `seconds` at once: the time the calling thread's work takes."""
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def _settle(self) -> None:
        """Wait until the lockstep's threads all wait for a moment still to come."""

        def settled() -> bool:
            asleep = sum(1 for d in self._deadlines.values() if d > self._now)
            return self._stopped or asleep >= self._sleepers

        if not self._changed.wait_for(settled, timeout=self._settle_s):
            msg = (
                f"expected {self._sleepers} thread(s) waiting on the timer within "
                f"{self._settle_s:g} s, found {len(self._deadlines)}"
            )
            raise TimeoutError(msg)
