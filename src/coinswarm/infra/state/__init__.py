"""Shared hot state: the kill switch, rate-limit buckets and latest prices.

`MemoryHotState` is the embedded default for one process; `RedisHotState` shares the same
contract (`HotState`) across processes. A backend that cannot answer raises
`StateUnavailableError`, and that means "stop trading": see `fail_safe_kill_switch`.
"""

from coinswarm.infra.state.base import (
    MAX_BUCKET_SPAN_NS,
    HotState,
    KillSwitchFlag,
    LatestPrice,
    StateUnavailableError,
    fail_safe_kill_switch,
)
from coinswarm.infra.state.memory import MemoryHotState
from coinswarm.infra.state.redis import DEFAULT_REDIS_URL, RedisHotState, shared_state

__all__ = [
    "DEFAULT_REDIS_URL",
    "MAX_BUCKET_SPAN_NS",
    "HotState",
    "KillSwitchFlag",
    "LatestPrice",
    "MemoryHotState",
    "RedisHotState",
    "StateUnavailableError",
    "fail_safe_kill_switch",
    "shared_state",
]
