"""Hot state in a Redis server, shared by every process of a deployment.

Layout: all keys of one namespace start with `{namespace}:` (braces, so that a Redis Cluster puts
them in one slot and the scripts may touch several). The hash `{ns}:meta` holds the namespace's
generation and the kill switch; `{ns}:bucket:<name>` holds a bucket's refill time as two integer
fields (seconds, nanoseconds); `{ns}:price:<instrument>` holds the price as a decimal string
(never a float) and its time likewise split.

Every write and every read that matters runs as one Lua script, so it is atomic across
processes. Lua numbers are doubles, which is why times travel as whole seconds plus nanoseconds:
each part stays exact.

Redis keeps nothing on disk here, so a restart silently empties it and a set kill switch would
vanish. To turn that silent loss into an error, the first client writes a random generation into
`{ns}:meta`; every client remembers the generation it found, and every operation checks it. A
missing or different generation raises `StateUnavailableError`, so the run stops.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from coinswarm.infra.state.base import (
    NS_PER_SECOND,
    KillSwitchFlag,
    LatestPrice,
    StateUnavailableError,
    _bucket_costs,
    _check_flag,
    _check_price,
    _check_text,
    _check_ts,
)

__all__ = ["DEFAULT_REDIS_URL", "STATE_NAMESPACE", "RedisHotState", "shared_state"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
STATE_NAMESPACE = "coinswarm"

_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_LOST_MARK = "COINSWARM_STATE_LOST"
_LOST_REASON = (
    "the namespace's keys are gone or were replaced (a restart of a server that keeps nothing "
    "on disk, a flush or a delete), so a kill switch set earlier may have been lost"
)
_FLAG_FIELDS = ("reason", "by", "ts_s", "ts_ns")

# Every script starts here: refuse to act on a namespace whose generation is not ours.
_GUARD = f"""
local generation = redis.call('HGET', KEYS[1], 'generation')
if generation ~= ARGV[1] then
  return redis.error_reply('{_LOST_MARK} found generation ' .. tostring(generation))
end
local function later(a_s, a_ns, b_s, b_ns)
  a_s, a_ns, b_s, b_ns = tonumber(a_s), tonumber(a_ns), tonumber(b_s), tonumber(b_ns)
  return a_s > b_s or (a_s == b_s and a_ns > b_ns)
end
"""

_OPEN = """
redis.call('HSETNX', KEYS[1], 'generation', ARGV[1])
return redis.call('HGET', KEYS[1], 'generation')
"""

# ARGV: generation, reason, by, ts_s, ts_ns. The first flag set stays.
_SET_FLAG = (
    _GUARD
    + """
if redis.call('HEXISTS', KEYS[1], 'reason') == 0 then
  redis.call('HSET', KEYS[1], 'reason', ARGV[2], 'by', ARGV[3], 'ts_s', ARGV[4], 'ts_ns', ARGV[5])
end
return redis.call('HMGET', KEYS[1], 'reason', 'by', 'ts_s', 'ts_ns')
"""
)

# ARGV: generation, ts_s, ts_ns. A flag set after the clear's time stays.
_CLEAR_FLAG = (
    _GUARD
    + """
local flag = redis.call('HMGET', KEYS[1], 'reason', 'by', 'ts_s', 'ts_ns')
if not flag[1] or later(flag[3], flag[4], ARGV[2], ARGV[3]) then
  return false
end
redis.call('HDEL', KEYS[1], 'reason', 'by', 'ts_s', 'ts_ns')
return flag
"""
)

# KEYS: meta, bucket. ARGV: generation, now_s, now_ns, cost_ns, span_ns, consume ('1' or '0').
# Returns the wait in ns, 0 when the take passes. Mirrors `base._gcra`.
_TAKE = (
    _GUARD
    + """
local now_s, now_ns = tonumber(ARGV[2]), tonumber(ARGV[3])
local cost, span = tonumber(ARGV[4]), tonumber(ARGV[5])
local ahead = 0
local ready = redis.call('HMGET', KEYS[2], 's', 'ns')
if ready[1] then
  ahead = math.max(0, (tonumber(ready[1]) - now_s) * 1e9 + (tonumber(ready[2]) - now_ns))
end
local after = ahead + cost
if after > span then
  return after - span
end
if ARGV[6] == '1' then
  local ns = now_ns + after
  local carry = math.floor(ns / 1e9)
  ns = ns - carry * 1e9
  -- A division that rounds up at the edge of a second leaves ns negative: borrow it back.
  if ns < 0 then
    ns = ns + 1e9
    carry = carry - 1
  end
  local s = string.format('%d', now_s + carry)
  redis.call('HSET', KEYS[2], 's', s, 'ns', string.format('%d', ns))
end
return 0
"""
)

# KEYS: meta, price. ARGV: generation, price, ts_s, ts_ns. Returns 1 when stored, 0 when older.
_SET_PRICE = (
    _GUARD
    + """
