"""A remote venue fed by the user channel: fills pushed, REST asked only when something happened.

The exchange is the simulated one, with a user channel of its own: each order change is
pushed, as Coinbase's `user` channel does, to a fake stream the test can stall, reorder,
repeat or cut. The venue over it must book each fill once, make no fill listing on a bar
without news, fall back to listing on any bar the channel cannot vouch for, and hold trading
on what the order state machine refuses.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from decimal import Decimal

import pytest

from coinswarm.domain.bar import NS_PER_HOUR, Bar
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.coinbase import ExchangeUnavailableError
from coinswarm.exchanges.coinbase.order_sync import OrderSync
from coinswarm.exchanges.coinbase.user_channel import UserChannelFills, user_stream_config
from coinswarm.exchanges.coinbase.websocket import COINBASE_WS_URL, USER_WS_URL
from coinswarm.exchanges.coinbase.ws_events import (
    Heartbeat,
    Reconnected,
    StreamEvent,
    StreamMessage,
    StreamState,
    StreamStatus,
    UserOrder,
    UserUpdate,
)
from coinswarm.exchanges.remote import RemoteVenue
from coinswarm.exchanges.remote_doubts import IncidentKind
from coinswarm.exchanges.simulated import SimulatedExchange

PRODUCT = "BTC-USD"
START = 1_700_000_000_000_000_000 // NS_PER_HOUR * NS_PER_HOUR
D = Decimal

_USER_STATUS = {
    OrderStatus.NEW: "PENDING",
    OrderStatus.OPEN: "OPEN",
    OrderStatus.PARTIALLY_FILLED: "OPEN",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELLED: "CANCELLED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "FAILED",
}


def user_order(order: Order, status: str | None = None) -> UserOrder:
    """Return `order` as the user channel shows it (or with another `status`)."""
    return UserOrder(
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        product_id=order.instrument,
        status=status or _USER_STATUS[order.status],
        cumulative_quantity=str(order.filled_quantity),
        avg_price=str(order.average_fill_price),
        total_fees=str(order.fees),
    )


class FakeStream:
    """A user stream the test drives: what is pushed is read by the next bar, in order."""

    def __init__(self) -> None:
        self.state = StreamState.CONNECTING
        self.down = False  # while down, pushed messages are lost, as on a dropped socket
        self.holding = False  # while holding, messages wait: `release` sends them late
        self._events: deque[StreamEvent] = deque()
        self._held: list[StreamMessage] = []
        self._connection = 1
        self._sequence = 0  # numbered per connection from 0, as the exchange does

    def get(self, timeout: float) -> StreamEvent | None:
        return self._events.popleft() if self._events else None

    def push(self, *orders: UserOrder, ts: int = 0) -> None:
        if self.down:
            return
        update = UserUpdate("update", tuple(orders))
        message = StreamMessage(self._connection, "user", self._sequence, ts, update)
        self._sequence += 1
        (self._held if self.holding else self._events).append(message)

    def heartbeat(self) -> None:
        """Send a heartbeat: the next number, which shows any held message missing."""
        beat = StreamMessage(self._connection, "heartbeats", self._sequence, 0, Heartbeat(1))
        self._sequence += 1
        self._events.append(beat)

    def release(self) -> None:
        self.holding = False
        self._events.extend(self._held)
        self._held.clear()

    def go(self, state: StreamState, reason: str) -> None:
        self.state = state
        self._events.append(StreamStatus(state, reason, 1))

    def reconnected(self) -> None:
        self.down = False
        self._connection, self._sequence = self._connection + 1, 0
        self._events.append(Reconnected(self._connection, 1))
        self.go(StreamState.LIVE, "heartbeats arriving")


class ChannelledExchange(SimulatedExchange):
    """The simulated exchange with a user channel: every order change is pushed to `stream`.

    It counts the REST calls a venue makes. While `lagging`, new fills are `hidden` from the
    fill listing (a listing that lags the channel); `failing` makes the fill listing fail.
    """

    def __init__(self, stream: FakeStream) -> None:
        self.clock = HistoricalClock(START - 1)
        instruments = {PRODUCT: instrument_from_symbol(PRODUCT)}
        super().__init__(instruments, self.clock, balances={"USD": D(100_000)})
        self.stream = stream
        self.calls: Counter[str] = Counter()
        self.hidden: set[str] = set()
        self.lagging = False
        self.failing = False
        self._placed: list[str] = []
        self._told: dict[str, UserOrder] = {}

    def place_order(self, request: OrderRequest) -> Order:
        order = super().place_order(request)
        self._placed.append(order.order_id)
        self.publish()
        return order

    def cancel_order(self, order_id: str) -> Order:
        order = super().cancel_order(order_id)
        self.publish()
        return order

    def get_order(self, order_id: str) -> Order:
        self.calls["get_order"] += 1
        return super().get_order(order_id)

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        self.calls["list_fills"] += 1
        if self.failing:
            raise ExchangeUnavailableError("GET /orders/historical/fills: 503")
        listed = super().list_fills(since_ts=since_ts)
        return tuple(f for f in listed if f.trade_id not in self.hidden)

    def step(self, bar: Bar) -> None:
        """Reveal `bar` to the matching engine; push what it changed."""
        self.clock.advance_to(bar.ts)
        fills = self.on_bar(bar)
        if self.lagging:
            self.hidden |= {f.trade_id for f in fills}
        self.publish()

    def publish(self) -> None:
        for order_id in self._placed:
            view = user_order(super().get_order(order_id))
            if self._told.get(order_id) != view:
                self._told[order_id] = view
                self.stream.push(view, ts=self.clock.now_ns())

    def fills(self) -> list[Fill]:
        return list(super().list_fills())


class World:
    """A venue over the channelled exchange, its user channel live and one bar behind it."""

    def __init__(self, *, channel: bool = True) -> None:
        self.stream = FakeStream()
        self.exchange = ChannelledExchange(self.stream)
        self.said: list[str] = []
        self.channel = UserChannelFills(
            self.stream, OrderSync(self.exchange), tell=self.said.append
        )
        self.venue = RemoteVenue(
            self.exchange, driver=self.exchange.step, fills=self.channel if channel else None
        )
        self.booked: list[Fill] = []
        self._bars = 0
        self.stream.go(StreamState.LIVE, "heartbeats arriving")
        self.bar()  # the first bar sees the stream turn live: it cannot vouch for it

    def bar(self, *, low: float = 19_900.0) -> list[Fill]:
        ts = START + self._bars * NS_PER_HOUR
        self._bars += 1
        fills = self.venue.on_bar(Bar(PRODUCT, ts, 20_000.0, 20_050.0, low, 20_000.0, 10.0))
        self.booked += fills
        return fills

    def bid(self, cid: str, price: str = "19000") -> Order:
        request = OrderRequest(
            client_order_id=cid,
            instrument=PRODUCT,
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            quantity=D("0.5"),
            limit_price=D(price),
        )
        return self.venue.place_order(request)

    def assert_booked_as_the_exchange(self) -> None:
        ours = [f.trade_id for f in self.booked]
        assert len(ours) == len(set(ours)), "a fill was booked twice"
        assert sorted(ours) == sorted(f.trade_id for f in self.exchange.fills())


def quiet_bars_then_a_fill(world: World) -> dict[str, int]:
    """Rest a bid through five quiet bars, then fill it; return the quiet bars' requests."""
    order = world.bid("c1")
    world.bar()  # the channel's word of the new order: an OPEN the venue already knows
    world.exchange.calls.clear()
    for _ in range(5):
        assert world.bar() == []
    quiet = dict(world.exchange.calls)
    fills = world.bar(low=18_900.0)  # the bid meets this bar
    assert [f.order_id for f in fills] == [order.order_id]
    assert world.venue.get_order(order.order_id).status is OrderStatus.FILLED
    world.assert_booked_as_the_exchange()
    return quiet


