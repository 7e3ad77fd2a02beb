"""Replaying recorded bars at a chosen speed, with a fake clock: no test ever waits."""

from __future__ import annotations

import pytest

from coinswarm.backtest.replay import ReplayPacer

HOUR = 3600 * 10**9


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_an_hour_of_bars_takes_a_minute_at_60x():
    clock = FakeTime()
    pace = ReplayPacer(60, monotonic=clock.monotonic, sleep=clock.sleep)
    for hour in range(4):
        pace(hour * HOUR)
        clock.now += 0.5  # the engine's own work on that bar
    assert clock.slept == pytest.approx([59.5, 59.5, 59.5])


def test_a_slow_engine_is_never_made_to_wait_more():
    clock = FakeTime()
    pace = ReplayPacer(3600, monotonic=clock.monotonic, sleep=clock.sleep)
    pace(0)
    clock.now += 5.0  # behind schedule: the next bar was due after one second
    pace(HOUR)
    assert clock.slept == []


@pytest.mark.parametrize("speed", [0, -1])
def test_a_speed_must_be_positive(speed):
    with pytest.raises(ValueError, match="above 0"):
        ReplayPacer(speed)