local old = redis.call('HMGET', KEYS[2], 'ts_s', 'ts_ns')
if old[1] and later(old[1], old[2], ARGV[3], ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[2], 'price', ARGV[2], 'ts_s', ARGV[3], 'ts_ns', ARGV[4])
return 1
"""
)

_GET_PRICE = (
    _GUARD
    + """
return redis.call('HMGET', KEYS[2], 'price', 'ts_s', 'ts_ns')
"""
)


class RedisHotState:
    """Keep the kill switch, token buckets and latest prices in Redis, shared across processes.

    `namespace` isolates deployments and tests (letters, digits, `_`, `.`, `-`). Opening checks
    the server at once and raises `StateUnavailableError` when it cannot answer. Every later
    Redis error, timeout (`timeout_s`, short on purpose: a stalled server must stop trading, not
    the engine) or loss of the namespace's keys raises `StateUnavailableError` naming the server
    and the operation. Safe to share across threads; close it when done.
    """

    def __init__(
        self, url: str = DEFAULT_REDIS_URL, *, namespace: str, timeout_s: float = 0.25
    ) -> None:
        if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            raise ValueError(
                f"namespace must be 1-100 letters, digits, '_', '.' or '-', found {namespace!r}"
            )
        self.namespace = namespace
        self.server = _describe(url)
        self._meta = f"{{{namespace}}}:meta"
        # One quick retry on a broken connection re-dials a restarted server; timeouts are not
        # retried, so a stalled server costs one `timeout_s`, not several.
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        )
        self._set_flag = self._client.register_script(_SET_FLAG)
        self._clear_flag = self._client.register_script(_CLEAR_FLAG)
        self._take = self._client.register_script(_TAKE)
        self._set_price = self._client.register_script(_SET_PRICE)
        self._get_price = self._client.register_script(_GET_PRICE)
        try:
            with self._answering(f"open namespace {namespace!r}"):
                generation = self._client.register_script(_OPEN)(
                    keys=[self._meta], args=[secrets.token_hex(8)]
                )
                self._generation = _text(generation, "generation")
        except StateUnavailableError:
            self._client.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections to the server."""
        self._client.close()

    def set_kill_switch(self, reason: str, by: str, ts_ns: int) -> KillSwitchFlag:
        """Stop trading in every process of this namespace; return the flag in force."""
        _check_flag(reason, by, ts_ns)
        with self._answering("set the kill switch"):
            values = self._set_flag(
                keys=[self._meta], args=[self._generation, reason, by, *_split(ts_ns)]
            )
            flag = _flag(values)
        if flag is None:
            raise StateUnavailableError(
                backend=self.server,
                operation="set the kill switch",
                reason="the server answered without the flag it was asked to keep",
            )
        return flag

    def clear_kill_switch(self, by: str, ts_ns: int) -> KillSwitchFlag | None:
        """Lift a flag set at or before `ts_ns`; return it, or None when nothing was lifted."""
        _check_text("by", by)
        _check_ts("ts_ns", ts_ns)
        with self._answering("clear the kill switch"):
            values = self._clear_flag(keys=[self._meta], args=[self._generation, *_split(ts_ns)])
            return None if values is None else _flag(values)

    def kill_switch(self) -> KillSwitchFlag | None:
        """Return the flag in force, or None when trading may go on."""
        # One plain HMGET, not a script: this read sits on the hot path of every order.
        with self._answering("read the kill switch"):
            generation, *values = self._client.hmget(self._meta, ["generation", *_FLAG_FIELDS])
            if generation != self._generation:
                raise _LostError
            return _flag(values)

    def take(
        self, bucket: str, tokens: int = 1, *, now_ns: int, rate_per_s: float, burst: int
    ) -> bool:
        """Take `tokens` from the named bucket if it holds them (see `HotState.take`)."""
        operation = f"take {tokens} from bucket {bucket!r}"
        wait = self._bucket(
            operation,
            bucket=bucket,
            tokens=tokens,
            now_ns=now_ns,
            rate_per_s=rate_per_s,
            burst=burst,
            consume="1",
        )
        return wait == 0

    def wait_time_ns(
        self, bucket: str, tokens: int = 1, *, now_ns: int, rate_per_s: float, burst: int
    ) -> int:
        """Return the ns until `take` with these arguments would succeed; 0 means now."""
        operation = f"read bucket {bucket!r}"
        return self._bucket(
            operation,
            bucket=bucket,
            tokens=tokens,
            now_ns=now_ns,
            rate_per_s=rate_per_s,
            burst=burst,
            consume="0",
        )

    def set_price(self, instrument: str, price: Decimal, ts_ns: int) -> bool:
        """Record a price unless a newer one is stored; return whether it was recorded."""
        _check_text("instrument", instrument)
        _check_price(price)
        _check_ts("ts_ns", ts_ns)
        with self._answering(f"set the price of {instrument!r}"):
            stored = self._set_price(
                keys=[self._meta, self._key("price", instrument)],
                args=[self._generation, str(price), *_split(ts_ns)],
            )
            return _integer(stored) == 1

    def price(self, instrument: str) -> LatestPrice | None:
        """Return the latest price of `instrument`, or None when none was recorded."""
        _check_text("instrument", instrument)
        with self._answering(f"read the price of {instrument!r}"):
            values = self._get_price(
                keys=[self._meta, self._key("price", instrument)], args=[self._generation]
            )
            text, ts_s, ts_ns = _texts(values, 3)
            if text is None:
                return None
            return LatestPrice(_decimal(text), _join(ts_s, ts_ns))

    def delete_all(self) -> int:
        """Delete every key of this namespace; return how many. Later calls here will raise.

        For tests and for retiring a deployment: the generation goes too, so any process still
        using the namespace sees it lost and stops.
        """
        with self._answering(f"delete namespace {self.namespace!r}"):
            keys = list(self._client.scan_iter(match=f"{{{self.namespace}}}:*", count=1000))
            return _integer(self._client.delete(*keys)) if keys else 0

    def _bucket(
        self,
        operation: str,
        *,
        bucket: str,
        tokens: int,
        now_ns: int,
        rate_per_s: float,
        burst: int,
        consume: str,
    ) -> int:
        _check_text("bucket", bucket)
        _check_ts("now_ns", now_ns)
        cost, span = _bucket_costs(tokens, rate_per_s, burst)
        with self._answering(operation):
            wait = self._take(
                keys=[self._meta, self._key("bucket", bucket)],
                args=[self._generation, *_split(now_ns), cost, span, consume],
            )
            return _integer(wait)

    def _key(self, kind: str, name: str) -> str:
        return f"{{{self.namespace}}}:{kind}:{name}"

    @contextmanager
    def _answering(self, operation: str) -> Iterator[None]:
        """Turn every way the server can fail to answer into one `StateUnavailableError`."""
        try:
            yield
        except _LostError:
            raise self._error(operation, _LOST_REASON) from None
        except redis.ResponseError as error:
            reason = _LOST_REASON if _LOST_MARK in str(error) else f"the server refused: {error}"
            raise self._error(operation, reason) from error
        except redis.RedisError as error:
            raise self._error(operation, f"{type(error).__name__}: {error}") from error
        except _UnreadableError as error:
            raise self._error(operation, f"found data it cannot read (expected {error})") from error

    def _error(self, operation: str, reason: str) -> StateUnavailableError:
        return StateUnavailableError(backend=self.server, operation=operation, reason=reason)


