"""The NATS JetStream adapter of the event bus, for when one machine is not enough.

One stream (`NatsBusConfig.stream`) holds every subject under one prefix: the logical subject
`market.btc` travels as `coinswarm.market.btc`, so several sessions or test runs can share a
server under different prefixes. The stream is created on first use if it is missing.

Publishing waits for JetStream's acknowledgement, so an event is stored on the server before
`publish` returns, and anything else raises: `BusUnavailableError` when the server cannot be
reached, `BusError` when it refuses. The `Nats-Msg-Id` header carries the event id, so a
re-published event is stored once within the stream's duplicate window.

Each subscription is a durable pull consumer with explicit acknowledgement: an event is
acknowledged after its handler returns, negatively acknowledged with a growing delay when the
handler raises, and redelivered by the server after `ack_wait_s` when the process died first.

When the connection drops or closes, `on_unavailable` (given to `connect`) is called with a
`BusUnavailableError`, once per loss, so the caller can stop trading (the kill switch) instead
of running blind; publishes raise until the client has reconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    PubAck,
    StorageType,
    StreamConfig,
)

from coinswarm.infra.bus.base import (
    BusError,
    BusUnavailableError,
    Event,
    Handler,
    InvalidSubjectError,
    redelivery_delay,
    validate_durable,
    validate_pattern,
)

__all__ = ["NatsBus", "NatsBusConfig", "NatsSubscription"]

_log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
TS_HEADER = "Coinswarm-Ts-Ns"
_MAX_FETCH_BATCH = 1000

# What the client raises when the server is out of reach; an APIError is a refusal instead.
_TRANSPORT_ERRORS = (nats.errors.Error, OSError, TimeoutError)

UnavailableCallback: TypeAlias = Callable[[BusUnavailableError], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class NatsBusConfig:
    """Where the server is, which stream and prefix to use, and how patient to be."""

    url: str = "nats://127.0.0.1:4222"
    stream: str = "COINSWARM"
    prefix: str = "coinswarm"
    storage: Literal["file", "memory"] = "file"
    duplicate_window_s: float = 120.0
    connect_timeout_s: float = 2.0
    publish_timeout_s: float = 5.0
    reconnect_attempts: int = 5
    reconnect_wait_s: float = 0.5
    ack_wait_s: float = 30.0
    redelivery_delay_s: float = 0.05
    fetch_batch: int = 256
    fetch_timeout_s: float = 0.5
    stop_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        validate_pattern(self.prefix + ".>")
        if any(part in self.prefix for part in ("*", ">")):
            raise InvalidSubjectError(f"expected a prefix without wildcards, found {self.prefix!r}")
        validate_durable(self.stream)
        # A pull batch above the consumer's max_ack_pending (server default 1000) stalls.
        if not 1 <= self.fetch_batch <= _MAX_FETCH_BATCH:
            raise ValueError(f"expected fetch_batch in 1..1000, found {self.fetch_batch}")
        if self.fetch_timeout_s <= 0 or self.ack_wait_s <= 0:
            raise ValueError(
                "expected fetch_timeout_s > 0 and ack_wait_s > 0, found "
                f"{self.fetch_timeout_s} and {self.ack_wait_s}"
            )

    @property
    def stream_subjects(self) -> str:
        """Return the wire pattern the stream stores: every subject under the prefix."""
        return f"{self.prefix}.>"


def _unavailable(action: str, url: str, exc: BaseException) -> BusUnavailableError:
    reason = str(exc) or type(exc).__name__
    return BusUnavailableError(f"cannot {action}: NATS at {url} is unavailable ({reason})")


def _translate(action: str, url: str, exc: BaseException) -> BusError:
    """Turn a client exception into the bus's own: refusals are `BusError`, the rest unavailable."""
    if isinstance(exc, nats.js.errors.ServiceUnavailableError):
        return _unavailable(action, url, exc)
    if isinstance(exc, nats.js.errors.APIError):
        return BusError(f"cannot {action}: JetStream refused it ({exc})")
    return _unavailable(action, url, exc)


