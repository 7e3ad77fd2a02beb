"""A client-side token bucket, so the adapter stays under the exchange's request limit.

Time is injected (a monotonic clock and a sleep) so tests run bursts without waiting. Tokens
may go negative: each caller reserves its slot under the lock and sleeps outside it, which
keeps the bucket fair and thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["DEFAULT_PER_SECOND", "Monotonic", "Sleep", "TokenBucket"]

DEFAULT_PER_SECOND = 10.0
"""Coinbase's documented public limit, the stricter of its two; private routes allow 30."""

Monotonic = Callable[[], float]
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

    def reserve(self) -> float:
        """Take one token and return how many seconds to wait before using it."""
        with self._lock:
            now = self._monotonic()
            elapsed = max(0.0, now - self._stamp)
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._stamp = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            return max(wait, self._not_before - now)

    def acquire(self) -> float:
        """Wait until a request may be sent; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def pause(self, seconds: float) -> None:
        """Hold every caller back for `seconds`, as a 429's reset header asks."""
        with self._lock:
            now = self._monotonic()
            self._not_before = max(self._not_before, now + seconds)
            self._tokens = min(self._tokens, 0.0)
