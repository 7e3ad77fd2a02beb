"""The token bucket's priority lane: the kill switch's cancels go before queued reads."""

from __future__ import annotations

import threading

from coinswarm.exchanges.coinbase import TokenBucket


class Stage:
    """Time the test moves; the "reads" thread blocks in its first sleep until released."""

    def __init__(self) -> None:
        self.now = 100.0
        self.asleep = threading.Event()
        self.go = threading.Event()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if threading.current_thread().name == "reads" and not self.go.is_set():
            self.asleep.set()
            assert self.go.wait(5), "the test never released the reads"
        self.now += seconds


def test_a_priority_request_goes_before_a_read_that_was_already_waiting():
    stage = Stage()
    bucket = TokenBucket(4, capacity=1, monotonic=stage.monotonic, sleep=stage.sleep)
    granted: list[tuple[str, float]] = []

    def reads() -> None:
        for _ in range(2):  # the first takes the only token, the second queues
            bucket.acquire()
            granted.append(("read", stage.now))

    thread = threading.Thread(target=reads, name="reads")
    thread.start()
    assert stage.asleep.wait(5)
    bucket.acquire(priority=True)
    granted.append(("cancel", stage.now))
    stage.go.set()
    thread.join(5)
    assert not thread.is_alive()
    assert granted == [("read", 100.0), ("cancel", 100.25), ("read", 100.5)]


def test_both_lanes_together_stay_under_the_rate():
    stage = Stage()
    stage.go.set()
    bucket = TokenBucket(4, capacity=2, monotonic=stage.monotonic, sleep=stage.sleep)
    stamps = []
    for n in range(60):
        bucket.acquire(priority=n % 3 == 0)
        stamps.append(stage.now)
    for start in stamps:
        assert len([t for t in stamps if start <= t < start + 1.0]) <= 4
    assert bucket.priority_waiting == 0


def test_a_429_pause_holds_the_priority_lane_too():
    stage = Stage()
    stage.go.set()
    bucket = TokenBucket(4, monotonic=stage.monotonic, sleep=stage.sleep)
    bucket.pause(2.0)
    assert bucket.acquire(priority=True) == 2.0
