"""Hot state in this process's memory: the embedded default."""

from __future__ import annotations

import threading
from decimal import Decimal

from coinswarm.infra.state.base import (
    KillSwitchFlag,
    LatestPrice,
    _bucket_costs,
    _check_flag,
    _check_price,
    _check_text,
    _check_ts,
    _gcra,
)

__all__ = ["MemoryHotState"]


class MemoryHotState:
    """Keep the kill switch, token buckets and latest prices in this process, safe across threads.

    Nothing here is visible to another process: a kill switch set in one `MemoryHotState` stops
    only the code that holds that object. A deployment of more than one process must share a
    `RedisHotState` instead. It never raises `StateUnavailableError`: memory always answers.
    """

    def __init__(self) -> None:
        # One lock for everything: each operation is a few dictionary steps, so finer locks
        # would cost more than the contention they save.
        self._lock = threading.Lock()
        self._flag: KillSwitchFlag | None = None
        self._ready_at: dict[str, int] = {}
        self._prices: dict[str, LatestPrice] = {}

    def set_kill_switch(self, reason: str, by: str, ts_ns: int) -> KillSwitchFlag:
        """Stop trading for every holder of this object; return the flag in force."""
        _check_flag(reason, by, ts_ns)
        with self._lock:
            if self._flag is None:
                self._flag = KillSwitchFlag(reason=reason, by=by, ts_ns=ts_ns)
            return self._flag

    def clear_kill_switch(self, by: str, ts_ns: int) -> KillSwitchFlag | None:
        """Lift a flag set at or before `ts_ns`; return it, or None when nothing was lifted."""
        _check_text("by", by)
        _check_ts("ts_ns", ts_ns)
        with self._lock:
            flag = self._flag
            if flag is None or flag.ts_ns > ts_ns:
                return None
            self._flag = None
            return flag

    def kill_switch(self) -> KillSwitchFlag | None:
        """Return the flag in force, or None when trading may go on."""
        # A single attribute read is atomic in CPython; the lock would only slow the hot path.
        return self._flag

    def take(
        self, bucket: str, tokens: int = 1, *, now_ns: int, rate_per_s: float, burst: int
    ) -> bool:
        """Take `tokens` from the named bucket if it holds them (see `HotState.take`)."""
        cost, span = self._checked_bucket(bucket, tokens, now_ns, rate_per_s, burst)
        with self._lock:
            wait, ready_at = _gcra(self._ready_at.get(bucket), now_ns, cost, span)
            if wait == 0:
                self._ready_at[bucket] = ready_at
        return wait == 0

    def wait_time_ns(
        self, bucket: str, tokens: int = 1, *, now_ns: int, rate_per_s: float, burst: int
    ) -> int:
        """Return the ns until `take` with these arguments would succeed; 0 means now."""
        cost, span = self._checked_bucket(bucket, tokens, now_ns, rate_per_s, burst)
        with self._lock:
            return _gcra(self._ready_at.get(bucket), now_ns, cost, span)[0]

    def set_price(self, instrument: str, price: Decimal, ts_ns: int) -> bool:
        """Record a price unless a newer one is stored; return whether it was recorded."""
        _check_text("instrument", instrument)
        _check_price(price)
        _check_ts("ts_ns", ts_ns)
        with self._lock:
            stored = self._prices.get(instrument)
            if stored is not None and stored.ts_ns > ts_ns:
                return False
            self._prices[instrument] = LatestPrice(price, ts_ns)
            return True

    def price(self, instrument: str) -> LatestPrice | None:
        """Return the latest price of `instrument`, or None when none was recorded."""
        _check_text("instrument", instrument)
        return self._prices.get(instrument)

    @staticmethod
    def _checked_bucket(
        bucket: str, tokens: int, now_ns: int, rate_per_s: float, burst: int
    ) -> tuple[int, int]:
        _check_text("bucket", bucket)
        _check_ts("now_ns", now_ns)
        return _bucket_costs(tokens, rate_per_s, burst)
