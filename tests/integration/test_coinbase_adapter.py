"""The Coinbase REST adapter against the local Coinbase-compatible exchange on 127.0.0.1.

Each scenario checks the adapter's answer against the exchange's own record (the control API),
and counts what went over the wire with an httpx event hook rather than by patching anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from coinbase_harness import (
    API,
    PRODUCT,
    FakeTime,
    Harness,
    build,
    limit,
    make_venue,
    market_buy,
)
from coinbase_harness import (
    harness as _harness,
)
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus
from coinswarm.exchanges.base import ExchangeAdapter
from coinswarm.exchanges.coinbase import (
    ExchangeDataError,
    OrderNotFoundError,
    OrderOutcomeUnknownError,
    UnsafeKeyError,
)
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyPermissions,
    KeyRing,
    build_jwt,
    create_app,
    generate_key,
    serve_in_thread,
)


@pytest.fixture
def key() -> CdpKey:
    return generate_key()


@pytest.fixture
def h(key: CdpKey) -> Iterator[Harness]:
    yield from _harness(key)


# -- the port ---------------------------------------------------------------------------------


def test_the_adapter_is_an_exchange_adapter(h: Harness) -> None:
    adapter: ExchangeAdapter = h.adapter
    assert adapter.name == "coinbase"


def test_products_become_instruments_with_increments_and_minimums(h: Harness) -> None:
    instruments = h.adapter.instruments()
    assert list(instruments) == [PRODUCT]
    btc = instruments[PRODUCT]
    assert (btc.base, btc.quote) == ("BTC", "USD")
    assert btc.price_increment == Decimal("0.01")
    assert btc.size_increment == Decimal("0.00000001")
    assert btc.min_size == Decimal("0.00001")
    assert btc.min_notional == Decimal(1)


def test_a_market_buy_fills_and_its_fill_carries_the_trade_id(h: Harness) -> None:
    placed = h.adapter.place_order(market_buy("buy-1"))
    assert placed.status is OrderStatus.OPEN
    assert placed.order_id == h.record_orders("buy-1")[0]["order_id"]
    h.advance()

    order = h.adapter.get_order(placed.order_id)
    assert order.status is OrderStatus.FILLED
    assert order.client_order_id == "buy-1"
    assert order.request.quote_quantity == Decimal(1000)
    fills = h.adapter.list_fills()
    assert len(fills) == 1
    fill = fills[0]
    server_fill = h.record()["fills"][0]  # type: ignore[index]
    assert fill.trade_id == server_fill["trade_id"]
    assert (fill.order_id, fill.client_order_id) == (placed.order_id, "buy-1")
    assert fill.price == Decimal(server_fill["price"])
    assert fill.quantity == Decimal(server_fill["size"])
    assert fill.fee == Decimal(server_fill["fee"])
    assert fill.fee_currency == "USD"
    assert order.filled_quantity == fill.quantity
    assert order.fees == fill.fee
    assert h.adapter.list_fills(since_ts=fill.ts + 1) == []


def test_a_fresh_adapter_learns_client_ids_of_fills_from_the_orders(
    h: Harness, key: CdpKey
) -> None:
    h.adapter.place_order(market_buy("buy-2"))
    h.advance()
    other, _ = build(h.server, key, FakeTime())
    with other:
        assert [f.client_order_id for f in other.list_fills()] == ["buy-2"]


def test_a_limit_order_rests_and_is_cancelled(h: Harness) -> None:
    placed = h.adapter.place_order(limit("rest-1", OrderSide.BUY, "0.5", "1000.00"))
    assert placed.status is OrderStatus.OPEN
    h.advance()
    assert [o.order_id for o in h.adapter.open_orders()] == [placed.order_id]
    assert [o.order_id for o in h.adapter.open_orders(PRODUCT)] == [placed.order_id]
    assert h.adapter.open_orders("ETH-USD") == []

    cancelled = h.adapter.cancel_order(placed.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert h.adapter.open_orders() == []
    assert h.adapter.cancel_order(placed.order_id).status is OrderStatus.CANCELLED
    assert h.record_orders("rest-1")[0]["status"] == "CANCELLED"


def test_an_unknown_order_is_not_found(h: Harness) -> None:
    with pytest.raises(OrderNotFoundError, match="SIM-404"):
        h.adapter.get_order("SIM-404")


def test_balances_match_the_exchange_record(h: Harness) -> None:
    h.adapter.place_order(market_buy("bal-1"))
    h.adapter.place_order(limit("bal-2", OrderSide.BUY, "0.1", "1000.00"))  # holds USD
    h.advance()
    balances = h.adapter.balances()
    record = h.record()["balances"]
    assert isinstance(record, dict)
    assert balances == {c: Decimal(v) for c, v in record.items()}
    assert all(isinstance(v, Decimal) for v in balances.values())


# -- scenario 1: committed, then the answer is lost --------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop", "when": "after"},
        {"kind": "malformed", "when": "after"},
        {"kind": "delay", "when": "after", "delay_s": 1.0},
    ],
    ids=["dropped", "malformed", "timeout"],
)
def test_s1_a_lost_answer_after_commit_resolves_to_the_one_order(
    key: CdpKey, fault: dict[str, object]
) -> None:
    for h in _harness(key, timeout_s=0.3):
        h.fault(**fault)
        placed = h.adapter.place_order(market_buy("s1"))
        on_exchange = h.record_orders("s1")
        assert len(on_exchange) == 1
        assert placed.order_id == on_exchange[0]["order_id"]
        assert placed.status is OrderStatus.OPEN
        assert [p["client_order_id"] for p in h.wire.posts()] == ["s1"]  # found, not resent


# -- scenario 2: 5xx before or after commit ----------------------------------------------------


def test_s2_a_503_before_commit_is_resent_under_the_same_id(h: Harness) -> None:
    h.fault(kind="status", when="before", status_code=503)
    placed = h.adapter.place_order(market_buy("s2a"))
    on_exchange = h.record_orders("s2a")
    assert [o["order_id"] for o in on_exchange] == [placed.order_id]
    assert placed.status is OrderStatus.OPEN
    assert [p["client_order_id"] for p in h.wire.posts()] == ["s2a", "s2a"]


def test_s2_a_503_after_commit_is_found_by_listing(h: Harness) -> None:
    h.fault(kind="status", when="after", status_code=503)
    placed = h.adapter.place_order(market_buy("s2b"))
    assert [o["order_id"] for o in h.record_orders("s2b")] == [placed.order_id]
    assert len(h.wire.posts()) == 1


def test_s2_a_persistent_503_before_commit_leaves_no_order_and_an_unknown_outcome(
    h: Harness,
) -> None:
    h.fault(kind="status", when="before", status_code=503, times=None)
    with pytest.raises(OrderOutcomeUnknownError) as caught:
        h.adapter.place_order(market_buy("s2c"))
    assert caught.value.client_order_id == "s2c"
    assert h.record_orders("s2c") == []
    assert {p["client_order_id"] for p in h.wire.posts()} == {"s2c"}  # never a new id


def test_s2_a_persistent_503_after_commit_still_finds_the_one_order(h: Harness) -> None:
    h.fault(kind="status", when="after", status_code=500, times=None)
    placed = h.adapter.place_order(market_buy("s2d"))
    assert [o["order_id"] for o in h.record_orders("s2d")] == [placed.order_id]


def test_reads_are_retried_after_5xx_with_backoff(h: Harness) -> None:
    h.fault(method="GET", path=API + "/accounts", kind="status", status_code=503, times=2)
    assert h.adapter.balances()["USD"] == Decimal(100_000)
    assert h.wire.statuses == [503, 503, 200]
    assert len(h.time.sleeps) == 2
    assert 0.005 <= h.time.sleeps[0] <= 0.01
    assert 0.01 <= h.time.sleeps[1] <= 0.02


def test_a_cancel_whose_answer_is_lost_is_asked_again(h: Harness) -> None:
    placed = h.adapter.place_order(limit("c-1", OrderSide.BUY, "0.5", "1000.00"))
    h.fault(path=API + "/orders/batch_cancel", kind="drop", when="after")
    assert h.adapter.cancel_order(placed.order_id).status is OrderStatus.CANCELLED
    assert len(h.wire.posts(API + "/orders/batch_cancel")) == 2


# -- scenario 3: 429 storms --------------------------------------------------------------------


def test_s3_a_client_paced_like_the_server_never_sees_a_429(key: CdpKey) -> None:
    keys = KeyRing()
    keys.add(key)
    fake = FakeTime()
    # 4 a second: quarter-second steps are exact in binary, so both buckets agree to the bit.
    app = create_app(make_venue(), keys, monotonic=fake.monotonic, private_per_second=4)
    with serve_in_thread(app) as server:
        adapter, wire = build(server, key, fake, per_second=4)
        with adapter:
            for _ in range(20):
                adapter.balances()
    assert 429 not in wire.statuses
    assert len(wire.statuses) == 20
    assert fake.sleeps == [1.0] * 4  # 4 at once, then 4 more as their tokens come back


def test_s3_a_429_storm_backs_off_by_the_reset_header_with_jitter(key: CdpKey) -> None:
    keys = KeyRing()
    keys.add(key)
    fake = FakeTime()
    app = create_app(make_venue(), keys, monotonic=fake.monotonic, private_per_second=5)
    with serve_in_thread(app) as server:
        adapter, wire = build(server, key, fake, per_second=100)
        with adapter:
            for _ in range(12):
                adapter.balances()
            placed = adapter.place_order(market_buy("s3"))
    assert placed.status is OrderStatus.OPEN
    assert wire.statuses.count(200) == 14  # 12 reads, the products, the order
    refused = wire.statuses.count(429)
    assert refused >= 2
    waits = [s for s in fake.sleeps if s >= 1.0]
    assert len(waits) == refused  # one wait per 429, each the 1 s reset plus jitter
    assert all(1.0 <= s <= 1.25 for s in waits)
    assert len(set(waits)) == len(waits)  # jittered, not in lock step
    assert {p["client_order_id"] for p in wire.posts()} == {"s3"}


# -- scenario 4: a definite refusal ------------------------------------------------------------


def test_s4_success_false_is_rejected_with_its_reason_and_not_retried(h: Harness) -> None:
    order = h.adapter.place_order(market_buy("s4", quote="1000000"))
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason is not None
    assert "INSUFFICIENT_FUND" in order.reject_reason
    assert len(h.wire.posts()) == 1
    h.advance()
    assert h.adapter.list_fills() == []


# -- scenario 16: increments and minimums ------------------------------------------------------


def test_s16_off_increment_sizes_and_prices_are_rounded_safely(h: Harness) -> None:
    buy = h.adapter.place_order(limit("s16-b", OrderSide.BUY, "0.123456789", "1000.009"))
    sell = h.adapter.place_order(limit("s16-s", OrderSide.SELL, "0.100000009", "900000.001"))
    assert (buy.status, sell.status) == (OrderStatus.OPEN, OrderStatus.OPEN)
    sent = {p["client_order_id"]: p["order_configuration"] for p in h.wire.posts()}
    # Buys round down and sells up to the 0.01 tick; sizes always down to 1e-8.
    assert sent["s16-b"] == {"limit_limit_gtc": {"base_size": "0.12345678", "limit_price": "1000"}}
    assert sent["s16-s"] == {"limit_limit_gtc": {"base_size": "0.1", "limit_price": "900000.01"}}
    on_exchange = h.adapter.get_order(buy.order_id)
    assert on_exchange.request.quantity == Decimal("0.12345678")
    assert on_exchange.request.limit_price == Decimal("1000.00")


@pytest.mark.parametrize(
    "request_",
    [
        limit("tiny-size", OrderSide.BUY, "0.000001", "1000.00"),
        limit("tiny-notional", OrderSide.BUY, "0.00001", "50.00"),
        market_buy("tiny-quote", quote="0.999"),
        OrderRequest(
            client_order_id="rounds-to-zero",
            instrument=PRODUCT,
            side=OrderSide.SELL,
            quantity=Decimal("0.000000001"),
        ),
    ],
    ids=lambda r: r.client_order_id,
)
def test_s16_below_the_minimum_is_refused_before_any_request(
    h: Harness, request_: OrderRequest
) -> None:
    h.adapter.instruments()
    before = len(h.wire.sent)
    order = h.adapter.place_order(request_)
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason is not None
    assert "refused before sending" in order.reject_reason
    assert len(h.wire.sent) == before
    assert h.record()["orders"] == []


# -- scenario 22 and bad data ------------------------------------------------------------------


def test_s22_a_key_that_can_transfer_is_refused_for_live(key: CdpKey) -> None:
    for h in _harness(key, KeyPermissions(can_transfer=True)):
        assert h.adapter.check_permissions(live=False).can_transfer is True
        with pytest.raises(UnsafeKeyError, match="transfer"):
            h.adapter.check_permissions(live=True)


def test_a_trade_only_key_passes_the_live_check(h: Harness) -> None:
    scopes = h.adapter.check_permissions(live=True)
    assert (scopes.can_view, scopes.can_trade, scopes.can_transfer) == (True, True, False)


def test_a_malformed_read_names_the_route_and_field(h: Harness) -> None:
    h.fault(method="GET", path=API + "/accounts", kind="malformed")
    with pytest.raises(ExchangeDataError) as caught:
        h.adapter.balances()
    assert caught.value.route == "GET /api/v3/brokerage/accounts"
    assert caught.value.field == "body"


def test_a_bad_amount_in_a_read_names_the_field(h: Harness) -> None:
    body = {
        "accounts": [{"currency": "USD", "available_balance": {"value": "lots", "currency": "USD"}}]
    }
    h.fault(method="GET", path=API + "/accounts", kind="status", status_code=200, body=body)
    with pytest.raises(ExchangeDataError, match=r"accounts\.0\.available_balance\.value"):
        h.adapter.balances()


def test_an_unknown_order_status_is_refused_clearly(h: Harness, key: CdpKey) -> None:
    placed = h.adapter.place_order(limit("st-1", OrderSide.BUY, "0.5", "1000.00"))
    path = f"{API}/orders/historical/{placed.order_id}"
    token = build_jwt(key, f"GET {h.server.host}{path}", now_s=int(time.time()))
    real = h.control.get(path, headers={"Authorization": f"Bearer {token}"}).json()
    real["order"]["status"] = "TELEPORTED"
    h.fault(method="GET", path=path, kind="status", status_code=200, body=real)
    with pytest.raises(ExchangeDataError, match=r"order\.status.*TELEPORTED"):
        h.adapter.get_order(placed.order_id)
