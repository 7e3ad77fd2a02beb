"""The CCXT adapter lists every fill, page after page, exactly as the local exchange holds it.

ccxt's `coinbase` class answers one page of `GET /orders/historical/fills` and hands the
response's cursor back in the first trade's `info`; the adapter follows it until the exchange
says there is no more. The local exchange on 127.0.0.1 pages newest first by that cursor.
Numbers arrive whole (ccxt keeps them as text), and an order ccxt's class would change (a
base-sized market buy, which it turns into a quote amount) is refused before it is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from coinbase_harness import BTC_USD, PRODUCT
from coinswarm.data import synthetic_market
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.ccxt_adapter import CcxtAdapter, CcxtAdapterConfig, make_exchange
from coinswarm.exchanges.ccxt_adapter.factory import ExchangeSpec
from coinswarm.exchanges.local_coinbase import (
    KeyRing,
    Venue,
    create_app,
    generate_key,
    make_tls_files,
    serve_in_thread,
)

FILLS = "/api/v3/brokerage/orders/historical/fills"
FEE_BPS = Decimal("63")  # 0.0063: cent price x satoshi size x it has 14 decimals, 17 digits


@dataclass
class Local:
    venue: Venue
    adapter: CcxtAdapter
    urls: list[str] = field(default_factory=list)

    def seen(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.urls.append(response.url)

    def fill_pages(self) -> list[dict[str, list[str]]]:
        """Return the query of each fill listing request, in order."""
        return [parse_qs(urlsplit(url).query) for url in self.urls if urlsplit(url).path == FILLS]

    def sell(self, cid: str, size: str) -> None:
        self.trade(cid, OrderSide.SELL, size)

    def trade(self, cid: str, side: OrderSide, size: str, limit: str | None = None) -> Order:
        request = OrderRequest(
            client_order_id=cid,
            instrument=PRODUCT,
            side=side,
            type=OrderType.MARKET if limit is None else OrderType.LIMIT,
            quantity=Decimal(size),
            limit_price=None if limit is None else Decimal(limit),
        )
        return self.adapter.place_order(request)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    series = synthetic_market(instrument=PRODUCT, bars=800, seed=11, start_price=20_000.0)
    venue = Venue(
        {PRODUCT: BTC_USD},
        [series],
        balances={"USD": Decimal(100_000), "BTC": Decimal(1)},
        fill_model=FillModel(fees=FeeSchedule.flat(FEE_BPS)),
        reveal=400,
    )
    tls = make_tls_files(tmp_path)
    with serve_in_thread(create_app(venue, keys), tls=tls) as server:
        spec = ExchangeSpec(
            exchange_id="coinbase",
            url=server.base_url,
            ca_file=tls.ca_cert,
            api_key=key.name,
            secret=key.private_key_pem,
            rate_limit=False,
        )
        exchange = make_exchange(spec)
        config = CcxtAdapterConfig(backoff_s=0.0, fills_page_size=2)
        adapter = CcxtAdapter(exchange, config=config, sleep=lambda _: None)
        found = Local(venue, adapter)
        exchange.session.hooks["response"].append(found.seen)
        yield found
        exchange.session.close()


def _exact(local: Local) -> dict[str, tuple[Any, ...]]:
    return {
        f.trade_id: (f.order_id, f.side, f.quantity, f.price, f.fee, f.ts)
        for f in local.venue.fills()
    }


def test_every_fill_is_listed_across_pages(local: Local) -> None:
    for n in range(7):
        local.sell(f"s-{n}", f"0.00{n + 1}")
    local.venue.advance()
    local.urls.clear()
    fills = local.adapter.list_fills()
    listed = {f.trade_id: (f.order_id, f.side, f.quantity, f.price, f.fee, f.ts) for f in fills}
    assert len(listed) == 7
    assert listed == _exact(local)
    assert [f.client_order_id for f in fills] == sorted(f.client_order_id for f in fills)
    pages = local.fill_pages()
    assert [page.get("limit") for page in pages] == [["2"]] * 4  # 2 + 2 + 2 + 1
    assert "cursor" not in pages[0]
    cursors = [page["cursor"][0] for page in pages[1:]]
    assert len(set(cursors)) == 3, "each page after the first follows a new cursor"


def test_fills_since_a_time_are_listed_across_pages_and_no_older(local: Local) -> None:
    for n in range(3):
        local.sell(f"early-{n}", "0.001")
    local.venue.advance()
    for n in range(5):
        local.sell(f"late-{n}", "0.002")
    late = local.venue.advance()
    since = late[0].ts
    fills = local.adapter.list_fills(since_ts=since)
    assert {f.client_order_id for f in fills} == {f"late-{n}" for n in range(5)}
    assert all(f.ts >= since for f in fills)
    assert len(local.adapter.list_fills()) == 8


def test_fees_longer_than_a_float_arrive_whole(local: Local) -> None:
    """ccxt is told to keep numbers as text: a fee of 17 digits is not rounded by a float."""
    sizes = ("0.98765431", "0.87654321", "0.76543219", "0.65432198")
    for n, size in enumerate(sizes):
        local.trade(f"long-fee-{n}", OrderSide.BUY, size, limit="30000.00")  # marketable
    venue_fills = local.venue.advance()
    assert any(Decimal(repr(float(f.fee))) != f.fee for f in venue_fills), (
        "some fee should have more digits than a float holds, or this proves nothing"
    )
    fills = local.adapter.list_fills()
    assert {f.trade_id: (f.quantity, f.fee) for f in fills} == {
        f.trade_id: (f.quantity, f.fee) for f in venue_fills
    }


def test_a_base_sized_market_buy_is_refused_before_sending(local: Local) -> None:
    """ccxt's coinbase class would send it as a quote amount: a different order."""
    local.urls.clear()
    order = local.trade("base-buy", OrderSide.BUY, "0.01")
    assert order.status is OrderStatus.REJECTED
    assert "sized in quote" in (order.reject_reason or "")
    assert not any(urlsplit(url).path == "/api/v3/brokerage/orders" for url in local.urls)
    assert local.venue.orders() == []
    sold = local.trade("base-sell", OrderSide.SELL, "0.01")
    assert sold.status is OrderStatus.OPEN
