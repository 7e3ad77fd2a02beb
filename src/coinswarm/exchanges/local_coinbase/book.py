"""The order book the local exchange shows: the replay's touch plus this account's own orders.

The venue replays bars, so nobody else's orders exist. Its book is therefore made of two parts:
the market's touch, one level each side of the last revealed close (the bid is the close
rounded down to the price increment, the ask one increment above it, each as large as the
bar's volume), and every resting limit order of the account at its own price, as Coinbase
shows your own orders in its book. A marketable limit order rests until the next bar, so until
then it shows across the touch. Market trades are the bars themselves: one print per revealed
bar, at its close, as large as its volume.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderSide, OrderType
from coinswarm.exchanges.local_coinbase.convert import decimal_text, rfc3339

__all__ = ["Book", "Level", "market_trades", "order_book"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Level:
    """One price level: the price and the size resting there."""

    price: Decimal
    size: Decimal

    def json(self) -> dict[str, str]:
        return {"price": decimal_text(self.price), "size": decimal_text(self.size)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Book:
    """One product's book at the venue's time: bids best (highest) first, asks lowest first."""

    product_id: str
    bids: list[Level]
    asks: list[Level]
    last: Decimal | None
    time_ns: int

    def top(self, depth: int) -> Book:
        """Return the book cut to `depth` levels a side."""
        return Book(
            product_id=self.product_id,
            bids=self.bids[:depth],
            asks=self.asks[:depth],
            last=self.last,
            time_ns=self.time_ns,
        )

    def pricebook(self) -> dict[str, object]:
        """Return Coinbase's `pricebook` object."""
        return {
            "product_id": self.product_id,
            "bids": [level.json() for level in self.bids],
            "asks": [level.json() for level in self.asks],
            "time": rfc3339(self.time_ns),
        }

    def summary(self) -> dict[str, str]:
        """Return `last`, `mid_market`, `spread_bps` and `spread_absolute` ("" when unknown)."""
        last = decimal_text(self.last) if self.last is not None else ""
        if not self.bids or not self.asks:
            return {"last": last, "mid_market": "", "spread_bps": "", "spread_absolute": ""}
        bid, ask = self.bids[0].price, self.asks[0].price
        mid = (bid + ask) / 2
        spread = ask - bid
        bps = (spread / mid * 10_000).quantize(Decimal("0.01")) if mid > 0 else ZERO
        return {
            "last": last,
            "mid_market": decimal_text(mid),
            "spread_bps": decimal_text(bps),
            "spread_absolute": decimal_text(spread),
        }


def _touch(instrument: Instrument, last: Bar | None) -> tuple[Level | None, Level | None]:
    if last is None or not last.close > 0:
        return None, None
    close = Decimal(repr(last.close))
    tick = instrument.price_increment
    bid = (close / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
    size = instrument.round_size(Decimal(repr(max(last.volume, 0.0))))
    if size <= 0:
        return None, None
    return (Level(bid, size) if bid > 0 else None), Level(bid + tick, size)


def _own_levels(resting: Iterable[Order], side: OrderSide) -> dict[Decimal, Decimal]:
    sizes: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for order in resting:
        price, left = order.request.limit_price, order.remaining_quantity
        wanted = order.request.type is OrderType.LIMIT and order.side is side
        if wanted and price is not None and left is not None and left > 0:
            sizes[price] += left
    return sizes


def _side(touch: Level | None, own: dict[Decimal, Decimal], *, best_high: bool) -> list[Level]:
    sizes = dict(own)
    if touch is not None:
        sizes[touch.price] = sizes.get(touch.price, ZERO) + touch.size
    prices = sorted(sizes, reverse=best_high)
    return [Level(price, sizes[price]) for price in prices]


def order_book(
    instrument: Instrument, last: Bar | None, resting: Sequence[Order], *, now_ns: int
) -> Book:
    """Return the product's whole book: the replay's touch and the account's resting orders."""
    bid, ask = _touch(instrument, last)
    return Book(
        product_id=instrument.symbol,
        bids=_side(bid, _own_levels(resting, OrderSide.BUY), best_high=True),
        asks=_side(ask, _own_levels(resting, OrderSide.SELL), best_high=False),
        last=Decimal(repr(last.close)) if last is not None else None,
        time_ns=now_ns,
    )


def market_trades(
    revealed: BarSeries, *, limit: int, start_ns: int | None, end_ns: int | None
) -> list[dict[str, str]]:
    """Return the revealed bars in [start, end) as trades, newest first, at most `limit`."""
    window = revealed.between(start_ns, end_ns)
    trades = []
    for index in range(len(window) - 1, max(len(window) - 1 - limit, -1), -1):
        bar = window.bar(index)
        trades.append(
            {
                "trade_id": f"BAR-{bar.instrument}-{bar.ts}",
                "product_id": bar.instrument,
                "price": decimal_text(Decimal(repr(bar.close))),
                "size": decimal_text(Decimal(repr(bar.volume))),
                "time": rfc3339(bar.ts),
                "side": "BUY" if bar.close >= bar.open else "SELL",
                "bid": "",
                "ask": "",
                "exchange": "CBE",
            }
        )
    return trades
