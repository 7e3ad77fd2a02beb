"""How live events leave a session: a bounded queue, one thread, a transport.

The engine must never wait for telemetry, so `Publisher.put` only queues (and drops, counted,
when the queue is full); a thread of the publisher's own takes events off in batches and hands
them to its transport. A transport that fails drops the batch, counted, and the next batch
tries again: the session trades on, and the heartbeat tells the server how much it missed.

Two transports: `NatsTransport` publishes to NATS JetStream (the server may run in another
process or on another machine) and reconnects on its own when NATS comes back;
`CallbackTransport` hands events to a function in this process (a server started beside the
session with `--serve`). `Publishers` puts one event into several publishers, each with its
own queue and thread, so a NATS outage never delays the server beside the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from coinswarm.infra.bus import BusError, Event, NatsBus, NatsBusConfig
from coinswarm.infra.telemetry import subject

__all__ = [
    "DEFAULT_CAPACITY",
    "CallbackTransport",
    "NatsTransport",
    "Publisher",
    "Publishers",
    "Transport",
    "TransportDownError",
    "bus_config",
]

logger = logging.getLogger(__name__)

DEFAULT_CAPACITY = 10_000
"""Events a publisher holds before it drops new ones: minutes of a busy session."""
_BATCH = 256
_FLUSH_S = 3.0


def bus_config(url: str, **overrides: Any) -> NatsBusConfig:
    """Return the NATS configuration at `url`: the stream and prefix every process shares
    (COINSWARM_BUS_STREAM, COINSWARM_BUS_PREFIX, as the backtest's --bus reads them)."""
    values: dict[str, Any] = {
        "url": url,
        "stream": os.environ.get("COINSWARM_BUS_STREAM", "COINSWARM"),
        "prefix": os.environ.get("COINSWARM_BUS_PREFIX", "coinswarm"),
    }
    return NatsBusConfig(**{**values, **overrides})


class TransportDownError(BusError):
    """A transport cannot take events right now (its server is out of reach)."""


class Transport(Protocol):
    """Where a publisher's thread sends its batches."""

    @property
    def name(self) -> str: ...

    def send(self, events: Sequence[dict[str, Any]]) -> None:
        """Send `events` in order; raise if they did not all go (they are counted dropped)."""
        ...

    def close(self) -> None: ...


class CallbackTransport:
    """Hand each event to `deliver` (thread-safe, never waiting); False from it is a drop."""

    def __init__(
        self, deliver: Callable[[dict[str, Any]], bool], *, name: str = "in-process"
    ) -> None:
        self._deliver = deliver
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def send(self, events: Sequence[dict[str, Any]]) -> None:
        refused = sum(1 for event in events if not self._deliver(event))
        if refused:
            raise TransportDownError(f"{self._name}: {refused} events refused (its queue is full)")

    def close(self) -> None:
        return


class NatsTransport:
    """Publish to NATS JetStream from the publisher's thread, with an event loop of its own.

    It connects on the first batch, not when built: a bus that is down at the start costs the
    session nothing but dropped events. Once the connection is lost, batches are dropped at
    once until a wait has passed, then the next batch connects again; the wait doubles from
    `retry_s` up to `max_retry_s` while NATS stays away, so an outage is not a log storm.
    """

    def __init__(
        self, config: NatsBusConfig, *, retry_s: float = 1.0, max_retry_s: float = 30.0
    ) -> None:
        # One reconnect of the client's own, then ours with its back-off: a bus that is
        # down costs a second a try, not the client's five, and says so once a try.
        self._config = replace(config, reconnect_attempts=1, connect_timeout_s=1.0)
        self._first_retry_s = retry_s
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self._bus: NatsBus | None = None
        self._next_try = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned = False

    @property
    def name(self) -> str:
        return f"nats {self._config.url}"

    def send(self, events: Sequence[dict[str, Any]]) -> None:
        loop = self._loop = self._loop or asyncio.new_event_loop()
        bus = self._connected(loop)
        wire = [
            Event.from_json(
                subject(_token(e["run_id"]), e["kind"]), e, ts_ns=max(int(e["ts_ns"]), 0)
            )
            for e in events
        ]
        try:
            loop.run_until_complete(bus.publish_many(wire))
        except BusError:
            if bus.closed or not bus.connected:
                self._lost(loop)
            raise

    def _connected(self, loop: asyncio.AbstractEventLoop) -> NatsBus:
        bus = self._bus
        if bus is not None and not bus.closed:
            return bus
        if time.monotonic() < self._next_try:
            raise TransportDownError(f"{self.name}: unreachable; trying again shortly")
        try:
            bus = loop.run_until_complete(NatsBus.connect(self._config))
        except BusError:
            self._back_off()
            if not self._warned:
                self._warned = True
                logger.warning("telemetry: NATS at %s is unreachable; dropping", self._config.url)
            raise
        if self._warned:
            logger.warning("telemetry: NATS at %s is reachable again", self._config.url)
        self._warned = False
        self._retry_s = self._first_retry_s
        self._bus = bus
        return bus

    def _back_off(self) -> None:
        self._next_try = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, self._max_retry_s)

    def _lost(self, loop: asyncio.AbstractEventLoop) -> None:
        bus, self._bus = self._bus, None
        self._back_off()
        if bus is not None:
            with contextlib.suppress(Exception):
                loop.run_until_complete(bus.close())

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._bus is not None:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._bus.close())
        self._bus = None
        loop.close()
        self._loop = None


