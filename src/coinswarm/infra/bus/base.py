"""The event bus port: the `Event` envelope, the `Bus` protocol and idempotent handling.

Delivery is at-least-once on every implementation: an event is handed to a durable
subscription's handler until the handler returns without raising, so a handler can see the same
event twice (it raised, the process died before the acknowledgement, the acknowledgement was
lost). Wrap a handler in `IdempotentHandler` and a repeat is skipped by `event_id`:
at-least-once delivery plus an idempotent handler is effectively-once processing.

Subjects are dot-separated tokens in the NATS style, and subscriptions take patterns where `*`
matches exactly one token and `>` (last token only) matches one or more. Subjects are logical:
an adapter that needs a namespace (the NATS one prepends its prefix) adds and strips it.

The payload is `bytes`: immutable, transport-neutral, and stored exactly as given. Callers that
speak JSON use `Event.from_json` and `Event.json`, which encode canonically (sorted keys, no
NaN) so that the same mapping always gives the same bytes and the same derived event id.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "Bus",
    "BusError",
    "BusUnavailableError",
    "Event",
    "Handler",
    "IdempotentHandler",
    "InvalidEventError",
    "InvalidSubjectError",
    "JsonValue",
    "MemorySeenIds",
    "SeenIds",
    "Subscription",
    "redelivery_delay",
    "subject_matches",
    "validate_durable",
    "validate_pattern",
    "validate_subject",
]

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

_ID_CHARS = re.compile(r"[\x21-\x7e]{1,256}")
_DURABLE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BAD_TOKEN = re.compile(r"[\s\x00-\x1f\x7f]")
_ID_DIGEST_CHARS = 32


class BusError(CoinswarmError):
    """The event bus refused an operation: names what was asked and why it cannot be done."""


class BusUnavailableError(BusError):
    """The bus cannot store or deliver events (closed, server gone); stop trading on it."""


class InvalidSubjectError(BusError, ValueError):
    """A subject, subject pattern or durable name is malformed."""


class InvalidEventError(BusError, ValueError):
    """An event's id, timestamp or payload is unusable."""


def _tokens(text: str, what: str) -> list[str]:
    if not isinstance(text, str) or not text:
        raise InvalidSubjectError(f"expected a non-empty {what}, found {text!r}")
    tokens = text.split(".")
    if any(not token or _BAD_TOKEN.search(token) for token in tokens):
        raise InvalidSubjectError(
            f"expected a {what} of non-empty dot-separated tokens without spaces, found {text!r}"
        )
    return tokens


def validate_subject(subject: str) -> str:
    """Return `subject` if it is a concrete subject (no wildcards); raise otherwise."""
    if any(token in ("*", ">") for token in _tokens(subject, "subject")):
        raise InvalidSubjectError(f"expected a subject without wildcards, found {subject!r}")
    return subject


def validate_pattern(pattern: str) -> str:
    """Return `pattern` if it is a valid subscription pattern; raise otherwise."""
    tokens = _tokens(pattern, "subject pattern")
    if ">" in tokens[:-1]:
        raise InvalidSubjectError(f"expected '>' only as the last token, found {pattern!r}")
    return pattern


def validate_durable(durable: str) -> str:
    """Return `durable` if it is a valid durable name (letters, digits, `_`, `-`)."""
    if not isinstance(durable, str) or not _DURABLE.fullmatch(durable):
        raise InvalidSubjectError(
            f"expected a durable name of 1-64 letters, digits, '_' or '-', found {durable!r}"
        )
    return durable


def subject_matches(pattern: str, subject: str) -> bool:
    """Tell whether the concrete `subject` falls under `pattern` (`*` one token, `>` the rest)."""
    wanted = pattern.split(".")
    found = subject.split(".")
    for index, want in enumerate(wanted):
        if want == ">":
            return len(found) > index
        if index >= len(found) or (want != "*" and want != found[index]):
            return False
    return len(found) == len(wanted)