class NatsBus:
    """Publish and consume events through a NATS JetStream stream. Build with `connect`."""

    def __init__(
        self,
        client: Client,
        config: NatsBusConfig,
        on_unavailable: UnavailableCallback | None,
    ) -> None:
        self._nc = client
        self._js: JetStreamContext = client.jetstream(timeout=config.publish_timeout_s)
        self._config = config
        self._on_unavailable = on_unavailable
        self._subscriptions: dict[str, NatsSubscription] = {}
        self._closing = False
        self._lost = False

    @classmethod
    async def connect(
        cls,
        config: NatsBusConfig | None = None,
        *,
        on_unavailable: UnavailableCallback | None = None,
    ) -> NatsBus:
        """Connect, create the stream if it is missing, and return the bus.

        Raise `BusUnavailableError` when the server cannot be reached or has no JetStream, and
        `BusError` when the stream exists but does not cover the prefix.
        """
        config = config if config is not None else NatsBusConfig()
        holder: list[NatsBus] = []

        async def disconnected() -> None:
            if holder:
                holder[0].report_lost("the connection dropped; the client is reconnecting")

        async def closed() -> None:
            if holder:
                holder[0].report_lost("the connection is closed")

        async def reconnected() -> None:
            if holder:
                holder[0].recovered()

        async def errored(exc: Exception) -> None:
            _log.warning("NATS client error at %s: %s", config.url, exc)

        try:
            client = await nats.connect(
                servers=[config.url],
                connect_timeout=config.connect_timeout_s,
                max_reconnect_attempts=config.reconnect_attempts,
                reconnect_time_wait=config.reconnect_wait_s,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                closed_cb=closed,
                error_cb=errored,
            )
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable("connect", config.url, exc) from exc
        bus = cls(client, config, on_unavailable)
        holder.append(bus)
        try:
            await bus._ensure_stream()
        except BaseException:
            await bus.close()
            raise
        return bus

    @property
    def config(self) -> NatsBusConfig:
        """Return the configuration this bus was built with."""
        return self._config

    @property
    def connected(self) -> bool:
        """Tell whether the client is connected right now."""
        return bool(self._nc.is_connected)

    @property
    def closed(self) -> bool:
        """Tell whether the client is closed for good (by `close` or after reconnects failed)."""
        return bool(self._nc.is_closed)

    def wire_subject(self, subject: str) -> str:
        """Return the subject or pattern as it travels on the server, under the prefix."""
        return f"{self._config.prefix}.{subject}"

    def report_lost(self, reason: str) -> None:
        """Record that the server is out of reach and tell `on_unavailable`, once per loss."""
        if self._closing or self._lost:
            return
        self._lost = True
        error = BusUnavailableError(f"NATS at {self._config.url} is unavailable: {reason}")
        _log.error("%s", error)
        if self._on_unavailable is not None:
            self._on_unavailable(error)

    def recovered(self) -> None:
        """Record that the client reconnected; the next loss is reported again."""
        _log.warning("NATS at %s is reachable again", self._config.url)
        self._lost = False

    async def publish(self, event: Event) -> None:
        """Store `event` in the stream and wait for the server's acknowledgement."""
        action = f"publish event {event.event_id} on {event.subject!r}"
        self._check_connected(action)
        try:
            await self._js.publish(
                self.wire_subject(event.subject),
                event.payload,
                timeout=self._config.publish_timeout_s,
                stream=self._config.stream,
                headers=self._headers(event),
            )
        except _TRANSPORT_ERRORS as exc:
            raise _translate(action, self._config.url, exc) from exc

    async def publish_many(self, events: list[Event]) -> None:
        """Store `events` in order with pipelined acknowledgements; raise if any is not stored.

        On an error some events may be stored and others not; re-publishing the whole list is
        safe, since the stream drops the ids it already holds.
        """
        if not events:
            return
        action = f"publish {len(events)} events from {events[0].event_id}"
        self._check_connected(action)
        futures: list[asyncio.Future[PubAck]] = []
        try:
            for event in events:
                # A loop, not a comprehension: on failure the futures made so far get cancelled.
                futures.append(await self._publish_async(event))  # noqa: PERF401
            await asyncio.wait_for(asyncio.gather(*futures), self._config.publish_timeout_s)
        except _TRANSPORT_ERRORS as exc:
            for future in futures:
                future.cancel()
            raise _translate(action, self._config.url, exc) from exc

    async def subscribe(
        self,
        pattern: str,
        durable: str,
        handler: Handler,
        *,
        new_only: bool = False,
        inactive_s: float | None = None,
    ) -> NatsSubscription:
        """Deliver events under `pattern` to `handler` through the durable consumer `durable`.

        `new_only` starts a new consumer at the events published from now on, not at the
        stream's first (a live view, not a backlog); `inactive_s` lets the server delete the
        consumer once nobody pulled from it that long (a follower whose process died).
        """
        validate_pattern(pattern)
        validate_durable(durable)
        if self._closing:
            raise BusUnavailableError(f"cannot subscribe durable {durable!r}: the bus is closed")
        if durable in self._subscriptions:
            raise BusError(f"durable {durable!r} already has an active subscription")
        action = f"subscribe durable {durable!r} to {pattern!r}"
        try:
            await self._ensure_consumer(pattern, durable, new_only=new_only, inactive_s=inactive_s)
            pull = await self._js.pull_subscribe_bind(durable=durable, stream=self._config.stream)
        except _TRANSPORT_ERRORS as exc:
            raise _translate(action, self._config.url, exc) from exc
        subscription = NatsSubscription(self, pull, pattern, durable, handler)
        self._subscriptions[durable] = subscription
        subscription.start()
        return subscription

    async def close(self) -> None:
        """Stop every subscription, then drain and close the connection."""
        if self._closing:
            return
        self._closing = True
        for subscription in list(self._subscriptions.values()):
            await subscription.unsubscribe()
        with contextlib.suppress(*_TRANSPORT_ERRORS):
            await self._nc.close()

    async def delete_stream(self) -> None:
        """Delete the stream with every event and consumer in it (tests and administration)."""
        try:
            await self._js.delete_stream(self._config.stream)
        except nats.js.errors.NotFoundError:
            return
        except _TRANSPORT_ERRORS as exc:
            raise _translate(f"delete stream {self._config.stream}", self._config.url, exc) from exc

    def forget(self, subscription: NatsSubscription) -> None:
        """Drop a stopped subscription from the active ones."""
        if self._subscriptions.get(subscription.durable) is subscription:
            del self._subscriptions[subscription.durable]

    def event_from(self, msg: Msg) -> Event:
        """Rebuild the event carried by a JetStream message."""
        headers = msg.headers or {}
        metadata = msg.metadata
        event_id = headers.get(MSG_ID_HEADER) or f"{metadata.stream}-{metadata.sequence.stream}"
        stamp = headers.get(TS_HEADER, "")
        ts_ns = int(stamp) if stamp.isdigit() else int(metadata.timestamp.timestamp() * 1e9)
        subject = msg.subject.removeprefix(self._config.prefix + ".")
        return Event(event_id=event_id, subject=subject, payload=msg.data, ts_ns=ts_ns)

    def _check_connected(self, action: str) -> None:
        if self._closing or self._nc.is_closed:
            raise BusUnavailableError(f"cannot {action}: the NATS bus is closed")
        if not self._nc.is_connected:
            # Fail now rather than buffer: the caller must know the event is not stored.
            raise BusUnavailableError(
                f"cannot {action}: not connected to NATS at {self._config.url} (reconnecting)"
            )

    def _headers(self, event: Event) -> dict[str, str]:
        return {MSG_ID_HEADER: event.event_id, TS_HEADER: str(event.ts_ns)}

    async def _publish_async(self, event: Event) -> asyncio.Future[PubAck]:
        future: asyncio.Future[PubAck] = await self._js.publish_async(
            self.wire_subject(event.subject),
            event.payload,
            stream=self._config.stream,
            headers=self._headers(event),
        )
        return future

    async def _ensure_stream(self) -> None:
        config = self._config
        action = f"prepare stream {config.stream} over {config.stream_subjects}"
        try:
            info = await self._js.stream_info(config.stream)
        except nats.js.errors.NotFoundError:
            await self._add_stream(action)
            return
        except _TRANSPORT_ERRORS as exc:
            raise _translate(action, config.url, exc) from exc
        if config.stream_subjects not in (info.config.subjects or []):
            raise BusError(
                f"cannot use stream {config.stream}: expected it to store "
                f"{config.stream_subjects!r}, found {info.config.subjects!r}"
            )

    async def _add_stream(self, action: str) -> None:
        config = self._config
        stream = StreamConfig(
            name=config.stream,
            subjects=[config.stream_subjects],
            storage=StorageType.FILE if config.storage == "file" else StorageType.MEMORY,
            duplicate_window=config.duplicate_window_s,
        )
        try:
            await self._js.add_stream(stream)
        except _TRANSPORT_ERRORS as exc:
            raise _translate(action, config.url, exc) from exc

    async def delete_consumer(self, durable: str) -> None:
        """Delete the durable consumer `durable` and its position (a follower's, when done)."""
        validate_durable(durable)
        try:
            await self._js.delete_consumer(self._config.stream, durable)
        except nats.js.errors.NotFoundError:
            return
        except _TRANSPORT_ERRORS as exc:
            raise _translate(f"delete consumer {durable!r}", self._config.url, exc) from exc

    async def _ensure_consumer(
        self, pattern: str, durable: str, *, new_only: bool = False, inactive_s: float | None = None
    ) -> None:
        wire = self.wire_subject(pattern)
        try:
            info = await self._js.consumer_info(self._config.stream, durable)
        except nats.js.errors.NotFoundError:
            consumer = ConsumerConfig(
                durable_name=durable,
                filter_subject=wire,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self._config.ack_wait_s,
                deliver_policy=DeliverPolicy.NEW if new_only else DeliverPolicy.ALL,
                inactive_threshold=inactive_s,
            )
            await self._js.add_consumer(self._config.stream, consumer)
            return
        if info.config.filter_subject != wire:
            raise BusError(
                f"durable {durable!r} follows {info.config.filter_subject!r}; "
                f"cannot re-subscribe it to {wire!r}"
            )