def test_a_resting_order_costs_no_fill_listing_until_the_channel_says_it_filled() -> None:
    assert quiet_bars_then_a_fill(World(channel=False)) == {"list_fills": 5, "get_order": 5}
    pushed = World()
    assert quiet_bars_then_a_fill(pushed) == {}, "a bar without news must cost no request"
    assert pushed.exchange.calls["list_fills"] == 1, "one listing, for the fill the channel told"


def test_any_bar_the_channel_cannot_vouch_for_lists_fills_and_books_each_once() -> None:
    world = World()
    first, second = world.bid("c1", "19000"), world.bid("c2", "18000")
    world.bar()
    world.exchange.calls.clear()

    world.stream.down = True  # the socket is gone: what the exchange pushes now is lost
    world.stream.go(StreamState.STALE, "connection lost")
    fills = world.bar(low=18_900.0)  # fills the first bid while the channel is down
    assert [f.order_id for f in fills] == [first.order_id]
    assert world.exchange.calls["list_fills"] == 1, "listed by REST: the channel was down"
    assert world.bar() == []
    assert world.exchange.calls["list_fills"] == 2, "still down: every bar lists"

    fills = world.bar(low=17_900.0)  # the second bid fills during the outage too
    assert [f.order_id for f in fills] == [second.order_id]

    world.stream.reconnected()
    before = world.exchange.calls["list_fills"]
    assert world.bar() == [], "the gap fill finds both fills, already booked"
    assert world.exchange.calls["list_fills"] == before + 2, "the gap fill, and the venue's own"
    world.exchange.calls.clear()
    assert world.bar() == []
    assert world.exchange.calls == Counter(), "live again: a quiet bar costs nothing"
    world.assert_booked_as_the_exchange()
    assert world.said == [
        "user channel live: heartbeats arriving",
        "user channel stale: connection lost",
        "user channel live: heartbeats arriving",
    ]


