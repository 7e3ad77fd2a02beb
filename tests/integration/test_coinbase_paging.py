"""Cursor paging against the local exchange on 127.0.0.1: every fill and order, exactly once.

The venue holds 650 fills in three bursts (each burst's fills share one timestamp, so page
boundaries fall between fills of the same time) and 970 orders, 320 of them open: more than
one page of everything. Our adapter, raw HTTP, ccxt and Coinbase's own SDK all walk it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from coinbase_harness import API, BTC_USD, PRODUCT, FakeTime, credentials, harness, make_venue
from coinswarm.domain.ledger import Ledger
from coinswarm.exchanges.ccxt_adapter import ExchangeSpec, make_exchange
from coinswarm.exchanges.coinbase import (
    CoinbaseAdapter,
    CoinbaseConfig,
    ExchangeDataError,
    RetryPolicy,
    connect,
)
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyRing,
    RunningServer,
    Venue,
    build_jwt,
    create_app,
    generate_key,
    make_tls_files,
    serve_in_thread,
)
from coinswarm.exchanges.local_coinbase import schemas as s
from coinswarm.execution.reconcile import DifferenceKind, reconcile

BURSTS = (300, 250, 100)  # market orders filled at one bar each: 650 fills
RESTING = 320  # limit orders far below the market: open
FILLS = API + "/orders/historical/fills"
ORDERS_LIST = API + "/orders/historical/batch"
T0_NS = 1_700_000_000 * 1_000_000_000


def place(venue: Venue, body: dict[str, Any]) -> str:
    answer = venue.place(s.CreateOrderRequest.model_validate(body))
    assert answer.success_response is not None, answer
    return answer.success_response.order_id


def market_buy(cid: str) -> dict[str, Any]:
    return {
        "client_order_id": cid,
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": "10"}},
    }


def resting_buy(cid: str) -> dict[str, Any]:
    return {
        "client_order_id": cid,
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.002", "limit_price": "1000"}},
    }


def busy_venue() -> Venue:
    """Return a venue with 650 fills in three one-timestamp bursts and 320 open orders."""
    venue = make_venue()
    for burst, count in enumerate(BURSTS):
        for n in range(count):
            place(venue, market_buy(f"m{burst}-{n}"))
        venue.advance()
    for n in range(RESTING):
        place(venue, resting_buy(f"r-{n}"))
    venue.advance()
    fills = venue.fills()
    assert len(fills) == sum(BURSTS)
    assert len({f.ts for f in fills}) == len(BURSTS)
    assert sum(o.is_live for o in venue.engine_orders()) == RESTING
    return venue


@dataclass
class Sent:
    """Each request the adapter sent: its path, query and the shared fake time it left at."""

    time: FakeTime
    requests: list[tuple[str, dict[str, list[str]], float]] = field(default_factory=list)

    def on_request(self, request: httpx.Request) -> None:
        query: dict[str, list[str]] = {}
        for name, value in request.url.params.multi_items():
            query.setdefault(name, []).append(value)
        self.requests.append((request.url.path, query, self.time.now))

    def to(self, path: str) -> list[dict[str, list[str]]]:
        return [query for p, query, _ in self.requests if p == path]


@dataclass
class Busy:
    server: RunningServer
    venue: Venue
    key: CdpKey
    time: FakeTime
    http: httpx.Client
    statuses: list[int] = field(default_factory=list)

    def adapter(self, per_second: float = 1000.0) -> tuple[CoinbaseAdapter, Sent]:
        sent = Sent(self.time)
        http = httpx.Client(
            base_url=self.server.base_url,
            timeout=10,
            event_hooks={
                "request": [sent.on_request],
                "response": [lambda r: self.statuses.append(r.status_code)],
            },
        )
        config = CoinbaseConfig(
            base_url=self.server.base_url,
            requests_per_second=per_second,
            retry=RetryPolicy(backoff_base_s=0.01),
        )
        adapter = connect(
            credentials(self.key),
            config,
            monotonic=self.time.monotonic,
            sleep=self.time.sleep,
            rng=random.Random(3),
            http=http,
        )
        return adapter, sent

    def get(self, path: str, **params: Any) -> httpx.Response:
        """Send one signed GET of our own, to read pages exactly as the exchange serves them."""
        bearer = build_jwt(self.key, f"GET {self.server.host}{path}", now_s=int(time.time()))
        headers = {"Authorization": f"Bearer {bearer}"}
        return self.http.get(path, params=params, headers=headers)

    def read(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def walk(self, path: str, items: str, **params: Any) -> list[dict[str, Any]]:
        """Return every page of a listing, following the cursor to its end."""
        pages = [self.read(path, **params)]
        while pages[-1]["cursor"]:
            pages.append(self.read(path, **params, cursor=pages[-1]["cursor"]))
            assert len(pages) < 1000, "the listing does not end"
        assert all(len(page[items]) <= params.get("limit", 1000) for page in pages)
        return pages


@contextmanager
def serve_busy(private_per_second: float) -> Iterator[Busy]:
    """Serve a busy venue whose rate limit runs on the same fake time as the adapter's."""
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    fake = FakeTime()
    venue = busy_venue()
    app = create_app(venue, keys, monotonic=fake.monotonic, private_per_second=private_per_second)
    with serve_in_thread(app) as server, httpx.Client(base_url=server.base_url) as http:
        yield Busy(server, venue, key, fake, http)