def redelivery_delay(base_s: float, deliveries: int, cap_s: float = 5.0) -> float:
    """Return how long to wait before delivery number `deliveries + 1` of a failing event.

    The delay doubles with each failure up to `cap_s`, so a poison event keeps being retried
    (nothing is dropped) without spinning the process.
    """
    return float(min(base_s * 2 ** min(max(deliveries - 1, 0), 30), cap_s))


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        # Length-prefix each part so that ("ab", "c") and ("a", "bc") cannot collide.
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.hexdigest()[:_ID_DIGEST_CHARS]


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable message on the bus.

    `event_id` is the identity used for publish deduplication and idempotent handling; it is
    1-256 printable ASCII characters without spaces. `ts_ns` comes from the caller's injected
    clock, never from the bus. Build events with `Event.create` or `Event.from_json` to get an
    id derived deterministically from the caller's key (or, without a key, from the content).
    """

    event_id: str
    subject: str
    payload: bytes
    ts_ns: int

    def __post_init__(self) -> None:
        if not isinstance(self.event_id, str) or not _ID_CHARS.fullmatch(self.event_id):
            raise InvalidEventError(
                "expected an event_id of 1-256 printable ASCII characters without spaces, "
                f"found {self.event_id!r}"
            )
        validate_subject(self.subject)
        if not isinstance(self.payload, bytes):
            raise InvalidEventError(
                f"expected a bytes payload, found {type(self.payload).__name__}"
            )
        if isinstance(self.ts_ns, bool) or not isinstance(self.ts_ns, int) or self.ts_ns < 0:
            raise InvalidEventError(f"expected ts_ns as a non-negative int, found {self.ts_ns!r}")

    @classmethod
    def create(cls, subject: str, payload: bytes, *, ts_ns: int, key: str | None = None) -> Event:
        """Build an event whose id is derived from `(subject, key)`, or from the content.

        Give `key` whenever the event has a natural identity (an order id and a fill
        sequence, a bar's instrument and open time): re-publishing after a crash then yields the
        same id, and the duplicate is dropped. Without a key the id is a digest of subject,
        timestamp and payload, so byte-identical events at the same nanosecond are one event.
        """
        if key is not None:
            event_id = _digest(b"key", subject.encode(), key.encode())
        else:
            event_id = _digest(b"content", subject.encode(), str(ts_ns).encode(), payload)
        return cls(event_id=event_id, subject=subject, payload=payload, ts_ns=ts_ns)

    @classmethod
    def from_json(
        cls,
        subject: str,
        data: Mapping[str, JsonValue],
        *,
        ts_ns: int,
        key: str | None = None,
    ) -> Event:
        """Build an event from a JSON-safe mapping, encoded canonically (see `create`)."""
        try:
            payload = json.dumps(
                data, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False
            ).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidEventError(f"expected a JSON-safe mapping without NaN: {exc}") from exc
        return cls.create(subject, payload, ts_ns=ts_ns, key=key)

    def json(self) -> JsonValue:
        """Decode the payload as JSON; raise `InvalidEventError` if it is not JSON."""
        try:
            value: JsonValue = json.loads(self.payload)
        except ValueError as exc:
            raise InvalidEventError(
                f"expected a JSON payload in event {self.event_id}: {exc}"
            ) from exc
        return value


Handler: TypeAlias = Callable[[Event], Awaitable[None]]
"""Process one event; raise to have it redelivered, return to acknowledge it."""


@runtime_checkable
class Subscription(Protocol):
    """A live durable subscription; `unsubscribe` stops delivery but keeps the position."""

    @property
    def durable(self) -> str:
        """Return the durable name whose position this subscription advances."""
        ...

    @property
    def pattern(self) -> str:
        """Return the subject pattern this subscription receives."""
        ...

    async def unsubscribe(self) -> None:
        """Stop delivery; events not yet acknowledged are delivered again on re-subscribe."""
        ...


@runtime_checkable
class Bus(Protocol):
    """Publish events to persistent subjects and consume them through durable subscriptions.

    Every implementation: stores an event before `publish` returns (or raises); drops a
    re-published `event_id` it still remembers; delivers each durable subscription's events in
    publish order, one handler call at a time; acknowledges an event only when its handler
    returns; redelivers an event whose handler raised, after a short delay, possibly after
    events that followed it; and raises `BusUnavailableError` once it cannot do this.
    """

    async def publish(self, event: Event) -> None:
        """Store `event` durably; return once stored, raise `BusUnavailableError` if not."""
        ...

    async def publish_many(self, events: list[Event]) -> None:
        """Store `events` in order, pipelined where the transport allows; raise if any fails."""
        ...

    async def subscribe(self, pattern: str, durable: str, handler: Handler) -> Subscription:
        """Deliver events under `pattern` to `handler`, resuming `durable`'s position."""
        ...

    async def close(self) -> None:
        """Stop every subscription and release the transport; later calls raise."""
        ...


class SeenIds(Protocol):
    """Remember the ids of handled events. A storage-backed store makes it survive restarts."""

    async def contains(self, event_id: str) -> bool:
        """Tell whether `event_id` was handled already."""
        ...

    async def add(self, event_id: str) -> None:
        """Record that `event_id` was handled."""
        ...


class MemorySeenIds:
    """Remember the most recent `capacity` handled ids in memory, forgetting the oldest.

    The capacity must exceed the number of events that can be handled between a first
    delivery and its last possible redelivery, or a late duplicate is handled again.
    """

    __slots__ = ("_capacity", "_ids")

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError(f"expected a positive capacity, found {capacity}")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    async def contains(self, event_id: str) -> bool:
        """Tell whether `event_id` is among the remembered ids."""
        return event_id in self._ids

    async def add(self, event_id: str) -> None:
        """Remember `event_id`, forgetting the oldest id beyond the capacity."""
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)

    def __len__(self) -> int:
        return len(self._ids)


class IdempotentHandler:
    """Call the wrapped handler at most once per `event_id` that completes successfully.

    The id is recorded only after the handler returns, so a handler that raises is retried on
    redelivery. Two deliveries of one id that overlap (two subscriptions sharing this wrapper)
    are serialised, so the second sees the first's outcome. For exactly-once side effects
    across a crash, a storage-backed `SeenIds` must record the id in the same transaction as
    the handler's own writes; otherwise a crash between the two repeats the handler once.
    """

    __slots__ = ("_handler", "_in_flight", "_seen")

    def __init__(self, handler: Handler, seen: SeenIds | None = None) -> None:
        self._handler = handler
        self._seen: SeenIds = seen if seen is not None else MemorySeenIds()
        self._in_flight: dict[str, _Slot] = {}

    @property
    def seen(self) -> SeenIds:
        """Return the store of handled ids."""
        return self._seen

    async def __call__(self, event: Event) -> None:
        """Handle `event` unless its id was handled already."""
        slot = self._in_flight.get(event.event_id)
        if slot is None:
            slot = self._in_flight[event.event_id] = _Slot()
        slot.users += 1
        try:
            async with slot.lock:
                if await self._seen.contains(event.event_id):
                    return
                await self._handler(event)
                await self._seen.add(event.event_id)
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._in_flight[event.event_id]


class _Slot:
    """A per-id lock and the number of deliveries holding or awaiting it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
