"""ccxt's `coinbase` class, and our CCXT adapter over it, against the local exchange on 127.0.0.1.

ccxt is used as its users use it (a CDP key name as `apiKey`, the PEM as `secret`), with only
its `urls` moved to the local server over HTTPS and the local CA trusted. The exchange's HTTP
session refuses every other host, and a response hook records every URL ccxt reached.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import httpx
import pytest
import requests

from coinbase_harness import ORDERS, PRODUCT, Control, make_venue
from coinswarm.domain.bar import NS_PER_SECOND
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.base import ExchangeAdapter
from coinswarm.exchanges.ccxt_adapter import (
    CcxtAdapter,
    CcxtAdapterConfig,
    CcxtOrderOutcomeUnknownError,
    ExchangeSpec,
    make_exchange,
)
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyRing,
    RunningServer,
    Venue,
    create_app,
    generate_key,
    make_tls_files,
    serve_in_thread,
)

SYMBOL = "BTC/USD"
REVEALED = 400


@dataclass
class Local(Control):
    server: RunningServer
    venue: Venue
    key: CdpKey
    ca: Path
    control: httpx.Client
    urls: list[str] = field(default_factory=list)
    sessions: list[requests.Session] = field(default_factory=list)

    def exchange(self, **options: Any) -> Any:
        spec = ExchangeSpec(
            exchange_id="coinbase",
            url=self.server.base_url,
            ca_file=self.ca,
            api_key=self.key.name,
            secret=self.key.private_key_pem,
            rate_limit=False,
            **options,
        )
        exchange = make_exchange(spec)
        exchange.session.hooks["response"].append(self._seen)
        self.sessions.append(exchange.session)
        return exchange

    def _seen(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.urls.append(response.url)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    venue = make_venue(bars=800, seed=11, reveal=REVEALED)
    tls = make_tls_files(tmp_path)
    app = create_app(venue, keys, control_api=True)
    with (
        serve_in_thread(app, tls=tls) as server,
        httpx.Client(
            base_url=server.base_url,
            verify=ssl.create_default_context(cafile=tls.ca_cert),
            timeout=10,
        ) as control,
    ):
        local = Local(server, venue, key, tls.ca_cert, control)
        yield local
        for session in local.sessions:  # before the server stops: no half-open keep-alives
            session.close()


@pytest.fixture
def ex(local: Local) -> Any:
    exchange = local.exchange()
    exchange.load_markets()
    return exchange


def only_local(local: Local) -> None:
    assert local.urls, "ccxt made no request"
    assert all(url.startswith(local.server.base_url + "/") for url in local.urls), local.urls


# -- ccxt's coinbase class, unchanged ----------------------------------------------------------


def test_load_markets_reads_products_with_increments_and_minimums(local: Local, ex: Any) -> None:
    market = ex.market(SYMBOL)
    assert market["id"] == PRODUCT
    assert market["spot"] is True
    assert (market["precision"]["amount"], market["precision"]["price"]) == (1e-08, 0.01)
    assert market["limits"]["amount"]["min"] == 0.00001
    assert market["limits"]["cost"]["min"] == 1.0
    only_local(local)


def test_fetch_ohlcv_returns_the_venues_bars(local: Local, ex: Any) -> None:
    bars = local.venue.revealed(PRODUCT)
    assert bars is not None
    since_ms = int(bars.ts[10]) // 1_000_000
    candles = ex.fetch_ohlcv(SYMBOL, "1h", since=since_ms, limit=5)
    assert [c[0] for c in candles] == [int(t) // 1_000_000 for t in bars.ts[10:15]]
    first = bars.bar(10)
    assert candles[0][1:] == [first.open, first.high, first.low, first.close, first.volume]
    only_local(local)


def test_fetch_balance_reads_accounts(local: Local, ex: Any) -> None:
    balance = ex.fetch_balance()
    assert balance["total"]["USD"] == 100_000
    assert balance["total"]["BTC"] == 1
    only_local(local)


def test_limit_order_create_fetch_list_cancel(local: Local, ex: Any) -> None:
    created = ex.create_order(
        SYMBOL, "limit", "buy", 0.01, 1000.0, {"client_order_id": "ccxt-limit-1"}
    )
    assert created["clientOrderId"] == "ccxt-limit-1"
    fetched = ex.fetch_order(created["id"], SYMBOL)
    assert (fetched["status"], fetched["type"], fetched["side"]) == ("open", "limit", "buy")
    assert (fetched["amount"], fetched["price"]) == (0.01, 1000.0)
    assert [o["id"] for o in ex.fetch_open_orders(SYMBOL)] == [created["id"]]
    ex.cancel_order(created["id"], SYMBOL)
    assert ex.fetch_order(created["id"], SYMBOL)["status"] == "canceled"
    assert ex.fetch_open_orders(SYMBOL) == []
    only_local(local)


def test_market_and_marketable_limit_orders_fill_and_show_in_my_trades(
    local: Local, ex: Any
) -> None:
    buy = ex.create_market_buy_order_with_cost(SYMBOL, 100.0, {"client_order_id": "m-1"})
    sell = ex.create_order(SYMBOL, "market", "sell", 0.001, None, {"client_order_id": "m-2"})
    limit = ex.create_order(SYMBOL, "limit", "buy", 0.002, 90_000.0, {"client_order_id": "l-1"})
    local.advance()
    for placed in (buy, sell, limit):
        assert ex.fetch_order(placed["id"], SYMBOL)["status"] == "closed"
    trades = ex.fetch_my_trades(SYMBOL)
    venue_fills = {f["trade_id"]: f for f in local.record()["fills"]}
    assert {t["id"] for t in trades} == set(venue_fills)
    for trade in trades:
        fill = venue_fills[trade["id"]]
        assert Decimal(trade["info"]["price"]) == Decimal(fill["price"])
        assert Decimal(trade["info"]["size"]) == Decimal(fill["size"])
        assert trade["order"] == fill["order_id"]
    only_local(local)


def test_a_repeated_client_order_id_returns_the_first_order(local: Local, ex: Any) -> None:
    first = ex.create_order(SYMBOL, "limit", "buy", 0.01, 1000.0, {"client_order_id": "same"})
    second = ex.create_order(SYMBOL, "limit", "buy", 0.01, 1000.0, {"client_order_id": "same"})
    assert first["id"] == second["id"]
    assert len(local.record_orders("same")) == 1


def test_insufficient_funds_is_ccxts_insufficient_funds(ex: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(SYMBOL, "limit", "buy", 100, 20_000.0, {"client_order_id": "too-big"})


def test_the_session_refuses_any_other_host(local: Local) -> None:
    exchange = local.exchange()
    with pytest.raises(ccxt.ExchangeError, match="may only reach"):
        exchange.fetch("https://api.coinbase.com/v2/time")


def test_public_candles_refuse_a_window_wider_than_350(local: Local) -> None:
    bars = local.venue.revealed(PRODUCT)
    assert bars is not None
    start = int(bars.ts[0]) // NS_PER_SECOND
    path = f"/api/v3/brokerage/market/products/{PRODUCT}/candles"
    wide = {"start": start, "end": start + 350 * 3600, "granularity": "ONE_HOUR"}
    assert local.control.get(path, params=wide).status_code == 400
    ok = {**wide, "end": start + 349 * 3600}
    answer = local.control.get(path, params=ok)
    assert answer.status_code == 200
    assert len(answer.json()["candles"]) == 350


# -- the CCXT adapter over the same class --------------------------------------------------------


@pytest.fixture
def adapter(ex: Any) -> CcxtAdapter:
    return CcxtAdapter(ex, config=CcxtAdapterConfig(backoff_s=0.0), sleep=lambda _: None)


def request(
    cid: str,
    side: OrderSide,
    *,
    size: str | None = None,
    quote: str | None = None,
    price: str | None = None,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        instrument=PRODUCT,
        side=side,
        type=OrderType.LIMIT if price else OrderType.MARKET,
        quantity=Decimal(size) if size else None,
        quote_quantity=Decimal(quote) if quote else None,
        limit_price=Decimal(price) if price else None,
    )


def test_the_adapter_is_an_exchange_adapter(adapter: CcxtAdapter) -> None:
    port: ExchangeAdapter = adapter
    assert port.name == "coinbase"


def test_instruments_have_decimal_increments(adapter: CcxtAdapter) -> None:
    btc = adapter.instruments()[PRODUCT]
    assert (btc.base, btc.quote) == ("BTC", "USD")
    assert btc.price_increment == Decimal("0.01")
    assert btc.size_increment == Decimal("0.00000001")
    assert btc.min_size == Decimal("0.00001")
    assert btc.min_notional == Decimal(1)


def test_limit_order_lifecycle_through_the_adapter(local: Local, adapter: CcxtAdapter) -> None:
    order = adapter.place_order(request("a-1", OrderSide.BUY, size="0.01", price="1000.00"))
    assert order.status is OrderStatus.OPEN
    assert order.client_order_id == "a-1"
    assert order.request.limit_price == Decimal("1000.00")
    assert [o.order_id for o in adapter.open_orders(PRODUCT)] == [order.order_id]
    assert adapter.get_order(order.order_id).status is OrderStatus.OPEN
    cancelled = adapter.cancel_order(order.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert adapter.cancel_order(order.order_id).status is OrderStatus.CANCELLED
    assert adapter.open_orders() == []


def test_fills_and_balances_are_decimal_and_match_the_venue(
    local: Local, adapter: CcxtAdapter
) -> None:
    buy = adapter.place_order(request("f-1", OrderSide.BUY, quote="250.00"))
    sell = adapter.place_order(request("f-2", OrderSide.SELL, size="0.003"))
    local.advance()
    assert adapter.get_order(buy.order_id).status is OrderStatus.FILLED
    filled = adapter.get_order(sell.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_quantity == Decimal("0.003")
    fills = adapter.list_fills()
    venue = {f["trade_id"]: f for f in local.record()["fills"]}
    assert {f.trade_id for f in fills} == set(venue)
    for fill in fills:
        assert fill.price == Decimal(venue[fill.trade_id]["price"])
        assert fill.quantity == Decimal(venue[fill.trade_id]["size"])
        assert fill.fee == Decimal(venue[fill.trade_id]["fee"])
        assert fill.client_order_id == venue[fill.trade_id]["client_order_id"]
    balances = adapter.balances()
    expected = {c: Decimal(v) for c, v in local.record()["balances"].items()}
    assert set(balances) == set(expected)
    for currency, amount in balances.items():
        assert isinstance(amount, Decimal)
        # ccxt parsed the balance into a float: exact to 15 digits, far inside an increment.
        assert abs(amount - expected[currency]) < Decimal("1e-10"), currency


def test_definite_refusals_become_rejected_orders(local: Local, adapter: CcxtAdapter) -> None:
    broke = adapter.place_order(request("r-1", OrderSide.BUY, size="100", price="20000.00"))
    assert broke.status is OrderStatus.REJECTED
    assert "InsufficientFunds" in (broke.reject_reason or "")
    tiny = adapter.place_order(request("r-2", OrderSide.BUY, size="0.000001", price="20000.00"))
    assert tiny.status is OrderStatus.REJECTED
    assert "below the minimum" in (tiny.reject_reason or "")
    assert local.record_orders("r-2") == []  # refused before sending


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "when": "after", "status_code": 503},
        {"kind": "drop", "when": "after"},
        {"kind": "malformed", "when": "after"},
        {"kind": "status", "when": "before", "status_code": 503},
        {"kind": "drop", "when": "before"},
    ],
    ids=["503-after", "drop-after", "malformed-after", "503-before", "drop-before"],
)
def test_a_lost_answer_is_resolved_by_client_order_id(
    local: Local, adapter: CcxtAdapter, fault: dict[str, object]
) -> None:
    local.fault(**fault)
    order = adapter.place_order(request("amb-1", OrderSide.BUY, size="0.01", price="1000.00"))
    assert order.status is OrderStatus.OPEN
    assert order.client_order_id == "amb-1"
    exchange_orders = local.record_orders("amb-1")
    assert [o["order_id"] for o in exchange_orders] == [order.order_id]


def test_an_exchange_that_never_answers_leaves_the_order_in_flight(
    local: Local, adapter: CcxtAdapter
) -> None:
    local.control.put(
        "/_control/faults",
        json={
            "faults": [
                {
                    "method": "POST",
                    "path": ORDERS,
                    "kind": "status",
                    "when": "before",
                    "status_code": 503,
                    "times": None,
                },
                {
                    "method": "GET",
                    "path": "/api/v3/brokerage/orders/historical/batch",
                    "kind": "status",
                    "when": "before",
                    "status_code": 503,
                    "times": None,
                },
            ]
        },
    )
    with pytest.raises(CcxtOrderOutcomeUnknownError, match="amb-2"):
        adapter.place_order(request("amb-2", OrderSide.BUY, size="0.01", price="1000.00"))
    assert local.record_orders("amb-2") == []
