"""A client-side limiter, so the adapter never sends more than the exchange's documented limit.

Coinbase documents its limits as requests a second. A classic token bucket that starts full
and refills continuously lets through its whole capacity at once AND the refill during the
next second: at 30 a second, 59 requests in one second. This bucket instead gives each token
back exactly one window after it was spent, so any window of that length holds at most
`capacity` requests, the first window included. With the default capacity (`rate`) the window
is one second: never more than `rate` requests in any one second, and a full burst of `rate`
when the bucket has been idle for a second.

Time is injected (a monotonic clock and a sleep) so tests run bursts without waiting.

Two lanes share one bucket. Priority callers (the kill switch's cancels) reserve their slot
under the lock, possibly in the future, and sleep outside it; so they queue behind each other
in arrival order. Ordinary callers take a slot only when one is free now AND no priority
caller is waiting; otherwise they sleep and look again. So a cancel issued while reads are
queued goes out at the next free slot, ahead of every read still waiting, and the two lanes
together never exceed the limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["DEFAULT_PER_SECOND", "Monotonic", "Sleep", "TokenBucket"]

DEFAULT_PER_SECOND = 10.0
"""Coinbase's documented public limit, the stricter of its two; private routes allow 30."""

Monotonic = Callable[[], float]
Sleep = Callable[[float], None]

_SMALLEST_SLEEP = 1e-9  # float sums can land a hair before a slot; look again just after it


class TokenBucket:
    """Allow at most `capacity` requests in any window of `capacity / rate` seconds.

    `capacity` is a whole number of requests, by default `rate` (when `rate` is whole), which
    makes the window one second. A smaller capacity spreads requests out: capacity 1 spaces
    them `1 / rate` seconds apart. With a whole `rate` and a capacity that divides it, no
    one-second window ever holds more than `rate` requests.
    """

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
        default = rate if float(rate).is_integer() else 1
        chosen = default if capacity is None else capacity
        if not (chosen >= 1 and float(chosen).is_integer()):
            msg = f"capacity: expected a whole number of requests, at least 1, found {chosen}"
            raise ValueError(msg)
        self.rate = rate
        self.capacity = int(chosen)
        self.window_s = self.capacity / rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        # When each of the last `capacity` slots was (or, for a reservation, will be) used;
        # never decreasing, so the oldest is the next token to come back.
        self._used: deque[float] = deque(maxlen=self.capacity)
        self._not_before = -math.inf
        self._priority_waiting = 0

    def reserve(self) -> float:
        """Take a priority-lane slot; return the seconds to wait before using it."""
        slot, now = self._reserve()
        return slot - now

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
            self._not_before = max(self._not_before, self._monotonic() + seconds)

    def _reserve(self) -> tuple[float, float]:
        """Take the next slot, now or in the future; return it and the time it was taken."""
        with self._lock:
            now = self._monotonic()
            slot = self._next_slot(now)
            self._used.append(slot)
            return slot, now

    def _next_slot(self, now: float) -> float:
        """Return the earliest time a request may go: no sooner than any slot already given."""
        slot = max(now, self._not_before)
        if self._used:
            slot = max(slot, self._used[-1])
        if len(self._used) == self.capacity:
            slot = max(slot, self._used[0] + self.window_s)
        return slot

    def _acquire_priority(self) -> float:
        with self._lock:
            self._priority_waiting += 1
        try:
            slot, _ = self._reserve()
            waited = 0.0
            # Sleep until the slot itself, not merely `wait`: a float sum may fall just short.
            while (remaining := slot - self._monotonic()) > 0:
                step = max(remaining, _SMALLEST_SLEEP)
                self._sleep(step)
                waited += step
        finally:
            with self._lock:
                self._priority_waiting -= 1
        return waited

    def _try_ordinary(self) -> float:
        """Take a slot and return 0, or return how long to sleep before trying again."""
        with self._lock:
            now = self._monotonic()
            slot = self._next_slot(now)
            if self._priority_waiting == 0 and slot <= now:
                self._used.append(now)
                return 0.0
            wait = slot - now
            if self._priority_waiting:
                # A priority caller holds a slot it has not used yet; look again after it.
                wait = max(wait, 1 / self.rate)
            return max(wait, _SMALLEST_SLEEP)