class _LostError(Exception):
    """The namespace's generation is missing or not the one this client opened."""


class _UnreadableError(Exception):
    """A stored value is not what this module writes."""


def _describe(url: str) -> str:
    """Return the server's address without the password a URL may carry."""
    parts = urlsplit(url)
    if parts.hostname is None:
        return f"{parts.scheme}://{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


def _split(ts_ns: int) -> tuple[int, int]:
    return divmod(ts_ns, NS_PER_SECOND)


def _join(ts_s: str | None, ts_ns: str | None) -> int:
    if ts_s is None or ts_ns is None or not ts_s.isdigit() or not ts_ns.isdigit():
        raise _UnreadableError(
            f"a time as whole seconds and nanoseconds, found {ts_s!r}, {ts_ns!r}"
        )
    return int(ts_s) * NS_PER_SECOND + int(ts_ns)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _UnreadableError(f"{name} as text, found {value!r}")
    return value


def _texts(values: Any, count: int) -> list[str | None]:
    if not isinstance(values, list) or len(values) != count:
        raise _UnreadableError(f"a list of {count} values, found {values!r}")
    return [None if value is None else _text(value, "a field") for value in values]


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _UnreadableError(f"an integer, found {value!r}")
    return value


def _decimal(text: str) -> Decimal:
    try:
        price = Decimal(text)
    except ArithmeticError:
        raise _UnreadableError(f"a decimal price, found {text!r}") from None
    if not price.is_finite() or price <= 0:
        raise _UnreadableError(f"a finite price > 0, found {text!r}")
    return price


def _flag(values: Sequence[Any]) -> KillSwitchFlag | None:
    reason, by, ts_s, ts_ns = _texts(list(values), len(_FLAG_FIELDS))
    if reason is None and by is None and ts_s is None and ts_ns is None:
        return None
    if reason is None or by is None:
        raise _UnreadableError(f"a flag with a reason and a setter, found {reason!r}, {by!r}")
    return KillSwitchFlag(reason=reason, by=by, ts_ns=_join(ts_s, ts_ns))


def shared_state(url: str | None) -> RedisHotState | None:
    """Return the shared hot state at `url` (Redis), or None when there is none.

    Keys live under COINSWARM_STATE_NAMESPACE (default "coinswarm"), so tests share a server.
    """
    if url is None:
        return None
    namespace = os.environ.get("COINSWARM_STATE_NAMESPACE", STATE_NAMESPACE)
    return RedisHotState(url, namespace=namespace)
