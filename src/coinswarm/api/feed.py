"""The feed: live events from the sessions to the hub, the metrics and the alerts, in order.

A session in another process (or on another machine) publishes on NATS; the feed follows
`live.>` through a consumer of its own that starts at the events published from now on and
is deleted when the server stops (the server deletes it too once unused for a while, after
a `kill -9`). A session in this process (`--serve`) hands its events to `submit`, which
takes them from any thread without waiting. Either way one task takes each event in turn:
it tells the session board, numbers it on the hub, then shows the numbered event to the
metrics and alerts parts, when they exist; one part's failure is logged and counted, and
never stops the feed or reaches another part.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import threading
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from coinswarm.api.board import SessionBoard
from coinswarm.api.live import HUB, LiveHub, hub_of
from coinswarm.api.services import Services
from coinswarm.infra.bus import BusError, Event, NatsBus, NatsSubscription
from coinswarm.infra.telemetry import SUBJECT_ROOT
from coinswarm.infra.telemetry_send import bus_config

__all__ = ["BOARD", "FEED", "OBSERVERS", "Feed", "board_of", "install_live", "redacted"]

logger = logging.getLogger(__name__)

FEED = "feed"
BOARD = "board"
OBSERVERS = ("metrics", "alerts")
"""The parts that see every live event after the hub, in this order."""
DEFAULT_BACKLOG = 10_000
_INACTIVE_S = 300.0  # a consumer nobody pulled from for this long is the server's to delete


def redacted(url: str) -> str:
    """Return `url` without a user name or password in it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def board_of(found: Services) -> SessionBoard:
    """Return the server's session board, made on first use."""
    board = found.parts.get(BOARD)
    if board is None:
        board = found.parts[BOARD] = SessionBoard()
    assert isinstance(board, SessionBoard)
    return board


class Feed:
    """Bring live events to the hub and the parts that watch them (see the module)."""

    def __init__(
        self, found: Services, *, bus: str | None = None, backlog: int = DEFAULT_BACKLOG
    ) -> None:
        self._found = found
        self.bus_url = bus
        self._backlog = backlog
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Mapping[str, Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._bus: NatsBus | None = None
        self._subscription: NatsSubscription | None = None
        self._durable = f"serve-{uuid.uuid4().hex[:16]}"
        self._lock = threading.Lock()
        self._pending = 0  # events submitted from other threads, not yet queued
        self.received = 0
        self.from_bus = 0
        self.from_process = 0
        self.dropped = 0
        self.undecodable = 0
        self.observed: dict[str, int] = dict.fromkeys(OBSERVERS, 0)
        self.failures: dict[str, int] = dict.fromkeys(OBSERVERS, 0)
        self.bus_error: str | None = None

    @property
    def hub(self) -> LiveHub:
        return hub_of(self._found)

    @property
    def board(self) -> SessionBoard:
        return board_of(self._found)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def bus_connected(self) -> bool:
        return self._bus is not None and self._bus.connected

    async def start(self) -> None:
        """Start taking events; with a bus, follow its live subjects from now on."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self._backlog)
        self._task = asyncio.create_task(self._run(), name="live-feed")
        if self.bus_url is not None:
            await self._follow(self.bus_url)

    async def _follow(self, url: str) -> None:
        try:
            bus = await NatsBus.connect(bus_config(url), on_unavailable=self._lost)
            self._subscription = await bus.subscribe(
                f"{SUBJECT_ROOT}.>",
                self._durable,
                self._from_bus,
                new_only=True,
                inactive_s=_INACTIVE_S,
            )
        except BusError as error:
            # The server still serves the stored runs; /api/system says the bus is down.
            self.bus_error = str(error)
            logger.error("live feed: cannot follow %s: %s", redacted(url), error)
            return
        self._bus = bus
        self.bus_error = None

    def _lost(self, error: BusError) -> None:
        self.bus_error = str(error)

    async def stop(self) -> None:
        """Stop following the bus (deleting the consumer), then stop the task."""
        bus, self._bus = self._bus, None
        if bus is not None:
            if self._subscription is not None:
                with contextlib.suppress(BusError):
                    await self._subscription.unsubscribe()
                with contextlib.suppress(BusError):
                    await bus.delete_consumer(self._durable)
            await bus.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- in: the bus, and sessions in this process ------------------------------------------

    async def _from_bus(self, event: Event) -> None:
        # Raising here would have the bus deliver a bad event for ever: it is counted instead.
        try:
            payload = json.loads(event.payload)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self.undecodable += 1
            return
        self.from_bus += 1
        assert self._queue is not None
        await self._queue.put(payload)  # a full backlog holds the bus back: nothing is lost

    def submit(self, event: Mapping[str, Any]) -> bool:
        """Take `event` from any thread without waiting; False (and counted) if the feed is
        not running or its backlog is full."""
        loop = self._loop
        with self._lock:
            refused = loop is None or loop.is_closed() or self._pending >= self._backlog
            if not refused:
                self._pending += 1
        if refused or loop is None:
            self._drop()
            return False
        try:
            loop.call_soon_threadsafe(self._enqueue, event)
        except RuntimeError:  # the loop closed meanwhile
            with self._lock:
                self._pending -= 1
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        """Count one event the feed could not take; the metrics count it too, if they can."""
        with self._lock:
            self.dropped += 1
        counter = getattr(self._found.parts.get("metrics"), "telemetry_dropped", None)
        if counter is not None:
            with contextlib.suppress(Exception):
                counter(1, where="server")

    def _enqueue(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending -= 1
        queue = self._queue
        if queue is None:
            self._drop()
            return
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            self._drop()
            return
        self.from_process += 1

    # -- out: the board, the hub, the parts ------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                await self.handle(event)
            except Exception:  # the feed must outlive any one event
                logger.exception("live feed: an event could not be handled")
            # A backlog is handled without waiting: without this, a burst would fill every
            # client's queue before any of them had a turn to send.
            await asyncio.sleep(0)

    async def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Tell the board, number the event on the hub, show it to the parts; return it."""
        self.received += 1
        self.board.observe(event, self._found.clock_ns())
        numbered = self.hub.publish(event)
        for name in OBSERVERS:
            part = self._found.parts.get(name)
            observe = getattr(part, "observe", None)
            if observe is None:
                continue
            try:
                result = observe(numbered)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self.failures[name] += 1
                if self.failures[name] <= 3:
                    logger.exception("live feed: %s failed on a %s event", name, event.get("kind"))
                continue
            self.observed[name] += 1
        return numbered

    def stats(self) -> dict[str, Any]:
        """Return what the feed has done, for GET /api/system."""
        backlog = 0 if self._queue is None else self._queue.qsize()
        return {
            "running": self.running,
            "bus": None if self.bus_url is None else redacted(self.bus_url),
            "bus_connected": self.bus_connected,
            "bus_error": self.bus_error,
            "received": self.received,
            "from_bus": self.from_bus,
            "from_process": self.from_process,
            "dropped": self.dropped,
            "undecodable": self.undecodable,
            "backlog": backlog,
            "observed": dict(self.observed),
            "failures": dict(self.failures),
        }


def install_live(found: Services) -> Feed:
    """Give the server its live parts: the hub, the session board and the feed (following
    `settings.bus` when set); return the feed. Parts already there are kept."""
    found.parts.setdefault(HUB, LiveHub())
    found.parts.setdefault(BOARD, SessionBoard())
    feed = found.parts.get(FEED)
    if not isinstance(feed, Feed):
        feed = found.parts[FEED] = Feed(found, bus=found.settings.bus)
    return feed
