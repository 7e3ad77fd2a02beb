"""Coinbase JSON models and their translation to and from the domain, plus limits and faults."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from coinswarm.domain.bar import Bar
from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderSide, OrderType, TimeInForce
from coinswarm.exchanges.local_coinbase import convert
from coinswarm.exchanges.local_coinbase import schemas as s
from coinswarm.exchanges.local_coinbase.faults import Fault, FaultPlan
from coinswarm.exchanges.local_coinbase.ratelimit import RateLimiter

BTC = Instrument(
    symbol="BTC-USD",
    base="BTC",
    quote="USD",
    price_increment=Decimal("0.01"),
    size_increment=Decimal("0.0001"),
    min_size=Decimal("0.001"),
    min_notional=Decimal("5"),
)


def body(config: dict[str, object], side: str = "BUY") -> s.CreateOrderRequest:
    return s.CreateOrderRequest.model_validate(
        {
            "client_order_id": "c-1",
            "product_id": "BTC-USD",
            "side": side,
            "order_configuration": config,
            "self_trade_prevention_id": "ignored by this server",
        }
    )


def test_a_market_buy_by_quote_size_becomes_an_ioc_market_request() -> None:
    request = convert.order_request(body({"market_market_ioc": {"quote_size": "100.50"}}), BTC)
    assert request.type is OrderType.MARKET
    assert request.time_in_force is TimeInForce.IOC
    assert request.quote_quantity == Decimal("100.50")
    assert request.quantity is None


def test_a_limit_gtc_becomes_a_gtc_limit_request() -> None:
    config = {
        "limit_limit_gtc": {"base_size": "0.5", "limit_price": "20000.00", "post_only": False}
    }
    request = convert.order_request(body(config, "SELL"), BTC)
    assert (request.type, request.time_in_force, request.side) == (
        OrderType.LIMIT,
        TimeInForce.GTC,
        OrderSide.SELL,
    )
    assert (request.quantity, request.limit_price) == (Decimal("0.5"), Decimal("20000.00"))


@pytest.mark.parametrize(
    ("config", "side", "preview"),
    [
        ({"market_market_ioc": {"base_size": "0.00015"}}, "SELL", "PREVIEW_INVALID_SIZE_PRECISION"),
        (
            {"market_market_ioc": {"base_size": "0.0005"}},
            "SELL",
            "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
        ),
        (
            {"market_market_ioc": {"quote_size": "1.001"}},
            "BUY",
            "PREVIEW_INVALID_QUOTE_SIZE_PRECISION",
        ),
        ({"market_market_ioc": {"quote_size": "10"}}, "SELL", "PREVIEW_INVALID_ORDER_CONFIG"),
        ({"market_market_ioc": {}}, "BUY", "PREVIEW_INVALID_ORDER_CONFIG"),
        ({"market_market_ioc": {"quote_size": "-5"}}, "BUY", "PREVIEW_INVALID_ORDER_CONFIG"),
        ({"market_market_ioc": {"quote_size": "0"}}, "BUY", "PREVIEW_INVALID_ORDER_CONFIG"),
        (
            {"limit_limit_gtc": {"base_size": "0.001", "limit_price": "100.00"}},
            "BUY",
            "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
        ),
        (
            {"sor_limit_ioc": {"base_size": "1", "limit_price": "1"}},
            "BUY",
            "PREVIEW_INVALID_ORDER_CONFIG",
        ),
        (
            {
                "market_market_ioc": {"quote_size": "10"},
                "limit_limit_gtc": {"base_size": "1", "limit_price": "1"},
            },
            "BUY",
            "PREVIEW_INVALID_ORDER_CONFIG",
        ),
    ],
)
def test_bad_orders_are_refused_with_coinbase_reasons(
    config: dict[str, object], side: str, preview: str
) -> None:
    with pytest.raises(convert.RejectError) as caught:
        convert.order_request(body(config, side), BTC)
    refusal = caught.value.response(None)
    assert refusal.success is False
    assert refusal.error_response is not None
    assert refusal.error_response.preview_failure_reason == preview


def test_an_unknown_product_is_refused() -> None:
    with pytest.raises(convert.RejectError) as caught:
        convert.order_request(body({"market_market_ioc": {"quote_size": "10"}}), None)
    assert caught.value.error == "INVALID_PRODUCT_ID"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"market_market_ioc": {"quote_size": "abc"}}, "quote_size"),
        ({"market_market_ioc": {"quote_size": "NaN"}}, "quote_size"),
        ({"market_market_ioc": {"base_size": "1e999"}}, "base_size"),
        ({"limit_limit_gtc": {"base_size": "1", "limit_price": "1" + "0" * 20}}, "limit_price"),
        ({"limit_limit_gtc": {"base_size": "1e30", "limit_price": "1"}}, "base_size"),
    ],
)
def test_a_number_that_is_no_amount_is_a_schema_error_naming_the_field(
    config: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        body(config)
    assert [e["loc"][-1] for e in caught.value.errors()] == [field]


def test_a_large_size_on_a_fine_grid_is_checked_exactly() -> None:
    # 28 digits of default precision would make `%` raise here; the grid check must not.
    fine = Instrument(
        symbol="X-USD",
        base="X",
        quote="USD",
        price_increment=Decimal("0.000000000000000001"),
        size_increment=Decimal("0.000000000000000001"),
        min_size=Decimal("0.000000000000000001"),
        min_notional=Decimal(0),
    )
    config = {"limit_limit_gtc": {"base_size": "999999999999999.5", "limit_price": "1.5"}}
    request = convert.order_request(body(config), fine)
    assert request.quantity == Decimal("999999999999999.5")


def test_a_wrong_side_or_a_missing_field_is_a_schema_error() -> None:
    with pytest.raises(ValidationError):
        body({"market_market_ioc": {"quote_size": "10"}}, "HOLD")
    with pytest.raises(ValidationError):
        s.CreateOrderRequest.model_validate({"client_order_id": "x", "side": "BUY"})


@pytest.mark.parametrize(
    ("reason", "preview"),
    [
        ("insufficient funds: the order needs 5 USD, 1 USD is free", "PREVIEW_INSUFFICIENT_FUND"),
        ("no price yet for BTC-USD: no bar has arrived", "PREVIEW_INVALID_NO_LIQUIDITY"),
        ("notional 0.5 USD is below the minimum 1 USD", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        ("size 0.0001 is below the minimum 0.001 BTC", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
        ("something new", "UNKNOWN_PREVIEW_FAILURE_REASON"),
    ],
)
def test_engine_reasons_map_to_coinbase_codes(reason: str, preview: str) -> None:
    assert convert.refusal_for_engine_reason(reason).preview_reason == preview


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1.2300"), "1.23"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.00000001"), "0.00000001"),
        (Decimal("0E-8"), "0"),
    ],
)
def test_decimals_print_plainly(value: Decimal, text: str) -> None:
    assert convert.decimal_text(value) == text


def test_an_order_record_has_string_amounts_and_coinbase_statuses() -> None:
    request = convert.order_request(
        body({"limit_limit_gtc": {"base_size": "0.5", "limit_price": "20000.00"}}), BTC
    )
    order = Order("SIM-1", request, 3_600_000_000_000)
    order.accept(order.created_ts)
    fill = Fill(
        trade_id="T-1",
        order_id="SIM-1",
        client_order_id="c-1",
        instrument="BTC-USD",
        side=OrderSide.BUY,
        quantity=Decimal("0.2"),
        price=Decimal("20000"),
        fee=Decimal("24"),
        fee_currency="USD",
        ts=7_200_000_000_000,
        liquidity=Liquidity.MAKER,
    )
    order.apply_fill(fill)
    facts = convert.OrderFacts(
        configuration=body(
            {"limit_limit_gtc": {"base_size": "0.5", "limit_price": "20000.00"}}
        ).order_configuration,
        number_of_fills=1,
        last_fill_ts=fill.ts,
        hold=Decimal("6000"),
    )
    record = convert.order_record(order, facts).model_dump(exclude_none=True)
    assert record["status"] == "OPEN"
    assert record["filled_size"] == "0.2"
    assert record["completion_percentage"] == "40"
    assert record["filled_value"] == "4000"
    assert record["total_fees"] == "24"
    assert record["time_in_force"] == "GOOD_UNTIL_CANCELLED"
    assert record["created_time"] == "1970-01-01T01:00:00.000000Z"
    assert record["order_configuration"]["limit_limit_gtc"]["limit_price"] == "20000.00"
    trade = convert.fill_record(fill)
    assert (trade.trade_id, trade.liquidity_indicator, trade.commission) == ("T-1", "MAKER", "24")


def test_a_candle_is_strings_in_unix_seconds() -> None:
    candle = convert.candle(Bar("BTC-USD", 3_600_000_000_000, 1.5, 2.25, 1.0, 2.0, 10.125))
    assert candle.model_dump() == {
        "start": "3600",
        "low": "1",
        "high": "2.25",
        "open": "1.5",
        "close": "2",
        "volume": "10.125",
    }


def test_a_product_reports_increments_and_minimums() -> None:
    product = convert.product(BTC, None)
    assert (product.base_increment, product.quote_increment) == ("0.0001", "0.01")
    assert (product.base_min_size, product.quote_min_size) == ("0.001", "5")
    assert product.price == ""


def test_an_account_nets_holds_out_of_the_available_balance() -> None:
    account = convert.account("USD", Decimal(100), Decimal(30), created_ns=0)
    assert account.available_balance == s.Balance(value="70", currency="USD")
    assert account.hold == s.Balance(value="30", currency="USD")


# -- rate limits and fault plans ----------------------------------------------------------------


def test_a_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(10, monotonic=lambda: now[0])
    assert all(limiter.take("k").allowed for _ in range(10))
    refused = limiter.take("k")
    assert not refused.allowed
    assert refused.headers() == {
        "x-ratelimit-limit": "10",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "1",
    }
    assert limiter.take("other").allowed
    now[0] = 0.1
    assert limiter.take("k").allowed
    assert not limiter.take("k").allowed


def test_a_fault_is_used_up_after_its_times() -> None:
    plan = FaultPlan()
    plan.set([Fault(method="POST", path="/orders", kind="status", times=2)])
    assert plan.take("GET", "/orders") is None
    assert plan.take("post", "/orders") is not None
    assert plan.take("POST", "/orders") is not None
    assert plan.take("POST", "/orders") is None


def test_a_fault_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Fault.model_validate({"method": "GET", "path": "/", "kind": "explode"})
