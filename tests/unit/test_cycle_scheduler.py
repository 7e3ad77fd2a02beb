"""The cycle scheduler: a step per interval of its clock, never two at once, beats missed while
a step ran skipped rather than made up, a prompt stop, and a failing step recorded without
ending anything but (after several in a row) the scheduler itself.

The clock is a `ManualTimer` in lockstep with the scheduler's thread: time moves only while
the scheduler waits, so each step starts at an exact, predictable moment.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.evolution.session.scheduler import CycleScheduler, StepFailure
from coinswarm.evolution.session.timers import ManualTimer, WallTimer


class Steps:
    """A step that notes when it ran and may take time or fail at given calls."""

    def __init__(
        self,
        timer: ManualTimer,
        takes: dict[int, float] | None = None,
        fails: set[int] | None = None,
    ) -> None:
        self.timer = timer
        self.takes = takes or {}
        self.fails = fails or set()
        self.began: list[float] = []
        self.ended: list[float] = []
        self.inside = 0  # steps running now: never more than one
        self.most_inside = 0

    def __call__(self) -> None:
        call = len(self.began)
        self.began.append(self.timer.now())
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            self.timer.spend(self.takes.get(call, 0.0))
            if call in self.fails:
                raise RuntimeError(f"step {call} broke")
        finally:
            self.inside -= 1
            self.ended.append(self.timer.now())


def run_until(steps: Steps, seconds: float, **options: object) -> CycleScheduler:
    scheduler = CycleScheduler(steps, steps.timer, report=lambda _: None, **options)  # type: ignore[arg-type]
    scheduler.start()
    steps.timer.advance_to(seconds)
    scheduler.stop()
    assert scheduler.join(timeout=5.0)
    return scheduler


def test_a_step_runs_at_once_and_then_every_interval() -> None:
    steps = Steps(ManualTimer(sleepers=1))
    scheduler = run_until(steps, 300.0)
    assert steps.began == [0.0, 60.0, 120.0, 180.0, 240.0, 300.0]
    assert (scheduler.steps, scheduler.skipped, scheduler.failures) == (6, 0, [])


def test_the_interval_is_the_scheduler_s_own() -> None:
    steps = Steps(ManualTimer(sleepers=1))
    run_until(steps, 25.0, interval_s=10.0)
    assert steps.began == [0.0, 10.0, 20.0]


def test_a_slow_step_skips_the_beats_it_overran_instead_of_bursting_after() -> None:
    steps = Steps(ManualTimer(sleepers=1), takes={1: 150.0})  # the step at 60 s ends at 210 s
    scheduler = run_until(steps, 400.0)
    assert steps.began == [0.0, 60.0, 240.0, 300.0, 360.0]
    assert scheduler.skipped == 2  # the beats at 120 and 180


def test_a_step_that_ends_exactly_on_a_beat_runs_that_beat() -> None:
    steps = Steps(ManualTimer(sleepers=1), takes={0: 120.0})
    scheduler = run_until(steps, 200.0)
    assert steps.began == [0.0, 120.0, 180.0]
    assert scheduler.skipped == 1


@given(
    takes=st.lists(st.floats(min_value=0.0, max_value=400.0), min_size=1, max_size=8),
    interval=st.sampled_from([1.0, 7.5, 60.0]),
)
def test_steps_start_on_beats_one_at_a_time_each_at_the_first_beat_after_the_last(
    takes: list[float], interval: float
) -> None:
    steps = Steps(ManualTimer(sleepers=1), takes=dict(enumerate(takes)))
    scheduler = run_until(steps, sum(takes) + 3 * interval, interval_s=interval)
    assert steps.most_inside == 1
    beats = [round(t / interval) for t in steps.began]
    for began, beat in zip(steps.began, beats, strict=True):
        assert began == pytest.approx(beat * interval)
    free = [  # the first beat free after each step
        max(beat + 1, math.ceil(end / interval - 1e-9))
        for end, beat in zip(steps.ended, beats, strict=True)
    ]
    assert beats[1:] == free[:-1], "neither early (overlap, burst) nor late (a free beat lost)"
    assert scheduler.skipped == sum(f - b - 1 for b, f in zip(beats, free, strict=True))


def test_a_failing_step_is_recorded_and_the_next_beat_runs() -> None:
    told: list[str] = []
    timer = ManualTimer(sleepers=1)
    steps = Steps(timer, fails={1})
    scheduler = CycleScheduler(steps, timer, report=told.append)
    scheduler.start()
    timer.advance_to(180.0)
    scheduler.stop()
    assert scheduler.join(timeout=5.0)
    assert steps.began == [0.0, 60.0, 120.0, 180.0]
    assert scheduler.failures == [StepFailure(60.0, "RuntimeError: step 1 broke")]
    assert not scheduler.gave_up
    assert told == ["cycle-scheduler: a step failed (RuntimeError: step 1 broke); carrying on"]


def test_it_gives_up_after_failures_in_a_row_and_says_so_once() -> None:
    told: list[str] = []
    timer = ManualTimer(sleepers=1)
    steps = Steps(timer, fails={0, 2, 3, 4})  # one success between: the count starts again
    scheduler = CycleScheduler(steps, timer, report=told.append, give_up_after=3)
    scheduler.start()
    timer.advance_to(600.0)  # the scheduler stops its timer when it ends: no lockstep left
    assert scheduler.join(timeout=5.0)
    assert steps.began == [0.0, 60.0, 120.0, 180.0, 240.0]
    assert scheduler.gave_up
    assert len(scheduler.failures) == scheduler.failed == 4
    assert told[-1] == (
        "cycle-scheduler: stopped after 3 failed steps in a row (the last: RuntimeError: "
        "step 4 broke)"
    )
    assert sum("stopped after" in line for line in told) == 1


def test_stop_ends_a_wait_on_the_wall_clock_at_once() -> None:
    ran = threading.Event()
    scheduler = CycleScheduler(ran.set, WallTimer(), interval_s=3600.0)
    scheduler.start()
    assert ran.wait(timeout=5.0)
    asked = time.monotonic()
    scheduler.stop()
    assert scheduler.join(timeout=5.0)
    assert time.monotonic() - asked < 1.0, "it slept out its hour"
    assert scheduler.steps == 1
    assert not scheduler.running


def test_stop_lets_the_step_in_hand_finish_and_runs_no_other() -> None:
    inside, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def step() -> None:
        inside.set()
        assert release.wait(timeout=5.0)
        finished.append(True)

    scheduler = CycleScheduler(step, WallTimer(), interval_s=0.001)
    scheduler.start()
    assert inside.wait(timeout=5.0)
    scheduler.stop()
    assert not scheduler.join(timeout=0.05), "a step is never cut short"
    release.set()
    assert scheduler.join(timeout=5.0)
    assert (finished, scheduler.steps) == ([True], 1)


def test_bad_settings_and_a_second_start_are_refused() -> None:
    with pytest.raises(ValueError, match="interval above 0"):
        CycleScheduler(lambda: None, WallTimer(), interval_s=0.0)
    with pytest.raises(ValueError, match="interval above 0"):
        CycleScheduler(lambda: None, WallTimer(), interval_s=math.nan)
    with pytest.raises(ValueError, match="give_up_after"):
        CycleScheduler(lambda: None, WallTimer(), give_up_after=0)
    with CycleScheduler(lambda: None, WallTimer()) as scheduler, pytest.raises(RuntimeError):
        scheduler.start()


def test_a_lockstep_timer_says_when_its_thread_never_comes_to_wait() -> None:
    timer = ManualTimer(sleepers=1, settle_s=0.05)
    with pytest.raises(TimeoutError, match="expected 1 thread"):
        timer.advance(1.0)
    with pytest.raises(ValueError, match="0 or more"):
        timer.advance(-1.0)


def test_only_the_latest_failures_are_kept_and_every_one_is_counted() -> None:
    timer = ManualTimer(sleepers=1)
    steps = Steps(timer, fails=set(range(150)))
    scheduler = run_until(steps, 149 * 60.0, give_up_after=1_000)
    assert scheduler.failed == 150
    assert len(scheduler.failures) == 100
    assert scheduler.failures[0] == StepFailure(50 * 60.0, "RuntimeError: step 50 broke")
