"""The port for shared hot state: the kill switch, rate-limit buckets and latest prices.

Hot state is what several processes of one deployment must agree on within a millisecond: whether
trading is stopped, how much of an exchange's rate limit is left, and the last price seen. The
embedded default keeps it in this process (`MemoryHotState`); a deployment that runs more than
one process keeps it in Redis (`RedisHotState`), so that a kill switch set by one process stops
every other.

The one rule every caller must follow: a backend that cannot answer raises
`StateUnavailableError`; it never returns a default. "Cannot read the kill switch" means "stop
trading", never "the switch is off". `fail_safe_kill_switch` turns that rule into code for the
engine's door: an unavailable backend reads as a set switch whose reason names the failure.

Time is always passed in by the caller (`ts_ns`, `now_ns`: integer nanoseconds since the Unix
epoch, UTC), so that tests are deterministic and a backtest can run on its historical clock.
Every process sharing one backend must pass comparable clocks: the same clock source (wall clock
in paper, sandbox and live). A process whose clock lags the others is throttled more by a token
bucket, never less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple, Protocol

from coinswarm.domain.errors import CoinswarmError, NonFiniteValueError

__all__ = [
    "MAX_BUCKET_SPAN_NS",
    "HotState",
    "KillSwitchFlag",
    "LatestPrice",
    "StateUnavailableError",
    "fail_safe_kill_switch",
]

NS_PER_SECOND = 1_000_000_000

# Redis runs its scripts in Lua 5.1, whose only number is a double: integers stay exact up to
# 2**53. Capping a bucket's span (burst x interval) at 2**52 ns (about 52 days) keeps every
# sum the script makes exact, so both backends grant exactly the same tokens.
MAX_BUCKET_SPAN_NS = 2**52


class StateUnavailableError(CoinswarmError):
    """The hot-state backend could not answer: treat the kill switch as set and stop trading.

    Raised for a server that refuses, times out, goes away mid-run, lost its data (a restart of a
    server that keeps nothing on disk) or holds values that cannot be parsed. Names the backend,
    the operation and what went wrong.
    """

    def __init__(self, *, backend: str, operation: str, reason: str) -> None:
        self.backend = backend
        self.operation = operation
        self.reason = reason
        super().__init__(
            f"hot state at {backend} could not {operation}: {reason.rstrip('.')}; expected an "
            "answer, so trading must stop (an unreadable kill switch counts as set)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class KillSwitchFlag:
    """A set kill switch: why, who set it and when (ns since the epoch, UTC)."""

    reason: str
    by: str
    ts_ns: int


class LatestPrice(NamedTuple):
    """The latest price of an instrument and the time it was observed (ns since the epoch)."""

    price: Decimal
    ts_ns: int


class HotState(Protocol):
    """Shared hot state: synchronous, because the engine's door calls it on its hot path.

    Every method raises `StateUnavailableError` when the backend cannot answer, and `ValueError`
    (or `TypeError`) for arguments that break the contract. Never catch the first to carry on
    trading: see `fail_safe_kill_switch`.
    """

    def set_kill_switch(self, reason: str, by: str, ts_ns: int) -> KillSwitchFlag:
        """Stop trading everywhere; return the flag in force.

        A switch already set stays as it was: the first reason is the one a person must read.
        """
        ...

    def clear_kill_switch(self, by: str, ts_ns: int) -> KillSwitchFlag | None:
        """Lift the kill switch; return the flag lifted, or None when nothing was lifted.

        A flag set after `ts_ns` stays: a clear decided before a newer trip must not lift it.
        Call `kill_switch()` afterwards to see what is in force.
        """
        ...

    def kill_switch(self) -> KillSwitchFlag | None:
        """Return the flag in force, or None when trading may go on."""
        ...

    def take(
        self, bucket: str, tokens: int = 1, *, now_ns: int, rate_per_s: float, burst: int
    ) -> bool:
        """Take `tokens` from a token bucket if it holds them, atomically across processes.

        A new bucket starts full (`burst` tokens) and refills at `rate_per_s`, rounded down to
        a whole number of nanoseconds per token so that it never grants more than promised:
        over any span of `t` seconds it grants at most `burst + rate_per_s * t` tokens. Pass the
        same rate and burst for one bucket everywhere. A refused take takes nothing.
        """
        ...

    def wait_time_ns(
        self, bucket: str, tokens: int = 1, *, now_ns: int, rate_per_s: float, burst: int
    ) -> int:
        """Return how long until `take` with these arguments would succeed; 0 means now."""
        ...

    def set_price(self, instrument: str, price: Decimal, ts_ns: int) -> bool:
        """Record a price; return False (and keep the newer one) when `ts_ns` is older.

        An equal timestamp replaces the stored price: the last write at one moment wins.
        """
        ...

    def price(self, instrument: str) -> LatestPrice | None:
        """Return the latest price of `instrument`, or None when none was recorded."""
        ...


def fail_safe_kill_switch(state: HotState, *, now_ns: int) -> KillSwitchFlag | None:
    """Return the flag in force, reading a backend that cannot answer as a set switch.

    The error is not lost: the returned flag's reason carries its full message.
    """
    try:
        return state.kill_switch()
    except StateUnavailableError as error:
        return KillSwitchFlag(reason=str(error), by="hot-state", ts_ns=now_ns)


# Shared by both backends so that they accept and refuse exactly the same arguments.


def _check_ts(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int of nanoseconds, found {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (ns since the Unix epoch), found {value}")


def _check_text(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, found {value!r}")
    if not value.strip() or not value.isprintable():
        raise ValueError(f"{name} must be non-blank printable text, found {value!r}")


def _check_flag(reason: str, by: str, ts_ns: int) -> None:
    _check_text("reason", reason)
    _check_text("by", by)
    _check_ts("ts_ns", ts_ns)


def _check_price(price: Decimal) -> None:
    if not isinstance(price, Decimal):
        raise TypeError(f"price must be a Decimal (never a float), found {price!r}")
    if not price.is_finite():
        raise NonFiniteValueError(f"price must be finite, found {price}")
    if price <= 0:
        raise ValueError(f"price must be > 0, found {price}")


def _bucket_costs(tokens: int, rate_per_s: float, burst: int) -> tuple[int, int]:
    """Return (cost, span) in ns: the refill time of `tokens` and of a full bucket."""
    for name, value in (("tokens", tokens), ("burst", burst)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, found {value!r}")
    if tokens > burst:
        raise ValueError(f"tokens must be <= burst ({burst}), found {tokens}: it could never pass")
    if isinstance(rate_per_s, bool) or not math.isfinite(rate_per_s) or rate_per_s <= 0:
        raise ValueError(f"rate_per_s must be a finite number > 0, found {rate_per_s!r}")
    # Fraction keeps 1e9 / rate exact; rounding the interval up keeps the rate at or under it.
    interval = max(1, math.ceil(Fraction(NS_PER_SECOND) / Fraction(rate_per_s)))
    span = burst * interval
    if span > MAX_BUCKET_SPAN_NS:
        raise ValueError(
            f"burst / rate_per_s must be at most {MAX_BUCKET_SPAN_NS / NS_PER_SECOND:.0f} s, "
            f"found burst={burst} at rate_per_s={rate_per_s}"
        )
    return tokens * interval, span


def _gcra(ready_at_ns: int | None, now_ns: int, cost_ns: int, span_ns: int) -> tuple[int, int]:
    """Return (wait_ns, new_ready_at_ns) of one take under the generic cell rate algorithm.

    The bucket is a single time, `ready_at_ns`: when it will be full again. Taking tokens pushes
    it `cost_ns` later; a take passes (wait 0) when that leaves it at most `span_ns` ahead of
    now. Store the new time only for a take that passes.
    """
    ahead = 0 if ready_at_ns is None else max(0, ready_at_ns - now_ns)
    after = ahead + cost_ns
    return max(0, after - span_ns), now_ns + after