@pytest.fixture
def busy() -> Iterator[Busy]:
    # Our own raw reads do not move the fake time, so the server's limit stays out of the way.
    with serve_busy(private_per_second=1e9) as served:
        yield served


def newest_first_trade_ids(venue: Venue) -> list[str]:
    return [f.trade_id for f in venue.fills()]


# -- the adapter ----------------------------------------------------------------------------


def test_list_fills_returns_all_650_exactly_once_in_three_pages(busy: Busy) -> None:
    adapter, sent = busy.adapter()
    with adapter:
        fills = adapter.list_fills()
    trade_ids = [f.trade_id for f in fills]
    assert len(trade_ids) == len(set(trade_ids)) == 650
    assert set(trade_ids) == set(newest_first_trade_ids(busy.venue))
    pages = sent.to(FILLS)
    assert [q.get("limit") for q in pages] == [["250"]] * 3
    assert "cursor" not in pages[0]
    assert all(q["cursor"] for q in pages[1:])
    assert {f.client_order_id for f in fills} == {
        f"m{b}-{n}" for b, c in enumerate(BURSTS) for n in range(c)
    }


def test_list_fills_since_a_burst_keeps_that_burst_whole(busy: Busy) -> None:
    second_burst_ts = sorted({f.ts for f in busy.venue.fills()})[1]
    adapter, sent = busy.adapter()
    with adapter:
        fills = adapter.list_fills(since_ts=second_burst_ts)
    assert len({f.trade_id for f in fills}) == len(fills) == 250 + 100
    assert min(f.ts for f in fills) == second_burst_ts
    assert len(sent.to(FILLS)) == 2


def test_open_orders_and_lookups_reach_past_the_first_page(busy: Busy) -> None:
    live = {o.order_id for o in busy.venue.engine_orders() if o.is_live}
    adapter, sent = busy.adapter()
    with adapter:
        listed = adapter.open_orders()
        oldest = adapter.find_order("m0-0")  # the first order ever: on the last page
    assert len(listed) == len({o.order_id for o in listed}) == RESTING
    assert {o.order_id for o in listed} == live
    assert oldest is not None
    assert oldest.client_order_id == "m0-0"
    open_pages = [q for q in sent.to(ORDERS_LIST) if q.get("order_status") == ["OPEN"]]
    assert len(open_pages) == 2  # 250 + 70
    assert len(sent.to(ORDERS_LIST)) - len(open_pages) == 4  # 970 orders, 250 a page


def test_every_page_waits_its_turn_in_the_rate_limit() -> None:
    with serve_busy(private_per_second=4) as busy:
        adapter, sent = busy.adapter(per_second=4)
        with adapter:
            fills = adapter.list_fills()
    assert len(fills) == 650
    assert 429 not in busy.statuses  # the server, on the same clock, never had to refuse
    times = [t for _, _, t in sent.requests]
    # The fills' pages and the order lookups for their client ids: far more than 4 requests,
    # and still never more than 4 in any one second.
    assert len(times) > 12
    assert max(len([u for u in times if t <= u < t + 1.0]) for t in times) == 4


def test_reconcile_with_every_fill_in_the_ledger_is_clean(busy: Busy) -> None:
    ledger = Ledger({PRODUCT: BTC_USD}, "USD")
    ledger.deposit("USD", Decimal(100_000), T0_NS)
    ledger.deposit("BTC", Decimal(1), T0_NS)
    for fill in reversed(busy.venue.fills()):
        assert ledger.record(fill)
    orders = {o.order_id: o for o in busy.venue.engine_orders() if o.is_live}
    adapter, _ = busy.adapter()
    with adapter:
        report = reconcile(adapter, ledger, orders, instruments={PRODUCT: BTC_USD}, ts=T0_NS)
    assert report.clean, report.lines()
    assert len(ledger.fills) == 650