def test_repeated_and_reordered_messages_change_nothing_and_hold_nothing() -> None:
    world = World()
    order = world.bid("c1")
    opened = user_order(world.exchange.get_order(order.order_id))
    world.bar(low=18_900.0)  # filled: the channel pushes OPEN then FILLED
    filled = user_order(world.exchange.get_order(order.order_id))
    assert filled.status == "FILLED"
    # A snapshot after a reconnect, a duplicate, a message that was held back: all late.
    world.stream.push(filled, opened, filled, ts=world.exchange.clock.now_ns())
    world.stream.push(opened, ts=world.exchange.clock.now_ns())
    assert world.bar() == []
    assert not world.venue.paused, world.venue.pause_reason
    world.assert_booked_as_the_exchange()
    assert len(world.booked) == 1


def test_a_message_held_back_leaves_the_bar_to_the_fill_listing_until_it_arrives() -> None:
    world = World()
    order = world.bid("c1")
    world.bar()
    world.stream.holding = True  # the FILLED message will come late
    world.exchange.calls.clear()
    assert world.bar(low=18_900.0) == [], "no message yet, no number missing: nothing to see"
    assert world.exchange.calls == Counter()
    world.stream.heartbeat()  # a later number: the held one is missing
    fills = world.bar()
    assert [f.order_id for f in fills] == [order.order_id], "listed by REST meanwhile"
    assert world.exchange.calls["list_fills"] == 1
    world.stream.heartbeat()
    world.bar()
    assert world.exchange.calls["list_fills"] == 1, "nothing rests: nothing to list"
    world.stream.release()
    world.exchange.calls.clear()
    assert world.bar() == [], "the late FILLED is old news"
    assert world.bar() == []
    assert world.exchange.calls["list_fills"] == 1, "the channel fetches the fill it told of"
    assert not world.venue.paused
    world.assert_booked_as_the_exchange()