class NatsSubscription:
    """One running durable pull subscription: a task that fetches, handles and acknowledges."""

    def __init__(
        self,
        bus: NatsBus,
        pull: JetStreamContext.PullSubscription,
        pattern: str,
        durable: str,
        handler: Handler,
    ) -> None:
        self._bus = bus
        self._pull = pull
        self._pattern = pattern
        self._durable = durable
        self._handler = handler
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.error: BusUnavailableError | None = None

    @property
    def durable(self) -> str:
        """Return the durable consumer this subscription reads."""
        return self._durable

    @property
    def pattern(self) -> str:
        """Return the logical subject pattern this subscription receives."""
        return self._pattern

    def start(self) -> None:
        """Start fetching in a background task."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"bus-durable-{self._durable}"
        )

    async def unsubscribe(self) -> None:
        """Stop after the current fetch; unhandled fetched events go back to the server."""
        if self._task is None:
            return
        self._stopping = True
        timeout = self._bus.config.stop_timeout_s + self._bus.config.fetch_timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            # A hung handler: cancel it; the server redelivers its event after ack_wait.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finally:
            self._task = None
            self._bus.forget(self)
            with contextlib.suppress(*_TRANSPORT_ERRORS):
                await self._pull.unsubscribe()

    async def _run(self) -> None:
        try:
            while not self._stopping:
                batch = await self._fetch()
                await self._handle_batch(batch)
        except _TRANSPORT_ERRORS as exc:
            # The fetch loop cannot go on without the server: say so instead of going quiet.
            self.error = _unavailable(
                f"consume durable {self._durable!r}", self._bus.config.url, exc
            )
            self._bus.report_lost(f"durable {self._durable!r} stopped: {exc!r}")

    async def _fetch(self) -> list[Msg]:
        config = self._bus.config
        try:
            return await self._pull.fetch(config.fetch_batch, timeout=config.fetch_timeout_s)
        except TimeoutError:
            # An idle stream, or a reconnect in progress: only a closed client ends the loop.
            if self._bus.closed:
                raise
            return []

    async def _handle_batch(self, batch: list[Msg]) -> None:
        for index, msg in enumerate(batch):
            if self._stopping:
                # Hand the rest back at once rather than after ack_wait.
                for rest in batch[index:]:
                    await rest.nak()
                return
            await self._handle(msg)

    async def _handle(self, msg: Msg) -> None:
        try:
            event = self._bus.event_from(msg)
        except BusError:
            _log.exception("durable %r received a message that is no event; dropped", self._durable)
            await msg.term()
            return
        try:
            await self._handler(event)
        except Exception:
            await self._nak(msg, event)
        else:
            await msg.ack()

    async def _nak(self, msg: Msg, event: Event) -> None:
        deliveries = msg.metadata.num_delivered or 1
        delay = redelivery_delay(self._bus.config.redelivery_delay_s, deliveries)
        _log.warning(
            "handler of durable %r raised on event %s (%s), delivery %d; redelivering in %.3fs",
            self._durable,
            event.event_id,
            event.subject,
            deliveries,
            delay,
            exc_info=True,
        )
        await msg.nak(delay=delay)
