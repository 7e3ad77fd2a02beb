"""The live hub: every event the server hands out, numbered, remembered a while, fanned out.

`publish` gives each event the next `seq` of this server process, keeps the last `capacity`
events in a ring buffer, and puts the event's JSON in every client's queue. A client that
reconnects says the last `seq` it saw and gets everything after it still in the buffer, then
the stream; a client whose `seq` is older than the buffer (or from before the server
restarted) gets a `gap` notice first, so its page reloads what it missed through REST.

Each client's queue is bounded. A client that cannot keep up fills it, and is dropped (its
socket closed with 1013, "try again later", counted): never the server, never the other
clients, whose queues are untouched. Everything here runs on the server's event loop: the
feed, the alert engine and the websocket routes call it from there, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coinswarm.api.services import Services

__all__ = [
    "DEFAULT_BUFFER",
    "DEFAULT_CLIENT_QUEUE",
    "GAP",
    "HUB",
    "Client",
    "LiveHub",
    "encode",
    "hub_of",
]

logger = logging.getLogger(__name__)

DEFAULT_BUFFER = 10_000
"""Events kept for clients that reconnect: at 100 events a second, 100 seconds."""
DEFAULT_CLIENT_QUEUE = 4_096
"""Events a client may fall behind before it is dropped."""
GAP = "gap"
HUB = "hub"
"""The name of the live hub among the server's parts (`Services.parts`)."""


def encode(event: Mapping[str, Any]) -> str:
    """Return `event` as canonical JSON: sorted keys, no spaces, no NaN."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(slots=True)
class _Entry:
    seq: int
    kind: str
    run_id: str | None
    text: str


@dataclass(eq=False)
class Client:
    """One websocket client: what it wants and the queue of what it has yet to be sent."""

    kinds: frozenset[str] | None
    run_id: str | None
    queue: asyncio.Queue[str | None]
    dropped: bool = False
    sent: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, kind: str, run_id: str | None) -> bool:
        """Return True if this client asked for events of `kind` (and of `run_id`)."""
        if self.kinds is not None and kind not in self.kinds:
            return False
        return self.run_id is None or run_id == self.run_id


class LiveHub:
    """Number, remember and fan out live events (see the module's docstring)."""

    def __init__(
        self, *, capacity: int = DEFAULT_BUFFER, client_queue: int = DEFAULT_CLIENT_QUEUE
    ) -> None:
        if capacity < 1 or client_queue < 1:
            raise ValueError(f"expected a capacity and client queue of 1 or more: {capacity}")
        self._buffer: deque[_Entry] = deque(maxlen=capacity)
        self._client_queue = client_queue
        self._clients: set[Client] = set()
        self.last_seq = 0
        self.published = 0
        self.delivered = 0
        self.dropped_clients = 0
        self.connected = 0
        self.by_kind: dict[str, int] = {}

    @property
    def clients(self) -> int:
        """Return how many clients are connected now."""
        return len(self._clients)

    @property
    def first_seq(self) -> int | None:
        """Return the oldest `seq` still in the buffer (None while it is empty)."""
        return self._buffer[0].seq if self._buffer else None

    def publish(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Number `event`, remember it and queue it for every client that wants it; return it
        as handed out (a copy with its `seq`)."""
        self.last_seq += 1
        numbered = {**event, "seq": self.last_seq}
        kind = str(numbered.get("kind", "unknown"))
        run_id = numbered.get("run_id")
        entry = _Entry(
            self.last_seq, kind, None if run_id is None else str(run_id), encode(numbered)
        )
        self._buffer.append(entry)
        self.published += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        for client in list(self._clients):
            if client.wants(entry.kind, entry.run_id):
                self._offer(client, entry.text)
        return numbered

    def _offer(self, client: Client, text: str) -> None:
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.drop(client)
            return
        self.delivered += 1

    def drop(self, client: Client) -> None:
        """Drop a client that fell behind: empty its queue and wake its sender to close."""
        if client.dropped:
            return
        client.dropped = True
        self.dropped_clients += 1
        self._clients.discard(client)
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(None)  # the sender's signal to close the socket
        client.closed.set()  # a sender stuck on a full socket is cancelled instead
        logger.warning("live: dropped a websocket client %d events behind", self._client_queue)

    def join(
        self,
        *,
        after: int | None,
        kinds: Iterable[str] | None = None,
        run_id: str | None = None,
    ) -> tuple[Client, list[str]]:
        """Register a client; return it with what it must be sent first, in order.

        `after` None: only what comes next. Otherwise every buffered event after `after`,
        preceded by a `gap` notice when events after `after` are no longer in the buffer.
        The replay and the registration happen in one step of the loop, so nothing published
        in between is lost or sent twice.
        """
        wanted = None if kinds is None else frozenset(kinds)
        client = Client(wanted, run_id, asyncio.Queue(maxsize=self._client_queue))
        first: list[str] = []
        if after is not None:
            gap = self._gap(after)
            if gap is not None:
                first.append(encode(gap))
            first += [
                e.text for e in self._buffer if e.seq > after and client.wants(e.kind, e.run_id)
            ]
        self._clients.add(client)
        self.connected += 1
        return client, first

    def leave(self, client: Client) -> None:
        """Forget a client that went away."""
        self._clients.discard(client)

    def _gap(self, after: int) -> dict[str, Any] | None:
        """Return the gap notice a client that saw up to `after` needs, or None."""
        oldest = self.first_seq
        if after > self.last_seq:
            reason = "the server restarted: its sequence began again"
        elif oldest is not None and after < oldest - 1:
            reason = f"events {after + 1} to {oldest - 1} are no longer buffered"
        elif oldest is None and after < self.last_seq:
            reason = "no events are buffered"
        else:
            return None
        return {
            "kind": GAP,
            "after": after,
            "first": oldest,
            "last": self.last_seq,
            "reason": reason,
        }

    def stats(self) -> dict[str, Any]:
        """Return what the hub has done, for GET /api/system."""
        return {
            "published": self.published,
            "delivered": self.delivered,
            "clients": self.clients,
            "connected": self.connected,
            "dropped_clients": self.dropped_clients,
            "buffered": len(self._buffer),
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "by_kind": dict(sorted(self.by_kind.items())),
        }


def hub_of(found: Services) -> LiveHub:
    """Return the server's hub, made on first use if no part put one there."""
    hub = found.parts.get(HUB)
    if hub is None:
        hub = found.parts[HUB] = LiveHub()
    assert isinstance(hub, LiveHub)
    return hub
