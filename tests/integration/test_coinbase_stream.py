"""The Coinbase websocket client and the order state against the local exchange on 127.0.0.1.

Scenarios 8 to 12 of RELIABILITY.md: duplicated and reordered user messages, a partial fill
then a cancel, a socket dropped mid-stream, a lost sequence number and stopped heartbeats.
The client runs in its own thread as the engine will use it; the test thread pumps its
events into an `OrderSync` over the REST adapter. Heartbeats are paced at 50 ms and every
wait is bounded.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest

from coinbase_harness import BTC_USD
from coinswarm.data import synthetic_market
from coinswarm.domain.bar import Bar
from coinswarm.domain.clock import WallClock
from coinswarm.domain.costs import FillModel
from coinswarm.domain.fill import Fill
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.coinbase import (
    CdpCredentials,
    CoinbaseAdapter,
    CoinbaseConfig,
    TokenSigner,
    connect,
    parse_private_key,
)
from coinswarm.exchanges.coinbase.market_feed import CandleFeed
from coinswarm.exchanges.coinbase.order_state import OrderAlert
from coinswarm.exchanges.coinbase.order_sync import OrderSync
from coinswarm.exchanges.coinbase.websocket import Backoff, CoinbaseStream, StreamConfig
from coinswarm.exchanges.coinbase.ws_events import (
    CandleUpdate,
    Reconnected,
    StreamEvent,
    StreamMessage,
    StreamState,
    StreamStatus,
    UserUpdate,
)
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyRing,
    Venue,
    create_app,
    generate_key,
    serve_in_thread,
)
from coinswarm.exchanges.local_coinbase.stream import StreamSettings

PRODUCT = "BTC-USD"
WAIT_S = 5.0
FAST = StreamSettings(heartbeat_s=0.05, poll_s=0.01)
SERIES = synthetic_market(instrument=PRODUCT, bars=60, seed=7, start_price=20_000.0)


class RecordingSigner(TokenSigner):
    """A real signer that also keeps every websocket token it made."""

    def __init__(self, credentials: CdpCredentials) -> None:
        super().__init__(credentials, WallClock())
        self.ws_tokens: list[str] = []

    def ws_token(self) -> str:
        token = super().ws_token()
        self.ws_tokens.append(token)
        return token


@dataclass
class Harness:
    stream: CoinbaseStream
    adapter: CoinbaseAdapter
    control: httpx.Client
    signer: RecordingSigner
    sync: OrderSync
    events: list[StreamEvent] = field(default_factory=list)
    alerts: list[OrderAlert] = field(default_factory=list)
    ledger: list[Fill] = field(default_factory=list)
    """What the engine's ledger would hold: every fill handed out by `new_fills`."""

    def advance(self, bars: int = 1) -> None:
        assert self.control.post("/_control/advance", json={"bars": bars}).status_code == 200

    def ws_faults(self, *faults: dict[str, object]) -> None:
        response = self.control.put("/_control/ws_faults", json={"faults": list(faults)})
        assert response.status_code == 200, response.text

    def clear_faults(self) -> None:
        assert self.control.delete("/_control/ws_faults").status_code == 200

    def record(self) -> dict[str, list[dict[str, str]]]:
        answer: dict[str, list[dict[str, str]]] = self.control.get("/_control/record").json()
        return answer

    def place(self, request: OrderRequest) -> str:
        order = self.adapter.place_order(request)
        assert order.status is OrderStatus.OPEN, order
        self.alerts += self.sync.state.track(order, "ack")
        return order.order_id

    def pump(self, done: Callable[[], bool], timeout: float = WAIT_S) -> None:
        """Feed stream events to the sync until `done()`; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                states = [e.state for e in self.events if isinstance(e, StreamStatus)]
                pytest.fail(f"condition not met within {timeout} s; stream states seen: {states}")
            event = self.stream.get(0.02)
            if event is not None:
                self.events.append(event)
                self.alerts += self.sync.on_event(event)
                self.ledger += self.sync.state.new_fills()

    def statuses(self) -> list[StreamStatus]:
        return [e for e in self.events if isinstance(e, StreamStatus)]

    def saw(self, state: StreamState, since: int = 0) -> bool:
        """Return True once the stream reported `state` after its first `since` reports."""
        return any(s.state is state for s in self.statuses()[since:])

    def live_again(self, since: int) -> bool:
        return self.saw(StreamState.LIVE, since)


def make_harness(key: CdpKey, fill_model: FillModel | None = None) -> Iterator[Harness]:
    keys = KeyRing()
    keys.add(key)
    balances = {"USD": Decimal(1_000_000), "BTC": Decimal(10)}
    venue = Venue({PRODUCT: BTC_USD}, [SERIES], balances=balances, fill_model=fill_model)
    app = create_app(venue, keys, control_api=True, stream=FAST)
    credentials = CdpCredentials(key.name, parse_private_key(key.private_key_pem, source="test"))
    with ExitStack() as stack:
        server = stack.enter_context(serve_in_thread(app))
        control = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=5.0))
        adapter = stack.enter_context(
            connect(
                credentials,
                CoinbaseConfig(base_url=server.base_url, requests_per_second=1000),
                rng=random.Random(1),
            )
        )
        config = StreamConfig(
            url=f"ws://{server.host}",
            product_ids=(PRODUCT,),
            channels=("user", "candles"),
            silence_s=0.5,
            reorder_window=3,
            backoff=Backoff(base_s=0.02, max_s=0.1),
            open_timeout_s=2.0,
            poll_s=0.02,
        )
        signer = RecordingSigner(credentials)
        stream = CoinbaseStream(config, signer=signer, rng=random.Random(7))
        stack.callback(stream.close)
        stream.start()
        harness = Harness(stream, adapter, control, signer, OrderSync(adapter))
        harness.pump(lambda: harness.saw(StreamState.LIVE))
        yield harness


@pytest.fixture
def key() -> CdpKey:
    return generate_key()


@pytest.fixture
def h(key: CdpKey) -> Iterator[Harness]:
    yield from make_harness(key)


SHARE = Decimal("0.0001")
"""The venue's volume-participation cap where a test needs partial fills."""