def test_reconcile_finds_a_fill_missing_from_the_oldest_page(busy: Busy) -> None:
    ledger = Ledger({PRODUCT: BTC_USD}, "USD")
    ledger.deposit("USD", Decimal(100_000), T0_NS)
    ledger.deposit("BTC", Decimal(1), T0_NS)
    oldest, *rest = reversed(busy.venue.fills())
    for fill in rest:
        ledger.record(fill)
    # Every order is ours and known, so the one difference is the fill itself.
    orders = {o.order_id: o for o in busy.venue.engine_orders()}
    adapter, _ = busy.adapter()
    with adapter:
        report = reconcile(adapter, ledger, orders, instruments={PRODUCT: BTC_USD}, ts=T0_NS)
    assert [(d.kind, d.subject) for d in report.differences] == [
        (DifferenceKind.MISSING_LOCAL_FILL, oldest.trade_id)
    ]
    assert not report.trading_paused


# -- the pages as the exchange serves them -----------------------------------------------------


@pytest.mark.parametrize("size", [23, 250, 299, 300, 301])
def test_pages_inside_one_timestamp_lose_none_and_repeat_none(busy: Busy, size: int) -> None:
    pages = busy.walk(FILLS, "fills", limit=size)
    listed = [f["trade_id"] for page in pages for f in page["fills"]]
    assert listed == newest_first_trade_ids(busy.venue)
    assert all(len(page["fills"]) == size for page in pages[:-1])
    assert pages[-1]["cursor"] == ""
    assert all("has_next" not in page for page in pages)  # fills carry only the cursor


def test_order_pages_say_has_next_until_the_last(busy: Busy) -> None:
    pages = busy.walk(ORDERS_LIST, "orders", limit=100)
    assert [page["has_next"] for page in pages] == [True] * 9 + [False]
    listed = [o["order_id"] for page in pages for o in page["orders"]]
    assert len(listed) == len(set(listed)) == sum(BURSTS) + RESTING
    created = [o["created_time"] for page in pages for o in page["orders"]]
    assert created == sorted(created, reverse=True)
    assert listed[-1] == busy.venue.engine_orders()[0].order_id


def test_fills_arriving_during_a_walk_do_not_shift_it(busy: Busy) -> None:
    before = newest_first_trade_ids(busy.venue)
    first = busy.read(FILLS, limit=100)
    for n in range(5):
        place(busy.venue, market_buy(f"late-{n}"))
    busy.venue.advance()
    pages = [first]
    while pages[-1]["cursor"]:
        pages.append(busy.read(FILLS, limit=100, cursor=pages[-1]["cursor"]))
    assert [f["trade_id"] for page in pages for f in page["fills"]] == before
    again = [f["trade_id"] for page in busy.walk(FILLS, "fills", limit=100) for f in page["fills"]]
    assert len(again) == 655
    assert again[5:] == before


def test_filters_hold_on_every_page(busy: Busy) -> None:
    opened = busy.walk(ORDERS_LIST, "orders", order_status="OPEN", product_id=PRODUCT, limit=64)
    assert len(opened) == 5
    assert {o["status"] for page in opened for o in page["orders"]} == {"OPEN"}
    assert sum(len(page["orders"]) for page in opened) == RESTING
    filled = busy.walk(ORDERS_LIST, "orders", order_status=["FILLED"], limit=250)
    assert sum(len(page["orders"]) for page in filled) == sum(BURSTS)
    elsewhere = busy.get(ORDERS_LIST, product_ids=["ETH-USD"]).json()
    assert (elsewhere["orders"], elsewhere["has_next"], elsewhere["cursor"]) == ([], False, "")


def test_a_time_span_is_inclusive_at_the_start_and_exclusive_at_the_end(busy: Busy) -> None:
    times = sorted({f["trade_time"] for f in busy.get(FILLS).json()["fills"]})
    middle = busy.walk(
        FILLS,
        "fills",
        start_sequence_timestamp=times[1],
        end_sequence_timestamp=times[2],
        limit=40,
    )
    assert {f["trade_time"] for page in middle for f in page["fills"]} == {times[1]}
    assert sum(len(page["fills"]) for page in middle) == BURSTS[1]
    created = sorted({o["created_time"] for o in busy.get(ORDERS_LIST).json()["orders"]})
    late = busy.walk(ORDERS_LIST, "orders", start_date=created[-1], limit=100)
    assert sum(len(page["orders"]) for page in late) == RESTING  # placed at the last bar


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (FILLS, {"limit": 0}, "limit"),
        (ORDERS_LIST, {"limit": -1}, "limit"),
        (FILLS, {"cursor": "not-a-cursor"}, "cursor"),
        (FILLS, {"sort_by": "PRICE"}, "sort_by"),
        (ORDERS_LIST, {"sort_by": "LIMIT_PRICE"}, "sort_by"),
        (FILLS, {"start_sequence_timestamp": "yesterday"}, "start_sequence_timestamp"),
        (ORDERS_LIST, {"end_date": "2024-02-30T00:00:00Z"}, "end_date"),
    ],
)
def test_a_page_no_one_could_serve_is_a_400(
    busy: Busy, path: str, params: dict[str, Any], field: str
) -> None:
    response = busy.get(path, **params)
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_ARGUMENT"
    assert response.json()["message"].startswith(f"{field}:")


