"""The client-side token bucket, on an injected clock and sleep."""

from __future__ import annotations

import threading

import pytest

from coinswarm.exchanges.coinbase import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 50.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bucket(fake: FakeTime, rate: float = 10.0, capacity: float | None = None) -> TokenBucket:
    return TokenBucket(rate, capacity=capacity, monotonic=fake.monotonic, sleep=fake.sleep)


def test_the_default_is_ten_a_second() -> None:
    assert TokenBucket().rate == 10.0


def test_a_burst_of_capacity_passes_then_one_every_tick() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=8)  # 1/8 s steps are exact in binary
    for _ in range(24):
        limiter.acquire()
    assert fake.sleeps == [0.125] * 16
    assert fake.now == 52.0


def test_never_more_than_capacity_plus_rate_times_window() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=4, capacity=2)
    stamps = []
    for _ in range(40):
        limiter.acquire()
        stamps.append(fake.now)
    for start in stamps:
        in_window = [t for t in stamps if start <= t < start + 1.0]
        assert len(in_window) <= 2 + 4


def test_idle_time_refills_up_to_capacity_only() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=4)
    for _ in range(4):
        limiter.acquire()
    fake.now += 100
    for _ in range(4):
        assert limiter.acquire() == 0
    assert limiter.acquire() == 0.25


def test_a_pause_holds_the_next_request_back() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=4)
    limiter.pause(1.5)
    assert limiter.acquire() == 1.5
    assert fake.now == 51.5


def test_threads_reserve_distinct_slots() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=4, capacity=1)
    waits: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        wait = limiter.reserve()  # time frozen: each reservation queues behind the last
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


@pytest.mark.parametrize(("rate", "capacity"), [(0, None), (-1, None), (5, 0.5)])
def test_nonsense_limits_are_refused(rate: float, capacity: float | None) -> None:
    with pytest.raises(ValueError, match="expected"):
        TokenBucket(rate, capacity=capacity)
