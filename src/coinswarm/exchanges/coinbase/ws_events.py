"""Coinbase Advanced Trade websocket messages, parsed at the edge into frozen typed events.

The wire models keep Coinbase's field names and leave prices and sizes as strings (they become
`Decimal` in `market_feed` and `order_state`); unknown fields are ignored because Coinbase adds
fields without notice. One envelope (`channel`, `sequence_num`, `timestamp`, `events`) becomes
one `StreamMessage`, whose `payload` is the typed event for its channel. Besides what the
exchange sends, the client reports its own view of the stream: `StreamStatus` (live or stale,
and why), `Reconnected` (run a REST gap fill now) and `StreamError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from coinswarm.exchanges.coinbase.errors import ExchangeDataError
from coinswarm.exchanges.coinbase.parse import timestamp_ns

__all__ = [
    "BookLevel",
    "BookUpdate",
    "Candle",
    "CandleUpdate",
    "Heartbeat",
    "Reconnected",
    "StreamError",
    "StreamEvent",
    "StreamMessage",
    "StreamState",
    "StreamStatus",
    "Subscriptions",
    "Ticker",
    "TickerUpdate",
    "UserOrder",
    "UserUpdate",
    "parse_message",
]

ROUTE = "websocket"
"""What errors name as the route, as REST errors name the path."""

Kind = Literal["snapshot", "update"]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Ticker(_Wire):
    """One `ticker` entry; `price` is the last trade's price."""

    product_id: str
    price: str
    volume_24_h: str = ""
    best_bid: str = ""
    best_ask: str = ""


class Candle(_Wire):
    """One `candles` entry: `start` is UNIX seconds, values are strings as in REST."""

    product_id: str
    start: str
    open: str
    high: str
    low: str
    close: str
    volume: str


class BookLevel(_Wire):
    """One `l2_data` change: `new_quantity` "0" removes the level."""

    side: str
    event_time: str = ""
    price_level: str
    new_quantity: str


class UserOrder(_Wire):
    """One order as the `user` channel shows it (cumulative, not per fill)."""

    order_id: str
    client_order_id: str = ""
    product_id: str = ""
    order_side: str = ""
    status: str
    creation_time: str = ""
    cumulative_quantity: str = ""
    leaves_quantity: str = ""
    avg_price: str = ""
    total_fees: str = ""
    filled_value: str = ""
    number_of_fills: str = ""
    cancel_reason: str = ""
    reject_reason: str = ""


class _HeartbeatWire(_Wire):
    current_time: str = ""
    heartbeat_counter: int


class _TickerWire(_Wire):
    type: Kind
    tickers: list[Ticker]


class _CandleWire(_Wire):
    type: Kind
    candles: list[Candle]


class _BookWire(_Wire):
    type: Kind
    product_id: str
    updates: list[BookLevel]


class _UserWire(_Wire):
    type: Kind
    orders: list[UserOrder]


class _SubscriptionsWire(_Wire):
    subscriptions: dict[str, list[str]]


class _Envelope(_Wire):
    channel: str
    sequence_num: int
    timestamp: str = ""
    events: list[dict[str, object]]


# -- what the exchange sent --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heartbeat:
    counter: int


@dataclass(frozen=True, slots=True)
class Subscriptions:
    channels: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class TickerUpdate:
    kind: Kind
    tickers: tuple[Ticker, ...]


@dataclass(frozen=True, slots=True)
class CandleUpdate:
    kind: Kind
    candles: tuple[Candle, ...]


@dataclass(frozen=True, slots=True)
class BookUpdate:
    kind: Kind
    product_id: str
    levels: tuple[BookLevel, ...]


@dataclass(frozen=True, slots=True)
class UserUpdate:
    kind: Kind
    orders: tuple[UserOrder, ...]


Payload = Heartbeat | Subscriptions | TickerUpdate | CandleUpdate | BookUpdate | UserUpdate


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One numbered message of one connection (`connection` counts from 1 per client)."""

    connection: int
    channel: str
    sequence_num: int
    ts: int
    payload: Payload


# -- what the client says about the stream -----------------------------------------------------


class StreamState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALE = "stale"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """The stream changed state; trading should pause while it is not LIVE."""

    state: StreamState
    reason: str
    connection: int


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A new connection is subscribed after a lost one: fill the gap from REST now."""

    connection: int
    attempts: int


@dataclass(frozen=True, slots=True)
class StreamError:
    """A message the client could not use, or an error the exchange sent; the stream goes on."""

    connection: int
    message: str


StreamEvent = StreamMessage | StreamStatus | Reconnected | StreamError


def _payload(channel: str, events: list[dict[str, object]]) -> Payload:
    first = events[0] if events else {}
    if channel == "heartbeats":
        return Heartbeat(_HeartbeatWire.model_validate(first).heartbeat_counter)
    if channel == "subscriptions":
        found = _SubscriptionsWire.model_validate(first).subscriptions
        return Subscriptions(tuple((name, tuple(ids)) for name, ids in sorted(found.items())))
    if channel == "ticker":
        tickers = [t for e in events for t in _TickerWire.model_validate(e).tickers]
        return TickerUpdate(_TickerWire.model_validate(first).type, tuple(tickers))
    if channel == "candles":
        candles = [c for e in events for c in _CandleWire.model_validate(e).candles]
        return CandleUpdate(_CandleWire.model_validate(first).type, tuple(candles))
    if channel == "l2_data":
        book = _BookWire.model_validate(first)
        return BookUpdate(book.type, book.product_id, tuple(book.updates))
    if channel == "user":
        orders = [o for e in events for o in _UserWire.model_validate(e).orders]
        return UserUpdate(_UserWire.model_validate(first).type, tuple(orders))
    raise ExchangeDataError(ROUTE, "channel", f"expected a known channel, found {channel!r}")


def parse_message(text: str | bytes, connection: int) -> StreamMessage | StreamError:
    """Return one message as a typed event; an error message or bad JSON as `StreamError`.

    Raise `ExchangeDataError` (naming the field) for a numbered message that does not parse,
    since its sequence number cannot be trusted either.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        return StreamError(connection, f"{ROUTE}: malformed JSON: {error}")
    if isinstance(raw, dict) and raw.get("type") == "error":
        return StreamError(connection, f"{ROUTE}: the exchange says: {raw.get('message', '')}")
    try:
        envelope = _Envelope.model_validate(raw)
        payload = _payload(envelope.channel, envelope.events)
    except ValidationError as error:
        detail = error.errors()[0]
        field = ".".join(str(part) for part in detail["loc"]) or "message"
        raise ExchangeDataError(ROUTE, field, str(detail["msg"])) from None
    ts = (
        timestamp_ns(envelope.timestamp, route=ROUTE, field="timestamp")
        if envelope.timestamp
        else 0
    )
    return StreamMessage(connection, envelope.channel, envelope.sequence_num, ts, payload)
