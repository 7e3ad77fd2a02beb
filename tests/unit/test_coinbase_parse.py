"""Parsing Coinbase's JSON into domain objects, and preparing orders for it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.coinbase import ExchangeDataError, parse
from coinswarm.exchanges.coinbase import schemas as s
from coinswarm.exchanges.coinbase.orders import body_for, prepare

ROUTE = "GET /api/v3/brokerage/orders/historical/X"
BTC = Instrument(
    symbol="BTC-USD",
    base="BTC",
    quote="USD",
    price_increment=Decimal("0.01"),
    size_increment=Decimal("0.00000001"),
    min_size=Decimal("0.00001"),
    min_notional=Decimal("1"),
)


def record(**changes: Any) -> s.OrderRecord:
    body: dict[str, Any] = {
        "order_id": "o-1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "client_order_id": "c-1",
        "status": "OPEN",
        "created_time": "2024-01-02T03:04:05.123456789Z",
        "order_configuration": {
            "limit_limit_gtc": {"base_size": "0.5", "limit_price": "1000.00", "post_only": False}
        },
        "filled_size": "0.1",
        "average_filled_price": "999.5",
        "total_fees": "0.6",
        "total_value_after_fees": "100.55",
        "some_field_coinbase_added_later": {"x": 1},
    }
    body.update(changes)
    return s.OrderRecord.model_validate(body)


def test_an_open_order_with_fills_is_partially_filled_with_decimals() -> None:
    order = parse.order(record(), route=ROUTE, where="order")
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.request.type is OrderType.LIMIT
    assert order.request.quantity == Decimal("0.5")
    assert order.request.limit_price == Decimal("1000.00")
    assert order.filled_quantity == Decimal("0.1")
    assert order.average_fill_price == Decimal("999.5")
    assert order.fees == Decimal("0.6")
    assert order.created_ts == 1_704_164_645_123_456_789


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("PENDING", OrderStatus.NEW),
        ("FILLED", OrderStatus.FILLED),
        ("CANCELLED", OrderStatus.CANCELLED),
        ("EXPIRED", OrderStatus.EXPIRED),
        ("FAILED", OrderStatus.REJECTED),
        ("CANCEL_QUEUED", OrderStatus.PARTIALLY_FILLED),
    ],
)
def test_coinbase_statuses_map_to_ours(status: str, expected: OrderStatus) -> None:
    assert parse.order(record(status=status), route=ROUTE, where="order").status is expected


@pytest.mark.parametrize("status", ["UNKNOWN_ORDER_STATUS", "open", ""])
def test_an_unknown_status_names_route_field_and_value(status: str) -> None:
    with pytest.raises(ExchangeDataError) as caught:
        parse.order(record(status=status), route=ROUTE, where="order")
    assert caught.value.route == ROUTE
    assert caught.value.field == "order.status"
    assert repr(status) in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"filled_size": "NaN"}, "order.filled_size"),
        ({"total_fees": "-1"}, "order.total_fees"),
        ({"created_time": "yesterday"}, "order.created_time"),
        (
            {"order_configuration": {"limit_limit_gtc": {"base_size": "0", "limit_price": "1"}}},
            "order.order_configuration.limit_limit_gtc.base_size",
        ),
        (
            {"order_configuration": {"stop_limit_stop_limit_gtc": {"base_size": "1"}}},
            "order.order_configuration",
        ),
    ],
)
def test_bad_values_name_their_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ExchangeDataError) as caught:
        parse.order(record(**changes), route=ROUTE, where="order")
    assert caught.value.field == field


def test_a_market_order_by_quote_size_parses() -> None:
    config = {"market_market_ioc": {"quote_size": "500"}}
    order = parse.order(record(order_configuration=config, status="FILLED"), route=ROUTE, where="o")
    assert order.request.type is OrderType.MARKET
    assert order.request.quote_quantity == Decimal(500)


def test_a_quote_sized_fill_is_turned_into_base_units() -> None:
    fill = s.FillRecord(
        trade_id="t-1",
        order_id="o-1",
        trade_time="2024-01-02T03:04:05Z",
        price="20000",
        size="100",
        commission="0.6",
        product_id="BTC-USD",
        liquidity_indicator="MAKER",
        size_in_quote=True,
        side="BUY",
    )
    parsed = parse.fill(fill, client_order_id="c-1", quote="USD", route=ROUTE, where="fills.0")
    assert parsed.quantity == Decimal("0.005")
    assert parsed.fee == Decimal("0.6")
    assert parsed.liquidity.value == "maker"
    assert parsed.ts == 1_704_164_645_000_000_000


def test_an_offset_timestamp_is_converted_to_utc() -> None:
    ns = parse.timestamp_ns("2024-01-02T05:04:05.5+02:00", route=ROUTE, field="t")
    assert ns == 1_704_164_645_500_000_000


def test_balances_add_available_and_held() -> None:
    accounts = [
        s.Account.model_validate(
            {
                "currency": "USD",
                "available_balance": {"value": "90.5", "currency": "USD"},
                "hold": {"value": "9.5", "currency": "USD"},
            }
        )
    ]
    assert parse.balances(accounts, route=ROUTE) == {"USD": Decimal(100)}


# -- preparing orders (scenario 16) -------------------------------------------------------------


def limit(side: OrderSide, size: str, price: str) -> OrderRequest:
    return OrderRequest(
        client_order_id="c",
        instrument="BTC-USD",
        side=side,
        type=OrderType.LIMIT,
        quantity=Decimal(size),
        limit_price=Decimal(price),
    )


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [
        (OrderSide.BUY, "100.019", "100.01"),
        (OrderSide.SELL, "100.011", "100.02"),
        (OrderSide.BUY, "100.01", "100.01"),
    ],
)
def test_prices_round_to_the_tick_in_the_safe_direction(
    side: OrderSide, price: str, expected: str
) -> None:
    prepared = prepare(limit(side, "0.123456789", price), BTC)
    assert prepared.refusal is None
    assert prepared.request.quantity == Decimal("0.12345678")
    assert prepared.request.limit_price == Decimal(expected)


def test_a_quote_size_rounds_down_to_the_tick_and_the_body_is_strings() -> None:
    request = OrderRequest(
        client_order_id="q",
        instrument="BTC-USD",
        side=OrderSide.BUY,
        quote_quantity=Decimal("10.129"),
    )
    prepared = prepare(request, BTC)
    assert prepared.refusal is None
    assert body_for(prepared.request)["order_configuration"] == {
        "market_market_ioc": {"quote_size": "10.12"}
    }


def test_unsupported_order_types_are_refused_locally() -> None:
    stop = OrderRequest(
        client_order_id="s",
        instrument="BTC-USD",
        side=OrderSide.SELL,
        type=OrderType.STOP,
        quantity=Decimal(1),
        stop_price=Decimal(10),
    )
    refusal = prepare(stop, BTC).refusal
    assert refusal is not None
    assert "market (IOC) and limit GTC" in refusal
