"""Order state from REST and the user channel: duplicates, reordering, early events."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.coinbase.order_state import OrderState, OrderView, user_view
from coinswarm.exchanges.coinbase.order_sync import OrderSync
from coinswarm.exchanges.coinbase.ws_events import (
    Reconnected,
    StreamMessage,
    UserOrder,
    UserUpdate,
)

D = Decimal
OID = "order-1"


def placed(order_id: str = OID, quantity: str = "1") -> Order:
    request = OrderRequest(
        client_order_id=f"c-{order_id}",
        instrument="BTC-USD",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        quantity=D(quantity),
        limit_price=D(100),
    )
    order = Order(order_id, request, 1)
    order.accept(1)
    return order


def fill(trade_id: str, quantity: str, ts: int, order_id: str = OID) -> Fill:
    return Fill(
        trade_id=trade_id,
        order_id=order_id,
        client_order_id=f"c-{order_id}",
        instrument="BTC-USD",
        side=OrderSide.BUY,
        quantity=D(quantity),
        price=D(100),
        fee=D(quantity) * D("0.6"),
        fee_currency="USD",
        ts=ts,
    )


def view(status: OrderStatus, filled: str, ts: int = 5, fees: str = "0") -> OrderView:
    return OrderView(
        order_id=OID,
        status=status,
        filled_quantity=D(filled),
        fees=D(fees),
        average_fill_price=D(100) if D(filled) else D(0),
        ts=ts,
        source="test",
    )


def test_a_fill_before_the_ack_waits_for_the_order_then_counts_once() -> None:
    state = OrderState()
    assert state.book([fill("t1", "0.4", 10)]) == []
    assert state.apply(view(OrderStatus.PARTIALLY_FILLED, "0.4")) == []
    assert state.new_fills() == []
    assert state.unknown_order_ids() == [OID]
    assert state.track(placed()) == []
    order = state.order(OID)
    assert order is not None
    assert (order.status, order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, D("0.4"))
    assert [f.trade_id for f in state.new_fills()] == ["t1"]
    assert state.unknown_order_ids() == []


def test_an_ack_skipped_goes_through_open_to_filled() -> None:
    state = OrderState()
    new = Order(OID, placed().request, 1)
    state.track(new)
    assert state.apply(view(OrderStatus.FILLED, "1", fees="0.6")) == []
    order = state.order(OID)
    assert order is not None
    assert (order.status, order.filled_quantity, order.fees) == (OrderStatus.FILLED, 1, D("0.6"))


def test_filled_before_the_last_partial_keeps_filled_and_the_full_quantity() -> None:
    state = OrderState()
    state.track(placed())
    state.apply(view(OrderStatus.PARTIALLY_FILLED, "0.3"))
    state.apply(view(OrderStatus.FILLED, "1"))
    assert state.apply(view(OrderStatus.PARTIALLY_FILLED, "0.7")) == []
    order = state.order(OID)
    assert order is not None
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, D(1))


def test_a_fill_reported_after_the_cancel_is_booked_and_the_order_stays_cancelled() -> None:
    state = OrderState()
    state.track(placed())
    state.apply(view(OrderStatus.CANCELLED, "0.3", fees="0.18"))
    assert state.book([fill("t1", "0.3", 10)]) == []
    assert state.apply(view(OrderStatus.PARTIALLY_FILLED, "0.3")) == []
    order = state.order(OID)
    assert order is not None
    assert (order.status, order.filled_quantity, order.fees) == (
        OrderStatus.CANCELLED,
        D("0.3"),
        D("0.18"),
    )
    assert [f.trade_id for f in state.new_fills()] == ["t1"]


def test_an_illegal_move_alerts_and_changes_nothing() -> None:
    state = OrderState()
    state.track(placed())
    state.apply(view(OrderStatus.FILLED, "1"))
    alerts = state.apply(view(OrderStatus.CANCELLED, "1"))
    assert len(alerts) == 1
    assert "FILLED to CANCELLED" in alerts[0].problem
    assert alerts[0].client_order_id == f"c-{OID}"
    order = state.order(OID)
    assert order is not None
    assert order.status is OrderStatus.FILLED


def test_more_filled_after_a_cancel_alerts_but_the_fill_is_booked() -> None:
    state = OrderState()
    state.track(placed())
    state.apply(view(OrderStatus.CANCELLED, "0.3"))
    alerts = state.book([fill("t1", "0.3", 10), fill("t2", "0.2", 11)])
    assert len(alerts) == 1
    assert "more than the 0.3" in alerts[0].problem
    assert [f.trade_id for f in state.new_fills()] == ["t1", "t2"]


def test_the_same_fill_from_every_source_is_booked_once_and_handed_out_once() -> None:
    state = OrderState()
    state.track(placed())
    state.book([fill("t2", "0.2", 20), fill("t1", "0.3", 10)])
    state.book([fill("t1", "0.3", 10)])  # the REST gap fill
    assert [f.trade_id for f in state.new_fills()] == ["t1", "t2"]
    state.book([fill("t2", "0.2", 20), fill("t3", "0.5", 15)])  # a replay after reconnect
    assert [f.trade_id for f in state.new_fills()] == ["t3"]
    assert state.new_fills() == []
    order = state.order(OID)
    assert order is not None
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, D(1))


def test_the_user_channel_order_becomes_a_view() -> None:
    raw = UserOrder(order_id=OID, status="OPEN", cumulative_quantity="0.25", total_fees="0.15")
    got = user_view(raw, 7)
    assert (got.status, got.filled_quantity, got.fees, got.ts) == (
        OrderStatus.PARTIALLY_FILLED,
        D("0.25"),
        D("0.15"),
        7,
    )


# -- property: any arrival order gives the same final state ----------------------------------

EVENTS: list[tuple[str, object]] = [
    ("view", view(OrderStatus.OPEN, "0", ts=2)),
    ("fill", fill("t1", "0.3", 3)),
    ("view", view(OrderStatus.PARTIALLY_FILLED, "0.3", ts=3)),
    ("fill", fill("t2", "0.2", 4)),
    ("view", view(OrderStatus.PARTIALLY_FILLED, "0.5", ts=4)),
    ("view", view(OrderStatus.CANCELLED, "0.5", ts=6, fees="0.3")),
]


@given(
    st.permutations(range(len(EVENTS))), st.integers(0, len(EVENTS)), st.lists(st.integers(0, 5))
)
def test_any_order_of_arrival_with_duplicates_gives_the_same_final_state(
    order: Sequence[int], ack_at: int, repeats: list[int]
) -> None:
    state = OrderState()
    arrivals = [EVENTS[i] for i in order] + [EVENTS[i] for i in repeats]
    alerts = []
    for index, (kind, item) in enumerate(arrivals):
        if index == ack_at:
            alerts += state.track(placed())
        if kind == "fill":
            assert isinstance(item, Fill)
            alerts += state.book([item])
        else:
            assert isinstance(item, OrderView)
            alerts += state.apply(item)
    if ack_at >= len(arrivals):
        alerts += state.track(placed())
    final = state.order(OID)
    assert final is not None
    assert alerts == []
    assert (final.status, final.filled_quantity, final.fees) == (
        OrderStatus.CANCELLED,
        D("0.5"),
        D("0.3"),
    )
    assert [f.trade_id for f in state.new_fills()] == ["t1", "t2"]


# -- the sync against a fake REST source ---------------------------------------------------------


class FakeRest:
    """A REST source holding the exchange's truth; counts what was asked."""

    def __init__(self, orders: dict[str, Order], fills: list[Fill]) -> None:
        self.orders = orders
        self.fills = fills
        self.calls: list[str] = []

    def get_order(self, order_id: str) -> Order:
        self.calls.append(f"get_order {order_id}")
        return self.orders[order_id].snapshot()

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        self.calls.append(f"list_fills {since_ts}")
        return [f for f in self.fills if since_ts is None or f.ts >= since_ts]


