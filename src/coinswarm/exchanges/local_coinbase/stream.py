"""One websocket connection's streams: subscriptions, sequence numbers, snapshots and updates.

Messages follow Coinbase Advanced Trade's envelope: `channel`, `client_id`, `timestamp`,
`sequence_num` (per connection, +1 per message) and `events`. A subscribe message carries
`type`, `channel`, `product_ids` and, for the `user` channel, a `jwt`. Each subscribe is
confirmed on the `subscriptions` channel and followed by the channel's snapshot; updates
follow as the replay reveals bars and as orders change. Errors are `{"type": "error", ...}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from coinswarm.domain.bar import Bar
from coinswarm.domain.clock import Clock
from coinswarm.exchanges.local_coinbase import convert
from coinswarm.exchanges.local_coinbase.auth import AuthError, JwtVerifier
from coinswarm.exchanges.local_coinbase.marketfeed import (
    Book,
    book_updates,
    candle_event,
    synthetic_book,
    ticker_event,
)
from coinswarm.exchanges.local_coinbase.userfeed import OrderTracker
from coinswarm.exchanges.local_coinbase.venue import Venue
from coinswarm.exchanges.local_coinbase.wsfaults import WsFaultPlan

__all__ = [
    "CHANNELS",
    "Closing",
    "Outbox",
    "Session",
    "StreamSettings",
    "StreamState",
]

MARKET_CHANNELS = frozenset({"ticker", "candles", "level2"})
CHANNELS = MARKET_CHANNELS | {"heartbeats", "user"}
_MESSAGE_CHANNEL = {"level2": "l2_data"}
"""Coinbase answers a `level2` subscription on the `l2_data` channel."""

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011

SendText = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSettings:
    """How often heartbeats go out and how often a connection looks for news."""

    heartbeat_s: float = 1.0
    poll_s: float = 0.05


@dataclass(frozen=True, slots=True)
class StreamState:
    """What every connection of one app shares; kept in `app.state.stream`."""

    settings: StreamSettings = field(default_factory=StreamSettings)
    faults: WsFaultPlan = field(default_factory=WsFaultPlan)


class Closing(Exception):  # noqa: N818 - a signal to close, not an error of the server
    """End the connection with a close code: an injected drop, or a refused token."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _BadRequest(Exception):  # noqa: N818 - answered with an error message, never raised out
    """A subscribe message this server cannot act on."""


@dataclass(frozen=True, slots=True)
class _Request:
    kind: str
    channel: str
    product_ids: tuple[str, ...]
    jwt: object


class Outbox:
    """Number, spoil (per the fault plan) and send one connection's messages."""

    def __init__(self, send: SendText, faults: WsFaultPlan, clock: Clock) -> None:
        self._send = send
        self._faults = faults
        self._clock = clock
        self._sequence = 0
        self._held: tuple[str, str] | None = None

    def now(self) -> str:
        """Return the server's time as Coinbase writes timestamps."""
        return convert.rfc3339(self._clock.now_ns())

    async def error(self, message: str) -> None:
        """Send an error message; errors are outside the numbered stream."""
        await self._send(json.dumps({"type": "error", "message": message}))

    async def emit(self, channel: str, events: list[dict[str, Any]]) -> None:
        """Send one message on `channel`, numbered, unless a fault says otherwise."""
        faults = self._faults
        if faults.take("drop", channel):
            raise Closing(INTERNAL_ERROR, "injected fault: connection dropped")
        if faults.take("skip_sequence", channel):
            self._sequence += 1
        if channel == "candles" and faults.take("crossed_candle", channel):
            events = [_crossed(event) for event in events]
        envelope = {
            "channel": channel,
            "client_id": "",
            "timestamp": self.now(),
            "sequence_num": self._sequence,
            "events": events,
        }
        self._sequence += 1
        text = json.dumps(envelope)
        if self._held is not None and self._held[0] == channel:
            held, self._held = self._held[1], None
            await self._send(text)
            await self._send(held)
            return
        if self._held is None and faults.take("reorder", channel):
            self._held = (channel, text)
            return
        await self._send(text)
        if faults.take("duplicate", channel):
            await self._send(text)

    def swallow_heartbeat(self) -> bool:
        """Return True when a fault says this heartbeat must not go out."""
        return self._faults.take("stop_heartbeats", "heartbeats")