@pytest.fixture
def capped(key: CdpKey) -> Iterator[Harness]:
    yield from make_harness(key, FillModel(max_volume_share=SHARE))


def limit(cid: str, size: str, price: str, side: OrderSide = OrderSide.BUY) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        instrument=PRODUCT,
        side=side,
        type=OrderType.LIMIT,
        quantity=Decimal(size),
        limit_price=Decimal(price),
    )


def market_buy(cid: str, quote: str = "1000") -> OrderRequest:
    return OrderRequest(
        client_order_id=cid, instrument=PRODUCT, side=OrderSide.BUY, quote_quantity=Decimal(quote)
    )


def assert_matches_the_exchange(h: Harness) -> None:
    """Every exchange fill booked once; every tracked order as the exchange holds it."""
    record = h.record()
    booked = [f.trade_id for f in h.ledger]
    assert len(booked) == len(set(booked)), "a fill was handed to the ledger twice"
    assert sorted(booked) == sorted(f["trade_id"] for f in record["fills"])
    for row in record["orders"]:
        order = h.sync.state.order(row["order_id"])
        assert order is not None, row
        assert (order.status.value, order.filled_quantity, order.fees) == (
            row["status"],
            Decimal(row["filled_size"]),
            Decimal(row["fees"]),
        )


def user_orders(h: Harness) -> list[str]:
    return [
        o.status
        for e in h.events
        if isinstance(e, StreamMessage) and isinstance(e.payload, UserUpdate)
        for o in e.payload.orders
    ]


def filled_everything(h: Harness) -> Callable[[], bool]:
    def check() -> bool:
        return len(h.ledger) == len(h.record()["fills"]) and not h.sync.state.live_order_ids()

    return check


# -- the stream itself ------------------------------------------------------------------------


def test_candles_become_closed_bars_and_each_subscribe_carries_a_fresh_jwt(h: Harness) -> None:
    feed = CandleFeed()
    bars: list[Bar] = []

    def three_bars() -> bool:
        for event in h.events[len(seen) :]:
            seen.append(event)
            if isinstance(event, StreamMessage) and isinstance(event.payload, CandleUpdate):
                bars.extend(feed.on_candles(event.payload))
        return len(bars) >= 3

    seen: list[StreamEvent] = []
    h.advance(4)
    h.pump(three_bars)
    assert bars[:3] == [SERIES.bar(i) for i in range(3)]
    assert len(h.signer.ws_tokens) == 3  # heartbeats, user, candles: one token each
    assert len(set(h.signer.ws_tokens)) == 3


# -- scenario 11: a socket closed mid-stream ----------------------------------------------------


def test_a_dropped_socket_reconnects_resubscribes_and_the_gap_is_filled_from_rest(
    h: Harness,
) -> None:
    h.ws_faults({"kind": "drop", "times": None})
    h.pump(lambda: h.saw(StreamState.STALE))
    # While the stream is down, an order is placed and filled: no websocket message shows it.
    order_id = h.place(market_buy("s11-1"))
    h.advance()
    tokens_before = len(h.signer.ws_tokens)
    h.clear_faults()
    reconnected = len(h.statuses())
    h.pump(lambda: h.live_again(reconnected))
    h.pump(filled_everything(h))
    assert any(isinstance(e, Reconnected) for e in h.events)
    assert len(h.signer.ws_tokens) > tokens_before  # resubscribed with new tokens
    assert len(set(h.signer.ws_tokens)) == len(h.signer.ws_tokens)
    order = h.sync.state.order(order_id)
    assert order is not None
    assert order.status is OrderStatus.FILLED
    assert_matches_the_exchange(h)
    assert h.alerts == []


