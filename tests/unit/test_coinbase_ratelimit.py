"""The client-side limiter, on an injected clock and sleep: never over the limit in any second."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def busiest(stamps: list[float], window_s: float = 1.0) -> int:
    """Return the most stamps inside any half-open window [t, t + window_s)."""
    return max((len([u for u in stamps if t <= u < t + window_s]) for t in stamps), default=0)


def test_the_default_is_ten_a_second() -> None:
    assert TokenBucket().rate == 10.0
    assert TokenBucket().capacity == 10


def test_the_first_second_holds_the_limit_and_not_the_limit_plus_the_refill() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=30)
    stamps = []
    for _ in range(90):
        limiter.acquire()
        stamps.append(fake.now)
    # A full bucket refilled continuously would let 59 through before 51.0.
    assert len([t for t in stamps if t < 51.0]) == 30
    assert busiest(stamps) == 30
    assert stamps[30] == 51.0  # the 31st waits for the first token to come back


def test_each_token_comes_back_one_second_after_it_was_spent() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=8)
    for _ in range(24):
        limiter.acquire()
    assert fake.sleeps == [1.0, 1.0]
    assert fake.now == 52.0


def test_a_smaller_capacity_spreads_the_requests_out() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=4, capacity=2)
    stamps = []
    for _ in range(12):
        limiter.acquire()
        stamps.append(fake.now)
    assert stamps == [50.0, 50.0, 50.5, 50.5, 51.0, 51.0, 51.5, 51.5, 52.0, 52.0, 52.5, 52.5]
    assert busiest(stamps) == 4


def test_requests_spread_over_the_second_free_their_tokens_one_by_one() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=4)
    for _ in range(4):
        fake.now += 0.25
        assert limiter.acquire() == 0
    # Tokens spent at 50.25, 50.5, 50.75 and 51.0 come back at 51.25, 51.5, ...
    assert limiter.acquire() == 0.25
    assert fake.now == 51.25


def test_idle_time_frees_at_most_the_capacity() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=4)
    for _ in range(4):
        limiter.acquire()
    fake.now += 100
    for _ in range(4):
        assert limiter.acquire() == 0
    assert limiter.acquire() == 1.0


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


def test_a_fractional_rate_spaces_single_requests() -> None:
    fake = FakeTime()
    limiter = bucket(fake, rate=2.5)
    assert limiter.capacity == 1
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(0.4)


@pytest.mark.parametrize(("rate", "capacity"), [(0, None), (-1, None), (5, 0.5), (5, 0), (10, 2.5)])
def test_nonsense_limits_are_refused(rate: float, capacity: float | None) -> None:
    with pytest.raises(ValueError, match="expected"):
        TokenBucket(rate, capacity=capacity)


# -- the property: any request times, never more than the limit in any one second --------------


@dataclass(frozen=True)
class Call:
    gap_s: float  # how long after the previous call returned this one arrives
    priority: bool
    pause_s: float  # a 429's reset wait announced just before the call; 0 for none


calls = st.builds(
    Call,
    gap_s=st.one_of(
        st.sampled_from([0.0, 0.0, 0.0, 1e-9, 0.001, 0.1, 0.25, 0.999999, 1.0]),
        st.floats(0, 2.5, allow_nan=False),
    ),
    priority=st.booleans(),
    pause_s=st.one_of(st.just(0.0), st.floats(0, 2, allow_nan=False)),
)


@st.composite
def limits(draw: st.DrawFn) -> tuple[int, int]:
    rate = draw(st.integers(1, 40))
    capacity = draw(st.sampled_from([c for c in range(1, rate + 1) if rate % c == 0]))
    return rate, capacity


@given(limit=limits(), sequence=st.lists(calls, max_size=150))
def test_no_one_second_window_ever_holds_more_than_the_rate(
    limit: tuple[int, int], sequence: list[Call]
) -> None:
    rate, capacity = limit
    fake = FakeTime()
    limiter = bucket(fake, rate=rate, capacity=capacity)
    stamps: list[float] = []
    expected: list[float] = []
    not_before = -1.0
    for call in sequence:
        fake.now += call.gap_s
        if call.pause_s:
            limiter.pause(call.pause_s)
            not_before = max(not_before, fake.now + call.pause_s)
        # The earliest the rule allows: after the pause, no sooner than the previous request,
        # and one window after the request `capacity` places back.
        earliest = max(fake.now, not_before, *stamps[-1:])
        if len(stamps) >= capacity:
            earliest = max(earliest, stamps[-capacity] + capacity / rate)
        limiter.acquire(priority=call.priority)
        stamps.append(fake.now)
        expected.append(earliest)
    assert busiest(stamps, capacity / rate) <= capacity  # exact: the rule itself
    # A second spans rate / capacity windows; their float sums may end a hair before it.
    assert busiest(stamps, 1.0 - 1e-9) <= rate
    # ...and it is not merely slow: each request went as soon as the rule allowed.
    assert stamps == pytest.approx(expected, abs=1e-6)
