"""What the CCXT adapter hands ccxt for an order: rounded in Decimal, exact floats, or a refusal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderRequest, OrderSide, OrderType, TimeInForce
from coinswarm.exchanges.ccxt_adapter.numbers import exact_float
from coinswarm.exchanges.ccxt_adapter.orders import Prepared, prepare

BTC = Instrument(
    symbol="BTC-USD",
    base="BTC",
    quote="USD",
    price_increment=Decimal("0.01"),
    size_increment=Decimal("0.00000001"),
    min_size=Decimal("0.00001"),
    min_notional=Decimal(1),
)


def order(
    side: OrderSide = OrderSide.BUY,
    *,
    size: str | None = None,
    quote: str | None = None,
    price: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
) -> OrderRequest:
    return OrderRequest(
        client_order_id="c-1",
        instrument="BTC-USD",
        side=side,
        type=OrderType.LIMIT if price else OrderType.MARKET,
        quantity=Decimal(size) if size else None,
        quote_quantity=Decimal(quote) if quote else None,
        limit_price=Decimal(price) if price else None,
        time_in_force=tif,
    )


def prepared(request: OrderRequest, **options: bool) -> Prepared:
    found = prepare(request, BTC, **options)
    assert isinstance(found, Prepared), found
    return found


def test_a_quote_amount_is_cut_to_the_price_tick_and_sent_exactly() -> None:
    ready = prepared(order(quote="24272.0569624207752000"))
    assert ready.request.quote_quantity == Decimal("24272.05")
    assert ready.cost == 24272.05
    assert (ready.amount, ready.price) == (None, None)


def test_sizes_round_down_and_limit_prices_round_in_the_safe_direction() -> None:
    buy = prepared(order(OrderSide.BUY, size="0.123456789", price="100.019"))
    assert (buy.request.quantity, buy.request.limit_price) == (
        Decimal("0.12345678"),
        Decimal("100.01"),
    )
    assert (buy.amount, buy.price) == (0.12345678, 100.01)
    sell = prepared(order(OrderSide.SELL, size="0.5", price="100.011"))
    assert sell.request.limit_price == Decimal("100.02")
    assert sell.price == 100.02


def test_a_market_sell_sends_its_size_and_no_price() -> None:
    ready = prepared(order(OrderSide.SELL, size="14.20172850"))
    assert (ready.amount, ready.price, ready.cost) == (14.2017285, None, None)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (order(size="0.000001"), "size 0.000001 is below the minimum 0.00001"),
        (order(quote="0.999"), "quote size 0.999 is below the minimum 1"),
        (order(size="123456789.12345671", price="1.00"), "size 123456789.12345671 has no exact"),
        (order(size="1", price="1.00", tif=TimeInForce.IOC), "limit GTC orders only"),
    ],
    ids=["tiny-size", "tiny-quote", "no-exact-float", "limit-ioc"],
)
def test_what_cannot_be_sent_as_asked_is_refused(request_: OrderRequest, reason: str) -> None:
    refusal = prepare(request_, BTC)
    assert isinstance(refusal, str)
    assert reason in refusal


def test_a_base_sized_market_buy_is_refused_where_ccxt_would_make_it_a_quote_amount() -> None:
    refusal = prepare(order(size="0.01"), BTC, market_buys_by_quote=True)
    assert isinstance(refusal, str)
    assert "sized in quote" in refusal
    assert prepared(order(size="0.01")).amount == 0.01  # where ccxt sends it as a size
    assert prepared(order(quote="10"), market_buys_by_quote=True).cost == 10.0
    assert prepared(order(OrderSide.SELL, size="0.01"), market_buys_by_quote=True).amount == 0.01


@given(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(10**6), places=8))
def test_exact_float_is_the_decimal_or_nothing(value: Decimal) -> None:
    found = exact_float(value)
    if found is None:
        assert Decimal(repr(float(value))) != value
    else:
        assert Decimal(repr(found)) == value


def test_exact_float_refuses_more_digits_than_a_float_holds() -> None:
    assert exact_float(Decimal("0.1")) == 0.1
    assert exact_float(Decimal("12345678.12345678")) == 12345678.12345678
    assert exact_float(Decimal("123456789.12345671")) is None
