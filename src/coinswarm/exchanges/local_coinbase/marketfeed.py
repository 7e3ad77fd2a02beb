"""Market-data events for the websocket: ticker, candles and a synthetic level-2 book per bar.

The replay has bars, not an order book, so the book is made up around each bar's close: the
best bid and ask one tick either side, further levels spread over half the bar's range, sizes
from its volume. It is deterministic, so a test can predict every level.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from coinswarm.domain.bar import Bar
from coinswarm.domain.instrument import Instrument
from coinswarm.exchanges.local_coinbase import convert

__all__ = ["DEPTH", "Book", "book_updates", "candle_event", "synthetic_book", "ticker_event"]

DEPTH = 5
"""Levels on each side of the synthetic book."""

Book = dict[tuple[str, Decimal], Decimal]
"""(side, price) -> size, with side "bid" or "offer" as Coinbase's `l2_data` names them."""


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


def _text(value: float) -> str:
    return convert.decimal_text(_dec(value))


def synthetic_book(bar: Bar, instrument: Instrument) -> Book:
    """Return a small book around the bar's close, on the product's price and size grid."""
    tick, lot = instrument.price_increment, instrument.size_increment
    close = _dec(bar.close)
    step = max((_dec(bar.high) - _dec(bar.low)) / 2 / DEPTH, tick)
    base_size = max(_dec(bar.volume) / (DEPTH * 10), lot)
    book: Book = {}
    for level in range(DEPTH):
        distance = tick + step * level
        size = ((base_size * (level + 1)) / lot).to_integral_value(ROUND_FLOOR) * lot
        bid = ((close - distance) / tick).to_integral_value(ROUND_FLOOR) * tick
        ask = ((close + distance) / tick).to_integral_value(ROUND_CEILING) * tick
        # A cheap product's far bids would go to zero or below; a book has none there.
        if bid > 0:
            book["bid", bid] = size
        book["offer", ask] = size
    return book


def _best(book: Book, side: str) -> tuple[Decimal, Decimal]:
    prices = [price for (s, price) in book if s == side]
    if not prices:
        return Decimal(0), Decimal(0)
    best = max(prices) if side == "bid" else min(prices)
    return best, book[side, best]


def ticker_event(bar: Bar, instrument: Instrument, kind: str) -> dict[str, Any]:
    """Return a `ticker` event for one bar: the price is its close."""
    bid, bid_size = _best(synthetic_book(bar, instrument), "bid")
    ask, ask_size = _best(synthetic_book(bar, instrument), "offer")
    change = (_dec(bar.close) / _dec(bar.open) - 1) * 100 if bar.open else Decimal(0)
    ticker = {
        "type": "ticker",
        "product_id": bar.instrument,
        "price": _text(bar.close),
        "volume_24_h": _text(bar.volume),
        "low_24_h": _text(bar.low),
        "high_24_h": _text(bar.high),
        "low_52_w": _text(bar.low),
        "high_52_w": _text(bar.high),
        "price_percent_chg_24_h": convert.decimal_text(change.quantize(Decimal("0.00000001"))),
        "best_bid": convert.decimal_text(bid),
        "best_bid_quantity": convert.decimal_text(bid_size),
        "best_ask": convert.decimal_text(ask),
        "best_ask_quantity": convert.decimal_text(ask_size),
    }
    return {"type": kind, "tickers": [ticker]}


def candle_event(bar: Bar, kind: str) -> dict[str, Any]:
    """Return a `candles` event for one bar: UNIX seconds and string values, as in REST."""
    candle = convert.candle(bar).model_dump(mode="json")
    return {"type": kind, "candles": [{**candle, "product_id": bar.instrument}]}


def book_updates(before: Book, after: Book, event_time: str) -> list[dict[str, str]]:
    """Return the `l2_data` updates that turn `before` into `after` (size "0": level gone)."""
    changed = {key: size for key, size in after.items() if before.get(key) != size}
    gone = {key: Decimal(0) for key in before if key not in after}
    return [
        {
            "side": side,
            "event_time": event_time,
            "price_level": convert.decimal_text(price),
            "new_quantity": convert.decimal_text(size),
        }
        for (side, price), size in sorted({**changed, **gone}.items())
    ]
