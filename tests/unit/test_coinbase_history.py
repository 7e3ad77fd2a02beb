"""Warm-up history over httpx's in-memory transport: paging, closed candles only, refusals.

The exchange here is a small candles endpoint that answers like Coinbase (newest first, the
buckets whose start lies in `[start, end]`); a test spoils it to play a misbehaving exchange.
The same function runs against the local exchange in
tests/integration/test_coinbase_history_local.py.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from coinswarm.domain.bar import NS_PER_SECOND
from coinswarm.domain.clock import WallClock
from coinswarm.exchanges.coinbase import (
    CdpCredentials,
    ExchangeDataError,
    ExchangeRequestError,
    TokenBucket,
    TokenSigner,
)
from coinswarm.exchanges.coinbase.history import MAX_CANDLES, fetch_history
from coinswarm.exchanges.coinbase.rest import RestClient

HOUR_S = 3600
T0_S = 1_700_000_000 // HOUR_S * HOUR_S  # on the hour
PATH = "/api/v3/brokerage/products/BTC-USD/candles"

Candle = dict[str, str]


def candle(start_s: int, close: float = 100.0, **fields: str) -> Candle:
    body = {
        "start": str(start_s),
        "low": repr(close - 10),
        "high": repr(close + 10),
        "open": repr(close),
        "close": repr(close),
        "volume": "1.5",
    }
    return {**body, **fields}


class Exchange:
    """The candles endpoint: honours start, end and limit, newest first, like Coinbase."""

    def __init__(self, candles: list[Candle]) -> None:
        self.candles = candles
        self.asked: list[dict[str, str]] = []
        self.spoil: Callable[[list[Candle], dict[str, str]], list[Candle]] = lambda c, _: c

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == PATH
        query = dict(request.url.params)
        self.asked.append(query)
        start, end = int(query["start"]), int(query["end"])
        window = [c for c in self.candles if start <= int(c["start"]) <= end]
        newest = sorted(window, key=lambda c: -int(c["start"]))[: int(query["limit"])]
        return httpx.Response(200, json={"candles": self.spoil(newest, query)})


def rest(handler: Callable[[httpx.Request], httpx.Response]) -> RestClient:
    http = httpx.Client(base_url="https://api.example.test", transport=httpx.MockTransport(handler))
    credentials = CdpCredentials("k", ec.generate_private_key(ec.SECP256R1()))
    return RestClient(
        http,
        TokenSigner(credentials, WallClock()),
        bucket=TokenBucket(1000, monotonic=lambda: 0.0, sleep=lambda _: None),
        rng=random.Random(1),
        sleep=lambda _: None,
    )


def hours(n: int) -> list[Candle]:
    """Return `n` hourly candles from T0 with distinct closes."""
    return [candle(T0_S + i * HOUR_S, close=1000.0 + i) for i in range(n)]


def fetch(exchange: Exchange, *, bars: int, end_s: int, **kw: Any):
    (series,) = fetch_history(
        rest(exchange), ["BTC-USD"], bars=bars, end_ts=end_s * NS_PER_SECOND, **kw
    )
    return series


def starts(series) -> list[int]:
    return [int(t) // NS_PER_SECOND for t in series.ts]


# -- the window and its pages ------------------------------------------------------------------


def test_800_bars_are_read_in_three_pages_that_tile_the_window_newest_first() -> None:
    exchange = Exchange(hours(1000))
    end_s = T0_S + 1000 * HOUR_S  # every candle has closed by then
    series = fetch(exchange, bars=800, end_s=end_s)
    assert starts(series) == [T0_S + i * HOUR_S for i in range(200, 1000)]
    assert list(series.close) == [1000.0 + i for i in range(200, 1000)]
    assert series.interval_ns == HOUR_S * NS_PER_SECOND
    pages = [(int(q["start"]), int(q["end"]), int(q["limit"])) for q in exchange.asked]
    assert [limit for *_, limit in pages] == [350, 350, 100]
    for start, end, limit in pages:
        assert (end - start) // HOUR_S + 1 == limit <= MAX_CANDLES  # never more than 350 buckets
        assert end % HOUR_S == HOUR_S - 1  # stops one second before the next bucket
    assert [p[0] for p in pages] == sorted((p[0] for p in pages), reverse=True)
    # No overlap and no hole: each page ends the second before the newer one starts.
    assert all(newer[0] == older[1] + 1 for newer, older in itertools.pairwise(pages))
    assert {q["granularity"] for q in exchange.asked} == {"ONE_HOUR"}


def test_the_candle_still_forming_is_dropped_even_when_the_exchange_sends_it() -> None:
    exchange = Exchange(hours(10))
    exchange.spoil = lambda c, _: [candle(T0_S + 9 * HOUR_S, close=5000.0), *c]  # ignores `end`
    end_s = T0_S + 9 * HOUR_S + 1800  # half way through the tenth hour
    series = fetch(exchange, bars=5, end_s=end_s)
    assert starts(series) == [T0_S + i * HOUR_S for i in range(4, 9)]
    assert 5000.0 not in list(series.close)


def test_a_bucket_that_ends_exactly_at_end_ts_has_closed() -> None:
    series = fetch(Exchange(hours(10)), bars=3, end_s=T0_S + 10 * HOUR_S)
    assert starts(series)[-1] == T0_S + 9 * HOUR_S


def test_gaps_stay_gaps_and_a_short_history_gives_fewer_bars() -> None:
    candles = [c for i, c in enumerate(hours(20)) if i not in (5, 6, 12)]
    series = fetch(Exchange(candles), bars=50, end_s=T0_S + 20 * HOUR_S)
    expected = [T0_S + i * HOUR_S for i in range(20) if i not in (5, 6, 12)]
    assert starts(series) == expected
    assert len(series) == 17


def test_candles_before_start_are_left_to_their_own_page_and_counted_once() -> None:
    exchange = Exchange(hours(700))

    def with_earlier(page: list[Candle], query: dict[str, str]) -> list[Candle]:
        earlier = [c for c in exchange.candles if int(c["start"]) < int(query["start"])]
        return page + earlier[-20:]  # Coinbase's docs: some candles may precede `start`

    exchange.spoil = with_earlier
    series = fetch(exchange, bars=700, end_s=T0_S + 700 * HOUR_S)
    assert starts(series) == [T0_S + i * HOUR_S for i in range(700)]


def test_the_same_candle_twice_is_kept_once_but_two_different_ones_are_refused() -> None:
    exchange = Exchange(hours(5))
    exchange.spoil = lambda c, _: c + c
    assert len(fetch(exchange, bars=5, end_s=T0_S + 5 * HOUR_S)) == 5
    exchange.spoil = lambda c, _: [*c, candle(T0_S + 2 * HOUR_S, close=99.0)]
    with pytest.raises(ExchangeDataError, match=r"two different candles for 2023-11-15T00:00:00Z"):
        fetch(exchange, bars=5, end_s=T0_S + 5 * HOUR_S)


def test_several_products_come_back_in_the_order_asked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        price = "200" if "ETH-USD" in request.url.path else "100"
        start = int(request.url.params["start"])
        body = candle(start, open=price, close=float(price), low=price, high=price)
        return httpx.Response(200, json={"candles": [body]})

    eth, btc = fetch_history(
        rest(handler), ["ETH-USD", "BTC-USD"], bars=1, end_ts=(T0_S + HOUR_S) * NS_PER_SECOND
    )
    assert (eth.instrument, list(eth.close)) == ("ETH-USD", [200.0])
    assert (btc.instrument, list(btc.close)) == ("BTC-USD", [100.0])


# -- what is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoiled", "field", "found"),
    [
        ({"open": "NaN"}, "open", "'NaN'"),
        ({"close": "Infinity"}, "close", "'Infinity'"),
        ({"low": "0"}, "low", "'0'"),
        ({"high": "-5"}, "high", "'-5'"),
        ({"low": "abc"}, "low", "'abc'"),
        ({"volume": "-0.1"}, "volume", "'-0.1'"),
        ({"high": "95", "low": "96", "open": "95", "close": "95"}, "high", "'95'"),
        ({"open": "120"}, "open", "'120'"),
        ({"close": "80"}, "close", "'80'"),
    ],
)
def test_a_bad_candle_is_refused_naming_product_time_and_field(
    spoiled: dict[str, str], field: str, found: str
) -> None:
    exchange = Exchange(hours(5))
    exchange.spoil = lambda c, _: [
        {**x, **spoiled} if x["start"] == str(T0_S + 3 * HOUR_S) else x for x in c
    ]
    with pytest.raises(ExchangeDataError) as caught:
        fetch(exchange, bars=5, end_s=T0_S + 5 * HOUR_S)
    error = caught.value
    assert error.route == f"GET {PATH}"
    assert error.field == f"candles.1.{field}"  # newest first: the fourth hour is second
    assert error.problem.startswith("BTC-USD candle at 2023-11-15T01:00:00Z: expected ")
    assert error.problem.endswith(f"found {found}")


def test_a_start_off_the_grid_is_refused() -> None:
    exchange = Exchange(hours(3))
    exchange.spoil = lambda c, _: [{**c[0], "start": str(T0_S + 2 * HOUR_S + 60)}]
    with pytest.raises(ExchangeDataError, match=r"candles\.0\.start.*3600-second grid"):
        fetch(exchange, bars=3, end_s=T0_S + 3 * HOUR_S)


def test_a_refused_request_is_an_error_not_an_empty_history() -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "INVALID_ARGUMENT", "message": "granularity"})

    with pytest.raises(ExchangeRequestError, match=r"candles: expected HTTP 200, found HTTP 400"):
        fetch_history(rest(handler), ["BTC-USD"], bars=3, end_ts=T0_S * NS_PER_SECOND)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"bars": 0}, r"bars: expected at least 1"),
        ({"bars": 3, "granularity": "ONE_WEEK"}, r"granularity: expected one of ONE_MINUTE"),
    ],
)
def test_a_request_that_makes_no_sense_is_refused_before_asking(
    kw: dict[str, Any], message: str
) -> None:
    exchange = Exchange(hours(3))
    with pytest.raises(ValueError, match=message):
        fetch_history(rest(exchange), ["BTC-USD"], end_ts=T0_S * NS_PER_SECOND, **kw)
    assert exchange.asked == []


def test_other_granularities_page_on_their_own_grid() -> None:
    day_s = 86_400
    t0 = T0_S // day_s * day_s
    exchange = Exchange([candle(t0 + i * day_s) for i in range(400)])
    series = fetch(exchange, bars=400, end_s=t0 + 400 * day_s, granularity="ONE_DAY")
    assert len(series) == 400
    assert series.interval_ns == day_s * NS_PER_SECOND
    assert [int(q["limit"]) for q in exchange.asked] == [350, 50]
    assert {q["granularity"] for q in exchange.asked} == {"ONE_DAY"}