# -- scenario 12: a lost sequence number, stopped heartbeats ------------------------------------


def test_a_skipped_sequence_number_marks_the_stream_stale_then_it_recovers(h: Harness) -> None:
    before = len(h.statuses())
    h.ws_faults({"kind": "skip_sequence", "channel": "heartbeats"})
    h.pump(lambda: h.saw(StreamState.STALE, before), timeout=2.0)
    stale = h.statuses()[before]
    assert stale.state is StreamState.STALE
    assert "sequence gap" in stale.reason
    h.pump(lambda: h.live_again(before + 1))
    assert any(isinstance(e, Reconnected) for e in h.events)


def test_stopped_heartbeats_mark_the_stream_stale_until_they_come_back(h: Harness) -> None:
    before = len(h.statuses())
    h.ws_faults({"kind": "stop_heartbeats", "times": None})
    h.pump(lambda: h.saw(StreamState.STALE, before), timeout=2.0)
    assert "silence" in h.statuses()[before].reason
    h.clear_faults()
    h.pump(lambda: h.live_again(before + 1))


def test_a_heartbeat_counter_jump_marks_the_stream_stale(h: Harness) -> None:
    before = len(h.statuses())
    h.ws_faults({"kind": "stop_heartbeats", "times": 2})
    h.pump(lambda: h.saw(StreamState.STALE, before), timeout=2.0)
    assert "heartbeat gap" in h.statuses()[before].reason
    h.pump(lambda: h.live_again(before + 1))


# -- scenario 8: duplicates and a replay after reconnect -----------------------------------------


def test_duplicated_user_messages_and_a_replay_book_one_fill_per_trade_id(h: Harness) -> None:
    h.ws_faults({"kind": "duplicate", "channel": "user", "times": None})
    resting = h.place(limit("s8-rest", "0.01", "1000.00"))
    h.place(market_buy("s8-1"))
    h.advance()
    h.pump(lambda: len(h.ledger) == 1)
    assert h.stream.dropped_duplicates > 0
    # A reconnect replays the open orders (snapshot) and triggers a REST gap fill of everything.
    before = len(h.statuses())
    h.ws_faults({"kind": "drop", "channel": "heartbeats"})
    h.pump(lambda: h.live_again(before + 1))
    h.place(market_buy("s8-2"))
    h.advance()
    h.pump(lambda: len(h.ledger) == 2)
    h.pump(lambda: not any(o != resting for o in h.sync.state.live_order_ids()))
    assert_matches_the_exchange(h)
    assert h.alerts == []


# -- scenario 9: reordered user messages ---------------------------------------------------------


def test_reordered_user_messages_leave_every_order_in_its_final_state(capped: Harness) -> None:
    h = capped
    h.ws_faults({"kind": "reorder", "channel": "user", "times": None})
    size = (Decimal(repr(SERIES.bar(1).volume)) * SHARE * Decimal("2.5")).quantize(Decimal("1e-8"))
    order_id = h.place(limit("s9-1", str(size), "100000.00"))
    h.place(market_buy("s9-2", "500"))
    h.advance(4)
    h.pump(filled_everything(h))
    order = h.sync.state.order(order_id)
    assert order is not None
    assert order.status is OrderStatus.FILLED
    assert len([f for f in h.ledger if f.order_id == order_id]) >= 2  # a partial, then filled
    assert_matches_the_exchange(h)
    assert h.alerts == []


# -- scenario 10: a 30% partial fill, then a cancel ----------------------------------------------


def test_a_partial_fill_then_a_cancel_keeps_the_filled_quantity_and_fees(capped: Harness) -> None:
    h = capped
    cap = Decimal(repr(SERIES.bar(1).volume)) * SHARE
    size = (cap / Decimal("0.3")).quantize(Decimal("0.00000001"))
    order_id = h.place(limit("s10-1", str(size), "100000.00"))
    h.advance()
    h.pump(lambda: len(h.ledger) == 1)
    cancelled = h.adapter.cancel_order(order_id)
    h.alerts += h.sync.state.track(cancelled, "REST cancel")
    h.pump(lambda: "CANCELLED" in user_orders(h))
    order = h.sync.state.order(order_id)
    assert order is not None
    assert order.status is OrderStatus.CANCELLED
    assert order.filled_quantity / size == pytest.approx(Decimal("0.3"), abs=Decimal("0.001"))
    assert order.fees > 0
    assert order.fees == sum(f.fee for f in h.ledger)
    assert_matches_the_exchange(h)
    assert h.alerts == []
