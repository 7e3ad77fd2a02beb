"""Token buckets per caller, answering how long to wait and what to put in `x-ratelimit-*`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PRIVATE_PER_SECOND", "PUBLIC_PER_SECOND", "Decision", "RateLimiter"]

PRIVATE_PER_SECOND = 30.0
"""Coinbase's documented limit for private endpoints, per key."""

PUBLIC_PER_SECOND = 10.0
"""Coinbase's documented limit for public endpoints, per address."""

Monotonic = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether one request may pass, and the headers that describe the bucket."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_s),
        }


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Refill `rate` tokens a second up to `rate` per caller; each request takes one.

    The monotonic clock is injectable so a test can freeze time and burst deterministically.
    """

    def __init__(self, rate: float, *, monotonic: Monotonic = time.monotonic) -> None:
        if not rate > 0:
            msg = f"expected a positive rate, found {rate}"
            raise ValueError(msg)
        self._rate = rate
        self._capacity = rate
        self._monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}

    def take(self, caller: str) -> Decision:
        """Spend one token of `caller`'s bucket if there is one."""
        now = self._monotonic()
        bucket = self._buckets.setdefault(caller, _Bucket(self._capacity, now))
        bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        missing = max(0.0, 1 - bucket.tokens)
        return Decision(
            allowed=allowed,
            limit=int(self._capacity),
            remaining=int(bucket.tokens),
            reset_s=math.ceil(missing / self._rate) if missing else 0,
        )
