"""Coinbase's official SDK and ccxt, unchanged, on the routes that used to answer 404.

Both talk HTTPS to the local exchange on 127.0.0.1 with its CA trusted; nothing else about
them is changed. The book they read is the replay's touch plus the account's own orders.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from coinbase_harness import PRODUCT, make_venue
from coinswarm.exchanges.ccxt_adapter import ExchangeSpec, make_exchange
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


@dataclass
class Local:
    server: RunningServer
    venue: Venue
    key: CdpKey
    ca: Path
    control: httpx.Client

    def advance(self) -> None:
        assert self.control.post("/_control/advance", json={"bars": 1}).status_code == 200


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Local]:
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_cert))  # the SDK's requests session
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    venue = make_venue(reveal=5)
    app = create_app(venue, keys, control_api=True)
    trust = ssl.create_default_context(cafile=str(tls.ca_cert))
    with (
        serve_in_thread(app, tls=tls) as server,
        httpx.Client(base_url=server.base_url, verify=trust, timeout=10) as control,
    ):
        yield Local(server, venue, key, tls.ca_cert, control)


@pytest.fixture
def sdk(local: Local) -> Iterator[Any]:
    from coinbase.rest import RESTClient  # noqa: PLC0415 - only these tests need the SDK

    client = RESTClient(
        api_key=local.key.name,
        api_secret=local.key.private_key_pem,
        base_url=local.server.host,
        timeout=10,
    )
    yield client
    client.session.close()


@pytest.fixture
def ex(local: Local) -> Iterator[Any]:
    spec = ExchangeSpec(
        exchange_id="coinbase",
        url=local.server.base_url,
        ca_file=local.ca,
        api_key=local.key.name,
        secret=local.key.private_key_pem,
        rate_limit=False,
    )
    exchange = make_exchange(spec)
    exchange.load_markets()
    yield exchange
    exchange.session.close()


def levels(side: Any) -> list[tuple[str, str]]:
    return [(level["price"], level["size"]) for level in side]


def last_close(local: Local) -> Decimal:
    bar = local.venue.last_bar(PRODUCT)
    assert bar is not None
    return Decimal(repr(bar.close))


# -- the official SDK --------------------------------------------------------------------------


def test_sdk_get_account_returns_the_listed_account(sdk: Any) -> None:
    listed = {a.uuid: a for a in sdk.get_accounts().accounts}
    for uuid, account in listed.items():
        one = sdk.get_account(uuid).account
        assert (one.currency, one.available_balance) == (
            account.currency,
            account.available_balance,
        )
    try:
        sdk.get_account("no-such-account")
    except requests.HTTPError as error:
        status = error.response.status_code
    else:
        pytest.fail("an unknown account was found")
    assert status == 404


def test_sdk_product_book_has_the_touch_and_my_resting_order(local: Local, sdk: Any) -> None:
    placed = sdk.limit_order_gtc_buy("book-1", PRODUCT, base_size="0.01", limit_price="1000.00")
    assert placed.success is True
    book = sdk.get_product_book(PRODUCT, limit=5).pricebook
    bids = [(Decimal(level["price"]), Decimal(level["size"])) for level in book.bids]
    asks = [Decimal(level["price"]) for level in book.asks]
    close = last_close(local)
    assert bids[0][0] <= close < asks[0]
    assert asks[0] - bids[0][0] == Decimal("0.01")
    assert (Decimal(1000), Decimal("0.01")) in bids
    assert [price for price, _ in bids] == sorted((price for price, _ in bids), reverse=True)
    public = sdk.get_public_product_book(PRODUCT, limit=1).pricebook
    assert levels(public.bids) == levels(book.bids)[:1]
    assert levels(public.asks) == levels(book.asks)[:1]


def test_sdk_best_bid_ask_is_the_top_of_the_book(sdk: Any) -> None:
    books = sdk.get_best_bid_ask(product_ids=[PRODUCT]).pricebooks
    assert [b.product_id for b in books] == [PRODUCT]
    full = sdk.get_product_book(PRODUCT).pricebook
    assert levels(books[0].bids) == levels(full.bids)[:1]
    assert levels(books[0].asks) == levels(full.asks)[:1]


def test_sdk_market_trades_are_the_revealed_bars_newest_first(local: Local, sdk: Any) -> None:
    trades = sdk.get_market_trades(PRODUCT, limit=3)
    revealed = local.venue.revealed(PRODUCT)
    assert revealed is not None
    closes = [Decimal(repr(float(c))) for c in revealed.close[::-1][:3]]
    assert [Decimal(t.price) for t in trades.trades] == closes
    assert Decimal(trades.best_bid) < Decimal(trades.best_ask)
    public = sdk.get_public_market_trades(PRODUCT, limit=1)
    assert [t.trade_id for t in public.trades] == [trades.trades[0].trade_id]


def test_sdk_edit_order_changes_price_and_size_keeping_the_id(local: Local, sdk: Any) -> None:
    placed = sdk.limit_order_gtc_buy("edit-1", PRODUCT, base_size="0.01", limit_price="1000.00")
    order_id = placed.success_response["order_id"]
    preview = sdk.preview_edit_order(order_id, size="0.02", price="1500.00")
    assert preview.errors == []
    assert Decimal(preview.base_size) == Decimal("0.02")
    assert (
        sdk.get_order(order_id).order.order_configuration.limit_limit_gtc.limit_price == "1000.00"
    )
    edited = sdk.edit_order(order_id, size="0.02", price="1500.00")
    assert edited.success is True
    order = sdk.get_order(order_id).order
    assert order.status == "OPEN"
    config = order.order_configuration.limit_limit_gtc
    assert (Decimal(config.base_size), Decimal(config.limit_price)) == (Decimal("0.02"), 1500)
    usd = next(a for a in sdk.get_accounts().accounts if a.currency == "USD")
    assert Decimal(usd.hold["value"]) > Decimal(30)  # 0.02 at 1,500 is now held, fees on top
    # An edit to a marketable price fills on the next bar, as a new order would.
    assert sdk.edit_order(order_id, price="90000.00").success is True
    local.advance()
    assert sdk.get_order(order_id).order.status == "FILLED"
    refused = sdk.edit_order(order_id, price="1000.00")
    assert refused.success is False
    assert refused.errors[0].edit_failure_reason == "ONLY_OPEN_ORDERS_CAN_BE_EDITED"


def test_sdk_edit_beyond_the_funds_is_refused_and_changes_nothing(sdk: Any) -> None:
    placed = sdk.limit_order_gtc_buy("edit-2", PRODUCT, base_size="0.01", limit_price="1000.00")
    order_id = placed.success_response["order_id"]
    refused = sdk.edit_order(order_id, size="1000")
    assert refused.success is False
    assert refused.errors[0].preview_failure_reason == "PREVIEW_INSUFFICIENT_FUND"
    config = sdk.get_order(order_id).order.order_configuration.limit_limit_gtc
    assert config.base_size == "0.01"


def test_sdk_edit_of_an_unknown_or_refused_order_is_order_not_found(local: Local, sdk: Any) -> None:
    refused = sdk.limit_order_gtc_buy("broke", PRODUCT, base_size="100", limit_price="20000.00")
    assert refused.success is False
    (engine_order,) = local.venue.engine_orders()  # the engine keeps the refused order
    refused_id = engine_order.order_id
    for order_id in ("no-such-order", refused_id):
        answer = sdk.edit_order(order_id, price="1000.00")
        assert answer.success is False
        assert answer.errors[0].edit_failure_reason == "ORDER_NOT_FOUND"


def test_sdk_preview_order_estimates_and_places_nothing(local: Local, sdk: Any) -> None:
    preview = sdk.preview_market_order_buy(PRODUCT, quote_size="100")
    assert preview.errs == []
    total = Decimal(preview.order_total)
    assert Decimal(99) < total <= Decimal(100)
    broke = sdk.preview_limit_order_gtc_buy(PRODUCT, base_size="100", limit_price="20000.00")
    assert broke.errs == ["PREVIEW_INSUFFICIENT_FUND"]
    assert local.venue.engine_orders() == []


def test_sdk_portfolios_and_breakdown(local: Local, sdk: Any) -> None:
    portfolios = sdk.get_portfolios().portfolios
    assert [p.type for p in portfolios] == ["DEFAULT"]
    breakdown = sdk.get_portfolio_breakdown(portfolios[0].uuid).breakdown
    assets = {p.asset: p for p in breakdown.spot_positions}
    assert set(assets) == {"BTC", "USD"}
    assert assets["USD"].total_balance_fiat == 100_000
    worth = Decimal(100_000) + last_close(local)  # 1 BTC at the last close
    assert Decimal(breakdown.portfolio_balances["total_balance"]["value"]) == worth
    assert sum(p.allocation for p in assets.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda sdk: sdk.get_futures_balance_summary(),
        lambda sdk: sdk.list_perps_positions("p"),
        lambda sdk: sdk.create_convert_quote("USD", "BTC", "10"),
        lambda sdk: sdk.list_payment_methods(),
        lambda sdk: sdk.create_portfolio("second"),
        lambda sdk: sdk.close_position("c-1", PRODUCT),
    ],
    ids=["futures", "perps", "convert", "payment-methods", "new-portfolio", "close-position"],
)
def test_sdk_calls_without_meaning_here_are_a_clear_400(sdk: Any, call: Any) -> None:
    # Read the answer inside `except`: an ExceptionInfo kept to the end of the test would keep
    # the SDK's frames, and with them its connection, open past the server's shutdown.
    try:
        call(sdk)
    except requests.HTTPError as error:
        status, body = error.response.status_code, error.response.json()
    else:
        pytest.fail("the SDK call succeeded")
    assert status == 400
    assert body["error"] == "UNSUPPORTED"


# -- ccxt's coinbase class ---------------------------------------------------------------------


def test_ccxt_fetch_ticker_reads_the_last_close_and_the_touch(local: Local, ex: Any) -> None:
    ticker = ex.fetch_ticker(SYMBOL)
    close = last_close(local)
    assert Decimal(repr(ticker["last"])) == close
    assert ticker["bid"] <= ticker["last"] < ticker["ask"]


def test_ccxt_fetch_order_book_and_bids_asks(ex: Any) -> None:
    ex.create_order(SYMBOL, "limit", "sell", 0.01, 90_000.0, {"client_order_id": "ask-1"})
    book = ex.fetch_order_book(SYMBOL, limit=10)
    assert book["symbol"] == SYMBOL
    assert book["bids"][0][0] < book["asks"][0][0]
    assert [90_000.0, 0.01] in book["asks"]
    tops = ex.fetch_bids_asks([SYMBOL])
    assert tops[SYMBOL]["bid"] == book["bids"][0][0]


def test_ccxt_fetch_trades_and_edit_order(ex: Any) -> None:
    trades = ex.fetch_trades(SYMBOL, limit=2)
    assert len(trades) == 2
    created = ex.create_order(SYMBOL, "limit", "buy", 0.01, 1000.0, {"client_order_id": "e-1"})
    ex.edit_order(created["id"], SYMBOL, "limit", "buy", 0.02, 1200.0)
    fetched = ex.fetch_order(created["id"], SYMBOL)
    assert (fetched["amount"], fetched["price"]) == (0.02, 1200.0)
