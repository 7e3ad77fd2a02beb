"""Run a step once per interval of a clock, on a thread of its own, beside something that matters
more: discovery beside a trading session, one cycle a minute.

Beats fall at `start + k * interval`. A step runs at each beat, one at a time; a beat that
passes while a step is still running is skipped, never made up afterwards, so a slow step
(or a machine busy trading) costs beats, not a burst of steps that would compete with the
session for the processor right when it is already behind.

A step that raises is recorded (`failures`), logged with its traceback and told to `report`;
the scheduler carries on at the next beat, because one bad cycle (a database busy for longer
than its timeout, a data hiccup) says nothing about the next, and a trading session must
never stop or fail because discovery did. After `give_up_after` failures in a row it stops
instead, and says so once: a fault that repeats every beat is not going away by itself, and
telling it every minute for the rest of a session would bury what the session says. Either
way the session goes on; only an exception that is not an Exception (an interpreter exit)
ends the thread without being recorded.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from coinswarm.evolution.session.timers import Timer

__all__ = ["CycleScheduler", "StepFailure"]

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0
DEFAULT_GIVE_UP_AFTER = 5
KEEP_FAILURES = 100
# A step that ends within this of a beat has reached it: float arithmetic is not exact.
_BEAT_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class StepFailure:
    """A step that raised: the beat it ran at (timer seconds) and what it raised."""

    at: float
    error: str


class CycleScheduler:
    """Call `step()` once per `interval_s` of `timer`, on a daemon thread, until stopped."""

    def __init__(
        self,
        step: Callable[[], object],
        timer: Timer,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        give_up_after: int = DEFAULT_GIVE_UP_AFTER,
        report: Callable[[str], None] = logger.warning,
        name: str = "cycle-scheduler",
    ) -> None:
        if not interval_s > 0:  # NaN too
            raise ValueError(f"expected an interval above 0 seconds, found {interval_s}")
        if give_up_after < 1:
            raise ValueError(f"expected give_up_after of 1 or more, found {give_up_after}")
        self._step = step
        self._timer = timer
        self._interval = interval_s
        self._give_up_after = give_up_after
        self._report = report
        self._name = name
        self._thread: threading.Thread | None = None
        self.steps = 0  # steps run, failed ones included
        self.skipped = 0  # beats that passed while a step ran
        self.failures: list[StepFailure] = []  # the latest KEEP_FAILURES, oldest first
        self.failed = 0  # every failed step, however many were kept
        self.gave_up = False

    def start(self) -> None:
        """Start the thread; the first step runs at once, the next one interval later."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        first = self._timer.now()
        self._thread = threading.Thread(
            target=self._run, args=(first,), name=self._name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end: at once if it waits, after the step in hand if one runs."""
        self._timer.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (at most `timeout` seconds); return whether it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> CycleScheduler:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
        self.join()

    def _run(self, first: float) -> None:
        timer, interval = self._timer, self._interval
        beat, failed_in_a_row = 0, 0
        try:
            while not timer.wait(first + beat * interval - timer.now()):
                failure = self._call(timer.now())
                failed_in_a_row = 0 if failure is None else failed_in_a_row + 1
                if failure is not None and failed_in_a_row >= self._give_up_after:
                    self.gave_up = True
                    self._report(
                        f"{self._name}: stopped after {failed_in_a_row} failed steps in a row "
                        f"(the last: {failure.error})"
                    )
                    return
                if failure is not None:
                    self._report(f"{self._name}: a step failed ({failure.error}); carrying on")
                reached = math.ceil((timer.now() - first) / interval - _BEAT_SLACK)
                following = max(beat + 1, reached)
                self.skipped += following - beat - 1
                beat = following
        finally:
            timer.stop()  # nothing waits on it any more: a lockstep timer must not wait for us

    def _call(self, began: float) -> StepFailure | None:
        """Run one step; record and return its failure if it raised."""
        self.steps += 1
        try:
            self._step()
        except Exception as error:  # any failure of a step: recorded, and the session goes on
            failure = StepFailure(began, f"{type(error).__name__}: {error}")
            self.failed += 1
            self.failures.append(failure)
            del self.failures[:-KEEP_FAILURES]  # months of a flaky beat must not grow memory
            logger.exception("%s: the step at %.3f s failed", self._name, began)
            return failure
        return None