def _parse(text: str) -> _Request:
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        raise _BadRequest("malformed JSON") from None
    if not isinstance(message, dict):
        raise _BadRequest("expected a JSON object")
    kind, channel = message.get("type"), message.get("channel")
    if kind not in ("subscribe", "unsubscribe"):
        raise _BadRequest(f"type: expected subscribe or unsubscribe, found {kind!r}")
    if channel not in CHANNELS:
        raise _BadRequest(f"channel: unknown channel {channel!r}")
    products = message.get("product_ids") or []
    if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
        raise _BadRequest("product_ids: expected a list of product ids")
    return _Request(str(kind), str(channel), tuple(products), message.get("jwt"))


class Session:
    """One connection: what it subscribed to, and what it has already been sent."""

    def __init__(
        self, venue: Venue, verifier: JwtVerifier, outbox: Outbox, settings: StreamSettings
    ) -> None:
        self._venue = venue
        self._verifier = verifier
        self._outbox = outbox
        self._settings = settings
        self._lock = asyncio.Lock()
        self._subscriptions: dict[str, set[str]] = {}
        self._cursors: dict[tuple[str, str], int] = {}
        self._books: dict[str, Book] = {}
        self._orders: OrderTracker | None = None
        self._beats = 0

    # -- requests -----------------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        """Act on one client message; a bad token sends an error and raises `Closing`."""
        # The lock keeps a snapshot and the updates that follow it in order.
        async with self._lock:
            try:
                request = _parse(text)
                self._check_products(request)
            except _BadRequest as error:
                await self._outbox.error(str(error))
                return
            await self._authorize(request)
            if request.kind == "subscribe":
                await self._subscribe(request.channel, request.product_ids)
            else:
                await self._unsubscribe(request.channel, request.product_ids)

    def _check_products(self, request: _Request) -> None:
        unknown = [p for p in request.product_ids if self._venue.instrument(p) is None]
        if unknown:
            raise _BadRequest(f"product_ids: unknown products {unknown}")
        if request.channel in MARKET_CHANNELS and not request.product_ids:
            raise _BadRequest(f"channel {request.channel} needs product_ids")

    async def _authorize(self, request: _Request) -> None:
        # A token is required for `user` and, when sent anyway, must be good everywhere.
        if request.channel != "user" and request.jwt is None:
            return
        token = request.jwt if isinstance(request.jwt, str) else None
        try:
            self._verifier.verify_ws(token)
        except AuthError as error:
            await self._outbox.error(f"authentication failure: {error}")
            raise Closing(POLICY_VIOLATION, "authentication failure") from None

    async def _subscribe(self, channel: str, product_ids: tuple[str, ...]) -> None:
        self._subscriptions.setdefault(channel, set()).update(product_ids)
        await self._confirm()
        await self._snapshot(channel, product_ids)

    async def _unsubscribe(self, channel: str, product_ids: tuple[str, ...]) -> None:
        remaining = self._subscriptions.get(channel, set()) - set(product_ids)
        if product_ids and remaining:
            self._subscriptions[channel] = remaining
        else:
            self._subscriptions.pop(channel, None)
        if channel == "user" and channel not in self._subscriptions:
            self._orders = None
        await self._confirm()

    async def _confirm(self) -> None:
        current = {channel: sorted(ids) for channel, ids in self._subscriptions.items()}
        await self._outbox.emit("subscriptions", [{"subscriptions": current}])

    # -- snapshots ----------------------------------------------------------------------------

    async def _snapshot(self, channel: str, product_ids: tuple[str, ...]) -> None:
        if channel == "user":
            await self._user_snapshot()
            return
        for product_id in product_ids if channel in MARKET_CHANNELS else ():
            bar = self._venue.last_bar(product_id)
            self._cursors[channel, product_id] = bar.ts if bar else -1
            if channel == "level2":
                await self._book(product_id, bar, "snapshot", {})
            elif bar is not None:
                await self._bar_message(channel, bar, "snapshot")

    async def _user_snapshot(self) -> None:
        self._orders = OrderTracker(self._venue, frozenset(self._subscriptions.get("user", ())))
        positions: dict[str, list[Any]] = {
            "perpetual_futures_positions": [],
            "expiring_futures_positions": [],
        }
        event = {"type": "snapshot", "orders": self._orders.snapshot(), "positions": positions}
        await self._outbox.emit("user", [event])

    # -- updates ------------------------------------------------------------------------------

    async def push_forever(self) -> None:
        """Send heartbeats on time and updates as they happen, until cancelled."""
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self._settings.heartbeat_s
        while True:
            await asyncio.sleep(max(0.0, min(self._settings.poll_s, next_beat - loop.time())))
            async with self._lock:
                if loop.time() >= next_beat:
                    next_beat += self._settings.heartbeat_s
                    await self._heartbeat()
                await self._push_updates()

    async def _heartbeat(self) -> None:
        if "heartbeats" not in self._subscriptions:
            return
        # The counter runs on while heartbeats are swallowed, so a client can see the gap.
        self._beats += 1
        if self._outbox.swallow_heartbeat():
            return
        event = {"current_time": self._outbox.now(), "heartbeat_counter": self._beats}
        await self._outbox.emit("heartbeats", [event])

    async def _push_updates(self) -> None:
        for channel, product_ids in list(self._subscriptions.items()):
            if channel in MARKET_CHANNELS:
                for product_id in sorted(product_ids):
                    await self._push_bars(channel, product_id)
        if self._orders is not None:
            for order in self._orders.changes():
                await self._outbox.emit("user", [{"type": "update", "orders": [order]}])

    async def _push_bars(self, channel: str, product_id: str) -> None:
        cursor = self._cursors.get((channel, product_id), -1)
        revealed = self._venue.revealed(product_id)
        if revealed is None or not len(revealed) or int(revealed.ts[-1]) <= cursor:
            return
        fresh = revealed.between(cursor + 1, None)
        for index in range(len(fresh)):
            bar = fresh.bar(index)
            if channel == "level2":
                await self._book(product_id, bar, "update", self._books.get(product_id, {}))
            else:
                await self._bar_message(channel, bar, "update")
            self._cursors[channel, product_id] = bar.ts

    async def _bar_message(self, channel: str, bar: Bar, kind: str) -> None:
        if channel == "ticker":
            instrument = self._venue.instrument(bar.instrument)
            assert instrument is not None  # products were checked on subscribe
            await self._outbox.emit("ticker", [ticker_event(bar, instrument, kind)])
        else:
            await self._outbox.emit("candles", [candle_event(bar, kind)])

    async def _book(self, product_id: str, bar: Bar | None, kind: str, before: Book) -> None:
        instrument = self._venue.instrument(product_id)
        assert instrument is not None  # products were checked on subscribe
        after = synthetic_book(bar, instrument) if bar is not None else {}
        when = convert.rfc3339(bar.ts) if bar is not None else self._outbox.now()
        self._books[product_id] = after
        updates = book_updates(before, after, when)
        event = {"type": kind, "product_id": product_id, "updates": updates}
        await self._outbox.emit(_MESSAGE_CHANNEL["level2"], [event])


def _crossed(event: dict[str, Any]) -> dict[str, Any]:
    """Return a candles event with each candle's high and low swapped."""
    candles = [{**c, "high": c["low"], "low": c["high"]} for c in event.get("candles", ())]
    return {**event, "candles": candles}