def user_message(order: UserOrder, sequence: int = 1) -> StreamMessage:
    return StreamMessage(1, "user", sequence, 50, UserUpdate("update", (order,)))


def test_a_user_update_for_an_unknown_order_is_looked_up_and_its_fills_fetched() -> None:
    truth = placed()
    truth.apply_fill(fill("t1", "0.4", 10))
    rest = FakeRest({OID: truth}, [fill("t1", "0.4", 10)])
    sync = OrderSync(rest)
    update = UserOrder(order_id=OID, status="OPEN", cumulative_quantity="0.4")
    assert sync.on_event(user_message(update)) == []
    assert rest.calls == [f"get_order {OID}", "list_fills None"]
    assert [f.trade_id for f in sync.state.new_fills()] == ["t1"]
    assert sync.on_event(user_message(update)) == []
    assert sync.state.new_fills() == []


def test_a_reconnect_fills_the_gap_from_rest() -> None:
    truth = placed()
    rest = FakeRest({OID: truth}, [])
    sync = OrderSync(rest)
    sync.state.track(truth)
    truth.apply_fill(fill("t1", "1", 10))
    rest.fills.append(fill("t1", "1", 10))
    assert sync.on_event(Reconnected(2, 1)) == []
    final = sync.state.order(OID)
    assert final is not None
    assert final.status is OrderStatus.FILLED
    assert [f.trade_id for f in sync.state.new_fills()] == ["t1"]


def test_a_failing_rest_source_alerts_and_retries_on_the_next_event() -> None:
    class Down(FakeRest):
        def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
            from coinswarm.exchanges.coinbase import ExchangeUnavailableError  # noqa: PLC0415

            self.calls.append("list_fills down")
            raise ExchangeUnavailableError("GET /orders/historical/fills: 503")

    rest = Down({}, [])
    sync = OrderSync(rest)
    alerts = sync.on_event(Reconnected(2, 1))
    assert [a.source for a in alerts] == ["REST list_fills"]
    sync.on_event(StreamMessage(2, "heartbeats", 3, 0, UserUpdate("update", ())))
    assert rest.calls == ["list_fills down", "list_fills down"]