def test_the_newest_first_sort_may_be_named(busy: Busy) -> None:
    page = busy.get(FILLS, sort_by="TRADE_TIME", limit=3).json()
    assert [f["trade_id"] for f in page["fills"]] == newest_first_trade_ids(busy.venue)[:3]


# -- a server whose cursor never ends ------------------------------------------------------------


def test_a_cursor_that_comes_back_is_refused_not_followed_forever() -> None:
    key = generate_key()
    for h in harness(key):
        body = {"fills": [], "cursor": "42"}
        h.fault(method="GET", path=FILLS, kind="status", status_code=200, body=body, times=None)
        assert h.adapter.list_fills() == []  # an empty page ends a fill listing
        page = {"orders": [], "has_next": True, "cursor": "42"}
        h.fault(
            method="GET", path=ORDERS_LIST, kind="status", status_code=200, body=page, times=None
        )
        with pytest.raises(ExchangeDataError) as caught:
            h.adapter.open_orders()
        assert caught.value.field == "cursor"
        assert "'42' again" in str(caught.value)
        assert len([p for _, p, _ in h.wire.sent if p == ORDERS_LIST]) == 2


def test_has_next_without_a_cursor_is_untrustworthy() -> None:
    key = generate_key()
    for h in harness(key):
        page = {"orders": [], "has_next": True, "cursor": ""}
        h.fault(method="GET", path=ORDERS_LIST, kind="status", status_code=200, body=page)
        with pytest.raises(ExchangeDataError, match="expected a cursor when has_next is true"):
            h.adapter.open_orders()
        assert h.adapter.trading_paused


# -- ccxt and the official SDK, over HTTPS -----------------------------------------------------


@pytest.fixture
def busy_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Busy, Path]]:
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_cert))  # the SDK's requests session
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    app = create_app(busy_venue(), keys)
    venue = app.state.services.venue
    with serve_in_thread(app, tls=tls) as server, httpx.Client(base_url=server.base_url) as http:
        yield Busy(server, venue, key, FakeTime(), http), tls.ca_cert


def test_ccxt_paginates_every_trade_and_open_order_once(busy_tls: tuple[Busy, Path]) -> None:
    busy, ca = busy_tls
    spec = ExchangeSpec(
        exchange_id="coinbase",
        url=busy.server.base_url,
        ca_file=ca,
        api_key=busy.key.name,
        secret=busy.key.private_key_pem,
        rate_limit=False,
    )
    exchange = make_exchange(spec)
    try:
        exchange.load_markets()
        trades = exchange.fetch_my_trades("BTC/USD", since=0, params={"paginate": True})
        opened = exchange.fetch_open_orders("BTC/USD", since=0, params={"paginate": True})
    finally:
        exchange.session.close()
    assert len(trades) == len({t["id"] for t in trades}) == 650
    assert {t["id"] for t in trades} == set(newest_first_trade_ids(busy.venue))
    assert len(opened) == len({o["id"] for o in opened}) == RESTING


def test_the_official_sdk_follows_the_cursors(busy_tls: tuple[Busy, Path]) -> None:
    from coinbase.rest import RESTClient  # noqa: PLC0415 - only this test needs the SDK

    busy, _ = busy_tls
    sdk = RESTClient(
        api_key=busy.key.name,
        api_secret=busy.key.private_key_pem,
        base_url=busy.server.host,
        timeout=10,
    )
    try:
        trade_ids: list[str] = []
        cursor = None
        while True:
            fills = sdk.get_fills(product_ids=[PRODUCT], limit=200, cursor=cursor)
            trade_ids += [f.trade_id for f in fills.fills]
            cursor = fills.cursor
            if not cursor:
                break
        orders: list[str] = []
        cursor = None
        while True:
            page = sdk.list_orders(order_status=["OPEN"], limit=150, cursor=cursor)
            orders += [o.order_id for o in page.orders]
            if not page.has_next:
                break
            cursor = page.cursor
    finally:
        sdk.session.close()
    assert trade_ids == newest_first_trade_ids(busy.venue)
    assert len(orders) == len(set(orders)) == RESTING
