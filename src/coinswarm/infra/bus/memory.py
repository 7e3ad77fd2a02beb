"""The in-process event bus: the embedded default, and the fake every test can trust.

It keeps JetStream's semantics in one process: a retained log of events (the stream), durable
subscriptions that remember their position across unsubscribe and re-subscribe (the durable
consumers), acknowledgement when a handler returns, redelivery with backoff when it raises, and
publish deduplication by `event_id` over the retained events. Nothing survives the process:
for that, use the NATS adapter.

A new durable name starts from the oldest retained event, as a JetStream consumer with the
default deliver policy does. At most `max_events` events are retained: when the limit is
reached, the events every durable has acknowledged are dropped, and if that frees nothing,
`publish` raises `BusError` naming the durable that holds the rest back. Nothing a durable has
not acknowledged is ever dropped; `delete_durable` forgets one that will not come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from coinswarm.infra.bus.base import (
    BusError,
    BusUnavailableError,
    Event,
    Handler,
    redelivery_delay,
    subject_matches,
    validate_durable,
    validate_pattern,
)

__all__ = ["MemoryBus", "MemoryBusConfig", "MemorySubscription"]

_log = logging.getLogger(__name__)
_MATCH_CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryBusConfig:
    """Tune the in-process bus; the defaults suit a backtest or a paper session."""

    redelivery_delay_s: float = 0.05
    max_events: int = 1_000_000
    stop_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.redelivery_delay_s < 0 or self.stop_timeout_s <= 0:
            raise ValueError(
                "expected redelivery_delay_s >= 0 and stop_timeout_s > 0, found "
                f"{self.redelivery_delay_s} and {self.stop_timeout_s}"
            )
        if self.max_events < 1:
            raise ValueError(f"expected max_events >= 1, found {self.max_events}")


@dataclass(slots=True)
class _Durable:
    """What a durable name remembers between subscriptions: its position and its retries."""

    name: str
    pattern: str
    next_seq: int
    retries: dict[int, float] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    matches: dict[str, bool] = field(default_factory=dict)
    active: MemorySubscription | None = None

    def wants(self, subject: str) -> bool:
        hit = self.matches.get(subject)
        if hit is None:
            if len(self.matches) >= _MATCH_CACHE_LIMIT:
                self.matches.clear()
            hit = self.matches[subject] = subject_matches(self.pattern, subject)
        return hit

    def advance(self, events: dict[int, Event], end: int) -> int | None:
        """Step over events this durable does not follow; return the next one it does."""
        while self.next_seq < end:
            event = events.get(self.next_seq)
            if event is not None and self.wants(event.subject):
                return self.next_seq
            # Stepping over an event the durable does not follow acknowledges it.
            self.next_seq += 1
        return None

    def floor(self) -> int:
        """Return the oldest sequence this durable may still need."""
        return min(self.next_seq, *self.retries) if self.retries else self.next_seq


class MemoryBus:
    """Publish and consume events inside one asyncio event loop."""

    def __init__(self, config: MemoryBusConfig | None = None) -> None:
        self._config = config if config is not None else MemoryBusConfig()
        self._events: dict[int, Event] = {}
        self._base = 0
        self._end = 0
        self._ids: dict[str, int] = {}
        self._durables: dict[str, _Durable] = {}
        self._closed = False

    @property
    def config(self) -> MemoryBusConfig:
        """Return the configuration this bus was built with."""
        return self._config

    @property
    def end_seq(self) -> int:
        """Return the sequence number the next stored event will get."""
        return self._end

    @property
    def events(self) -> dict[int, Event]:
        """Return the retained events by sequence number (read-only by convention)."""
        return self._events

    def event_at(self, seq: int) -> Event | None:
        """Return the retained event with sequence `seq`, or None if dropped or not yet stored."""
        return self._events.get(seq)

    async def publish(self, event: Event) -> None:
        """Store `event` unless its id is already retained, and wake the subscriptions."""
        self._store(event)
        self._wake_all()

    async def publish_many(self, events: list[Event]) -> None:
        """Store `events` in order, waking the subscriptions once."""
        try:
            for event in events:
                self._store(event)
        finally:
            self._wake_all()

    async def subscribe(self, pattern: str, durable: str, handler: Handler) -> MemorySubscription:
        """Deliver events under `pattern` to `handler`, resuming `durable` where it stopped."""
        self._check_open(f"subscribe durable {durable!r}")
        state = self._durable(validate_pattern(pattern), validate_durable(durable))
        subscription = MemorySubscription(self, state, handler)
        state.active = subscription
        subscription.start()
        return subscription

    def delete_durable(self, durable: str) -> None:
        """Forget an inactive durable and its position, so it no longer holds events back."""
        state = self._durables.get(durable)
        if state is not None and state.active is not None:
            raise BusError(f"cannot delete durable {durable!r}: it has an active subscription")
        self._durables.pop(durable, None)

    async def close(self) -> None:
        """Stop every subscription; later publishes and subscribes raise `BusUnavailableError`."""
        self._closed = True
        active = [d.active for d in self._durables.values() if d.active is not None]
        for subscription in active:
            await subscription.unsubscribe()

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise BusUnavailableError(f"cannot {action}: the in-process bus is closed")

    def _durable(self, pattern: str, name: str) -> _Durable:
        state = self._durables.get(name)
        if state is None:
            state = self._durables[name] = _Durable(name, pattern, self._base)
        elif state.pattern != pattern:
            raise BusError(
                f"durable {name!r} follows {state.pattern!r}; cannot re-subscribe it to {pattern!r}"
            )
        elif state.active is not None:
            raise BusError(f"durable {name!r} already has an active subscription")
        return state

    def _store(self, event: Event) -> None:
        self._check_open(f"publish event {event.event_id} on {event.subject!r}")
        if event.event_id in self._ids:
            return
        if len(self._events) >= self._config.max_events:
            self._make_room(event)
        self._ids[event.event_id] = self._end
        self._events[self._end] = event
        self._end += 1

    def _make_room(self, event: Event) -> None:
        """Drop the events every durable has acknowledged; refuse the event if none is."""
        for state in self._durables.values():
            state.advance(self._events, self._end)
        laggard = min(self._durables.values(), key=_Durable.floor, default=None)
        floor = laggard.floor() if laggard is not None else self._end
        for seq in range(self._base, floor):
            del self._ids[self._events.pop(seq).event_id]
        self._base = max(self._base, floor)
        if laggard is not None and len(self._events) >= self._config.max_events:
            # Refuse loudly rather than drop what a durable has not acknowledged.
            raise BusError(
                f"cannot publish event {event.event_id}: the in-process bus holds its limit of "
                f"{self._config.max_events} events and durable {laggard.name!r} has not "
                f"acknowledged event {floor} yet; let it catch up, delete it, or raise max_events"
            )

    def _wake_all(self) -> None:
        for state in self._durables.values():
            if state.active is not None:
                state.active.wake()


class MemorySubscription:
    """One running durable subscription of a `MemoryBus`: a task that calls the handler."""

    def __init__(self, bus: MemoryBus, state: _Durable, handler: Handler) -> None:
        self._bus = bus
        self._state = state
        self._handler = handler
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def durable(self) -> str:
        """Return the durable name whose position this subscription advances."""
        return self._state.name

    @property
    def pattern(self) -> str:
        """Return the subject pattern this subscription receives."""
        return self._state.pattern

    def start(self) -> None:
        """Start delivering in a background task."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"bus-durable-{self._state.name}"
        )

    def wake(self) -> None:
        """Tell the delivery task that new events may be waiting."""
        self._wake.set()

    async def unsubscribe(self) -> None:
        """Stop after the running handler (if any) returns; keep the durable position."""
        if self._task is None or self._state.active is not self:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._bus.config.stop_timeout_s)
        except TimeoutError:
            # The handler hangs: cancel it; its event stays unacknowledged and comes back.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finally:
            self._state.active = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            retry = self._due_retry(loop.time())
            if retry is not None:
                await self._deliver(retry, redelivery=True)
                continue
            seq = self._next_new()
            if seq is not None:
                await self._deliver(seq, redelivery=False)
                continue
            await self._idle(loop.time())

    def _due_retry(self, now: float) -> int | None:
        due = [seq for seq, when in self._state.retries.items() if when <= now]
        return min(due) if due else None

    def _next_new(self) -> int | None:
        return self._state.advance(self._bus.events, self._bus.end_seq)

    async def _idle(self, now: float) -> None:
        self._wake.clear()
        retries = self._state.retries
        timeout = max(min(retries.values()) - now, 0.0) if retries else None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _deliver(self, seq: int, *, redelivery: bool) -> None:
        state = self._state
        event = self._bus.event_at(seq)
        if event is not None:
            try:
                await self._handler(event)
            except Exception:
                self._schedule_retry(seq, event)
            else:
                state.retries.pop(seq, None)
                state.attempts.pop(seq, None)
        # Advance only after the handler finished: a cancelled handler leaves its event due.
        if not redelivery:
            state.next_seq = seq + 1

    def _schedule_retry(self, seq: int, event: Event) -> None:
        state = self._state
        attempts = state.attempts[seq] = state.attempts.get(seq, 0) + 1
        delay = redelivery_delay(self._bus.config.redelivery_delay_s, attempts)
        state.retries[seq] = asyncio.get_running_loop().time() + delay
        _log.warning(
            "handler of durable %r raised on event %s (%s), delivery %d; redelivering in %.3fs",
            state.name,
            event.event_id,
            event.subject,
            attempts,
            delay,
            exc_info=True,
        )
