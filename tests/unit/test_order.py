from __future__ import annotations

from decimal import Decimal

import pytest

from coinswarm.domain.errors import IllegalTransitionError, InvalidOrderError
from coinswarm.domain.fill import Fill
from coinswarm.domain.order import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)


def request(**changes) -> OrderRequest:
    fields = {
        "client_order_id": "c1",
        "instrument": "BTC-USDT",
        "side": OrderSide.BUY,
        "quantity": Decimal(2),
    }
    fields.update(changes)
    return OrderRequest(**fields)


def fill(quantity: str, n: int = 1) -> Fill:
    return Fill(
        trade_id=f"t{n}",
        order_id="o1",
        client_order_id="c1",
        instrument="BTC-USDT",
        side=OrderSide.BUY,
        quantity=Decimal(quantity),
        price=Decimal(100),
        fee=Decimal(0),
        fee_currency="USDT",
        ts=n,
    )


def test_the_happy_path_new_open_partial_filled():
    order = Order("o1", request(), 0)
    order.accept(0)
    order.apply_fill(fill("0.5", 1))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order.apply_fill(fill("1.5", 2))
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == 2
    assert order.filled_quote == 200


@pytest.mark.parametrize(
    ("steps", "illegal"),
    [
        ([], OrderStatus.FILLED),  # a new order cannot fill before it is accepted
        ([OrderStatus.OPEN, OrderStatus.CANCELLED], OrderStatus.OPEN),
        ([OrderStatus.REJECTED], OrderStatus.OPEN),
        ([OrderStatus.OPEN, OrderStatus.FILLED], OrderStatus.CANCELLED),
        ([OrderStatus.OPEN, OrderStatus.EXPIRED], OrderStatus.PARTIALLY_FILLED),
        ([OrderStatus.OPEN], OrderStatus.NEW),
    ],
)
def test_illegal_transitions_are_refused(steps, illegal):
    order = Order("o1", request(), 0)
    for status in steps:
        order.transition(status, 1)
    before = order.status
    with pytest.raises(IllegalTransitionError, match=f"cannot go from {before} to {illegal}"):
        order.transition(illegal, 2)
    assert order.status is before


def test_a_fill_of_another_order_is_refused():
    order = Order("o2", request(), 0)
    order.accept(0)
    with pytest.raises(InvalidOrderError, match="belongs to order o1"):
        order.apply_fill(fill("1"))


def test_snapshot_shares_no_state():
    order = Order("o1", request(), 0)
    copy = order.snapshot()
    order.accept(5)
    assert copy.status is OrderStatus.NEW
    assert order.status is OrderStatus.OPEN


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": None}, "exactly one of quantity and quote_quantity"),
        ({"quote_quantity": Decimal(5)}, "exactly one"),
        ({"quantity": Decimal(0)}, "positive finite size"),
        ({"quantity": Decimal("NaN")}, "positive finite size"),
        ({"type": OrderType.LIMIT}, "needs a positive limit_price"),
        ({"type": OrderType.STOP, "stop_price": Decimal(-1)}, "needs a positive stop_price"),
        ({"limit_price": Decimal(5)}, "takes no limit_price"),
        ({"time_in_force": TimeInForce.GTD}, "expire_ts goes with"),
        (
            {"quantity": None, "quote_quantity": Decimal(5), "side": OrderSide.SELL},
            "market buys only",
        ),
    ],
)
def test_malformed_requests_are_refused(changes, message):
    with pytest.raises(InvalidOrderError, match=message):
        request(**changes)
