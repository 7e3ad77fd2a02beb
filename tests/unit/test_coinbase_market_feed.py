"""Candles and tickers from the websocket become closed bars, once each, bad values quarantined."""

from __future__ import annotations

from coinswarm.domain.bar import Bar
from coinswarm.exchanges.coinbase.market_feed import CandleFeed, TickerFeed
from coinswarm.exchanges.coinbase.ws_events import Candle, CandleUpdate, Ticker, TickerUpdate

S = 1_000_000_000
T0 = 1_700_000_100


def candle(start: int, close: str, *, high: str = "110", low: str = "90") -> Candle:
    return Candle(
        product_id="BTC-USD",
        start=str(start),
        open="100",
        high=high,
        low=low,
        close=close,
        volume="2",
    )


def update(*candles: Candle) -> CandleUpdate:
    return CandleUpdate("update", candles)


def test_a_candle_is_emitted_once_a_later_one_starts_with_its_last_version() -> None:
    feed = CandleFeed()
    assert feed.on_candles(CandleUpdate("snapshot", (candle(T0, "101"),))) == []
    assert feed.on_candles(update(candle(T0, "105"))) == []
    closed = feed.on_candles(update(candle(T0 + 300, "99")))
    assert closed == [Bar("BTC-USD", T0 * S, 100.0, 110.0, 90.0, 105.0, 2.0)]


def test_duplicates_and_replays_of_closed_candles_are_dropped() -> None:
    feed = CandleFeed()
    feed.on_candles(update(candle(T0, "101")))
    feed.on_candles(update(candle(T0 + 300, "102")))
    assert feed.on_candles(update(candle(T0, "101"))) == []
    assert feed.on_candles(update(candle(T0 + 300, "102"))) == []
    closed = feed.on_candles(update(candle(T0 + 600, "103")))
    assert [b.ts for b in closed] == [(T0 + 300) * S]


def test_bad_candles_are_quarantined_never_emitted() -> None:
    feed = CandleFeed()
    feed.on_candles(update(candle(T0, "101")))
    bad = [candle(T0 + 300, "NaN"), candle(T0 + 300, "-1"), candle(T0 + 300, "95", high="80")]
    for item in bad:
        assert feed.on_candles(update(item)) == []
    assert [e.field for e in feed.quarantined] == ["close", "close", "high"]
    assert [b.ts for b in feed.on_candles(update(candle(T0 + 300, "95")))] == [T0 * S]


def test_tickers_build_bars_when_no_candles_stream() -> None:
    feed = TickerFeed(60 * S)
    prices = [(T0 * S, "100"), ((T0 + 10) * S, "104"), ((T0 + 20) * S, "0"), ((T0 + 60) * S, "1")]
    closed: list[Bar] = []
    for ts, price in prices:
        closed += feed.on_ticker(
            TickerUpdate("update", (Ticker(product_id="BTC-USD", price=price),)), ts
        )
    start = T0 // 60 * 60 * S
    assert closed == [Bar("BTC-USD", start, 100.0, 104.0, 100.0, 104.0, 0.0)]
    assert [e.field for e in feed.quarantined] == ["price"]
