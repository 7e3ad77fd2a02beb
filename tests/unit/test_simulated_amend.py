"""Amending a resting limit order on the simulated exchange (behind `POST /orders/edit`)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from coinswarm.domain.bar import NS_PER_HOUR, Bar
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.domain.slippage import FixedSlippage
from coinswarm.exchanges.simulated import SimulatedExchange
from generators import BTC, START_NS

D = Decimal


class Market:
    def __init__(self) -> None:
        self.clock = HistoricalClock(START_NS)
        fees = FeeSchedule(maker_bps=D(10), taker_bps=D(20))
        self.exchange = SimulatedExchange(
            {BTC.symbol: BTC},
            self.clock,
            fill_model=FillModel(fees=fees, slippage=FixedSlippage()),
            balances={"USDT": D(10_000), "BTC": D(1)},
        )
        self.hour = 0

    def bar(self, o: float, h: float, lo: float, c: float, v: float = 1000.0) -> None:
        ts = START_NS + self.hour * NS_PER_HOUR
        self.hour += 1
        self.clock.advance_to(ts)
        self.exchange.on_bar(Bar("BTC-USDT", ts, o, h, lo, c, v))

    def limit(self, side: OrderSide, size: str, price: str) -> Order:
        request = OrderRequest(
            client_order_id=f"c-{side}-{size}-{price}",
            instrument="BTC-USDT",
            side=side,
            type=OrderType.LIMIT,
            quantity=D(size),
            limit_price=D(price),
        )
        return self.exchange.place_order(request)

    def free(self, currency: str) -> Decimal:
        return self.exchange._free(currency)


def test_an_amend_keeps_the_id_moves_the_hold_and_fills_at_the_new_price() -> None:
    m = Market()
    m.bar(100, 101, 99, 100)
    order = m.limit(OrderSide.BUY, "1", "50")
    free_before = m.free("USDT")
    amended = m.exchange.amend_order(order.order_id, quantity=D(2), limit_price=D(60))
    assert amended.order_id == order.order_id
    assert (amended.request.quantity, amended.request.limit_price) == (D(2), D(60))
    assert free_before - m.free("USDT") == D(2) * D(60) * D("1.002") - D(1) * D(50) * D("1.002")
    m.bar(70, 71, 59, 65)
    (fill,) = m.exchange.list_fills()
    assert (fill.order_id, fill.price, fill.quantity) == (order.order_id, D(60), D(2))
    assert m.exchange.get_order(order.order_id).status is OrderStatus.FILLED


def test_a_dry_run_checks_and_changes_nothing() -> None:
    m = Market()
    m.bar(100, 101, 99, 100)
    order = m.limit(OrderSide.SELL, "0.5", "200")
    free = m.free("BTC")
    m.exchange.amend_order(order.order_id, quantity=D("0.8"), limit_price=D(210), dry_run=True)
    assert m.exchange.get_order(order.order_id).request == order.request
    assert m.free("BTC") == free


@pytest.mark.parametrize(
    ("size", "price", "says"),
    [
        ("1000", "50", "insufficient funds"),
        ("0", "50", "not above the filled"),
        ("1", "0", "positive"),
    ],
)
def test_a_refused_amend_leaves_the_order_as_it_was(size: str, price: str, says: str) -> None:
    m = Market()
    m.bar(100, 101, 99, 100)
    order = m.limit(OrderSide.BUY, "1", "50")
    free = m.free("USDT")
    with pytest.raises(InvalidOrderError, match=says):
        m.exchange.amend_order(order.order_id, quantity=D(size), limit_price=D(price))
    assert m.exchange.get_order(order.order_id).request == order.request
    assert m.free("USDT") == free


def test_a_filled_order_cannot_be_amended() -> None:
    m = Market()
    m.bar(100, 101, 99, 100)
    order = m.limit(OrderSide.BUY, "1", "100")
    m.bar(100, 101, 99, 100)
    assert m.exchange.get_order(order.order_id).status is OrderStatus.FILLED
    with pytest.raises(InvalidOrderError, match="not a resting limit order"):
        m.exchange.amend_order(order.order_id, quantity=D(2), limit_price=D(100))