def test_an_illegal_transition_holds_trading_with_its_reason_until_the_order_is_read_again() -> (
    None
):
    world = World()
    order = world.bid("c1")
    world.bar(low=18_900.0)
    assert world.venue.get_order(order.order_id).status is OrderStatus.FILLED
    # The exchange now says the filled order was cancelled: the state machine refuses it.
    cancelled = user_order(world.exchange.get_order(order.order_id), status="CANCELLED")
    world.stream.push(cancelled, ts=world.exchange.clock.now_ns())
    world.bar()

    refused = world.bid("c2")
    assert refused.status is OrderStatus.REJECTED
    assert "trading paused" in (refused.reject_reason or "")
    assert "c1 set aside" in (refused.reject_reason or "")
    assert "cannot go from FILLED to CANCELLED" in (refused.reject_reason or "")
    assert "c2" not in {o.client_order_id for o in world.exchange.open_orders()}

    world.bar()  # the catch-up reads the order again: the exchange shows it FILLED
    assert not world.venue.paused
    assert world.bid("c3").status is OrderStatus.OPEN
    kinds = [(i.kind, i.subject) for i in world.venue.incidents]
    assert kinds == [(IncidentKind.SET_ASIDE, "c1"), (IncidentKind.CAUGHT_UP, "c1")]
    world.assert_booked_as_the_exchange()


def test_a_fill_the_listing_does_not_show_yet_is_asked_for_again_and_booked_once() -> None:
    world = World()
    order = world.bid("c1")
    world.bar()
    world.exchange.lagging = True
    assert world.bar(low=18_900.0) == [], "the channel says FILLED; the listing lags"
    assert world.exchange.hidden
    assert world.venue.get_order(order.order_id).status is OrderStatus.FILLED
    world.exchange.hidden.clear()
    fills = world.bar()
    assert [f.order_id for f in fills] == [order.order_id], "booked once the listing shows it"
    assert world.bar() == []
    world.assert_booked_as_the_exchange()


def test_a_failed_fetch_falls_back_to_the_venue_s_listing_and_its_pause() -> None:
    world = World()
    order = world.bid("c1")
    world.bar()
    world.exchange.failing = True
    world.exchange.calls.clear()
    assert world.bar(low=18_900.0) == []
    assert world.exchange.calls["list_fills"] == 2, "the channel's fetch, then the venue's"
    assert world.venue.pause_reason.startswith("fill listing set aside")
    assert "historical/fills: 503" in world.venue.pause_reason
    world.exchange.failing = False
    fills = world.bar()
    assert [f.order_id for f in fills] == [order.order_id]
    assert not world.venue.paused
    world.assert_booked_as_the_exchange()


def test_a_restarted_session_s_booked_fills_are_not_fetched_again() -> None:
    world = World()
    order = world.bid("c1")
    world.bar(low=18_900.0)
    filled = world.venue.get_order(order.order_id)
    assert world.booked

    adopting = OrderSync(world.exchange)
    UserChannelFills(world.stream, adopting).adopt([filled], world.booked)
    forgetting = OrderSync(world.exchange)
    UserChannelFills(world.stream, forgetting).adopt([filled], [])
    world.exchange.calls.clear()
    assert adopting.fetch_owed() == []
    assert world.exchange.calls == Counter(), "adopted fills are owed nothing"
    assert forgetting.fetch_owed() == []
    assert world.exchange.calls == Counter({"list_fills": 1}), "an order without its fills"
    assert forgetting.state.new_fills() == world.booked


@pytest.mark.parametrize(
    ("market", "user"),
    [
        (COINBASE_WS_URL, USER_WS_URL),
        (COINBASE_WS_URL + "/", USER_WS_URL),
        ("wss://127.0.0.1:8443", "wss://127.0.0.1:8443"),
    ],
)
def test_the_user_stream_goes_to_coinbase_s_user_endpoint_or_the_same_host(
    market: str, user: str
) -> None:
    config = user_stream_config(market, (PRODUCT,))
    assert (config.url, config.channels, config.product_ids) == (user, ("user",), (PRODUCT,))