def _token(run_id: str) -> str:
    # A subject token holds no dot or space; run ids are `run-<hex>`, `<mode>-<hex>`.
    return run_id.replace(".", "_").replace(" ", "_") or "unknown"


class Publisher:
    """Queue events (never waiting) and send them from a thread of its own, in order."""

    def __init__(
        self, transport: Transport, *, capacity: int = DEFAULT_CAPACITY, batch: int = _BATCH
    ) -> None:
        if capacity < 1 or batch < 1:
            raise ValueError(f"expected capacity and batch of 1 or more: {capacity}, {batch}")
        self.transport = transport
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=capacity)
        self._batch = batch
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self.queued = 0
        self.sent = 0
        self.dropped_full = 0
        self.dropped_failed = 0
        self._thread = threading.Thread(
            target=self._drain, name=f"telemetry {transport.name}", daemon=True
        )
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Return the events dropped so far: the queue was full, or the transport failed."""
        return self.dropped_full + self.dropped_failed

    def put(self, event: dict[str, Any]) -> bool:
        """Queue `event`; False (and counted) when the queue is full or the publisher closed."""
        if self._closing.is_set():
            return False
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self.dropped_full += 1
            return False
        with self._lock:
            self.queued += 1
        return True

    def close(self, timeout_s: float = _FLUSH_S) -> None:
        """Send what is queued (waiting at most `timeout_s`), then stop the thread."""
        self._closing.set()
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            # What is still queued will not be sent in time: it counts as dropped now.
            with self._lock:
                self.dropped_failed += self._queue.qsize()
            logger.warning("telemetry: %s did not flush within %ss", self.transport.name, timeout_s)
            return  # a daemon thread: it dies with the process, its transport with it
        self.transport.close()

    def _drain(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while len(batch) < self._batch:
                    batch.append(self._queue.get_nowait())
            self._send(batch)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.transport.send(batch)
        except Exception as error:  # a transport's failure is a drop, never the thread's end
            with self._lock:
                self.dropped_failed += len(batch)
            logger.debug(
                "telemetry: %s dropped %d events: %s", self.transport.name, len(batch), error
            )
            return
        with self._lock:
            self.sent += len(batch)


class Publishers:
    """Put each event into every publisher; each drains on its own thread."""

    def __init__(self, publishers: Sequence[Publisher]) -> None:
        self.publishers = tuple(publishers)

    @property
    def dropped(self) -> int:
        return sum(p.dropped for p in self.publishers)

    def put(self, event: dict[str, Any]) -> bool:
        delivered = [p.put(event) for p in self.publishers]
        return all(delivered)

    def close(self, timeout_s: float = _FLUSH_S) -> None:
        """Flush and stop every publisher, all within about `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        for publisher in self.publishers:
            publisher.close(max(deadline - time.monotonic(), 0.1))
