"""A client-side token bucket, so the adapter stays under the exchange's request limit.

Time is injected (a monotonic clock and a sleep) so tests run bursts without waiting.

Two lanes share one bucket. Priority callers (the kill switch's cancels) reserve their slot
under the lock and sleep outside it; tokens may go negative, so they queue behind each other
in arrival order. Ordinary callers take a token only when one is there AND no priority caller
is waiting; otherwise they sleep until the next token and look again. So a cancel issued
while reads are queued goes out at the next free slot, ahead of every read still waiting,
and the two lanes together never exceed the rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["DEFAULT_PER_SECOND", "Monotonic", "Sleep", "TokenBucket"]

DEFAULT_PER_SECOND = 10.0
"""Coinbase's documented public limit, the stricter of its two; private routes allow 30."""

Monotonic = Callable[[], float]

_EPSILON = 1e-9  # float refills can land a hair below a whole token
Sleep = Callable[[float], None]


class TokenBucket:
    """Allow `rate` requests a second with bursts of at most `capacity` (default: `rate`)."""

    def __init__(
        self,
        rate: float = DEFAULT_PER_SECOND,
        *,
        capacity: float | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not rate > 0:
            msg = f"rate: expected a positive number of requests a second, found {rate}"
            raise ValueError(msg)
        self.rate = rate
        self.capacity = rate if capacity is None else capacity
        if not self.capacity >= 1:
            msg = f"capacity: expected at least 1, found {self.capacity}"
            raise ValueError(msg)
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._stamp = monotonic()
        self._not_before = self._stamp
        self._priority_waiting = 0

    def reserve(self) -> float:
        """Take a priority-lane token; return the seconds to wait before using it."""
        with self._lock:
            now = self._refill()
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            return max(wait, self._not_before - now)

    def acquire(self, *, priority: bool = False) -> float:
        """Wait until a request may be sent; return the seconds waited.

        A `priority` request goes ahead of every ordinary request that is still waiting.
        """
        if priority:
            return self._acquire_priority()
        waited = 0.0
        while True:
            wait = self._try_ordinary()
            if wait <= 0:
                return waited
            self._sleep(wait)
            waited += wait

    @property
    def priority_waiting(self) -> int:
        """Return how many priority requests are waiting for their slot."""
        with self._lock:
            return self._priority_waiting

    def pause(self, seconds: float) -> None:
        """Hold every caller back for `seconds`, as a 429's reset header asks."""
        with self._lock:
            now = self._monotonic()
            self._not_before = max(self._not_before, now + seconds)
            self._tokens = min(self._tokens, 0.0)

    def _refill(self) -> float:
        now = self._monotonic()
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._stamp = now
        return now

    def _acquire_priority(self) -> float:
        with self._lock:
            self._priority_waiting += 1
        try:
            wait = self.reserve()
            if wait > 0:
                self._sleep(wait)
        finally:
            with self._lock:
                self._priority_waiting -= 1
        return wait

    def _try_ordinary(self) -> float:
        """Take a token and return 0, or return how long to sleep before trying again."""
        with self._lock:
            now = self._refill()
            held_back = self._not_before - now
            if self._priority_waiting == 0 and held_back <= 0 and self._tokens >= 1 - _EPSILON:
                self._tokens -= 1
                return 0.0
            next_token = (1 - self._tokens) / self.rate
            if self._priority_waiting:
                # The priority lane has tokens reserved; look again after its next slot.
                next_token = max(next_token, 1 / self.rate)
            return max(next_token, held_back, _EPSILON)
