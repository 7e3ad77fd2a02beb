"""Turn the websocket's market data into closed domain bars.

Coinbase's `candles` channel sends the candle in progress again and again as it changes; a
candle is final only once a candle with a later start arrives. `CandleFeed` keeps the latest
version of the open candle per product and emits it then, in time order; a candle older than
the open one (a duplicate, a replay after a reconnect) is dropped. For a stream with no
candles, `TickerFeed` builds bars from `ticker` prices with `data.bar_builder`.

Bad values (NaN, infinite, zero or negative prices, high below low, negative volume) are
quarantined: never emitted, kept in `quarantined` with the field at fault.
"""

from __future__ import annotations

from decimal import Decimal

from coinswarm.data.bar_builder import BarBuilder, parse_tick
from coinswarm.domain.bar import NS_PER_SECOND, Bar
from coinswarm.domain.errors import DataError
from coinswarm.exchanges.coinbase.ws_events import Candle, CandleUpdate, TickerUpdate

__all__ = ["CandleFeed", "TickerFeed", "candle_bar"]

SOURCE = "websocket candles"


def _price(text: str, field: str, *, positive: bool = True) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise DataError(f"expected a number, found {text!r}", path=SOURCE, field=field) from None
    if not value.is_finite() or value < 0 or (positive and value == 0):
        wanted = "a positive" if positive else "a non-negative"
        raise DataError(
            f"expected {wanted} finite number, found {text!r}", path=SOURCE, field=field
        )
    return value


def candle_bar(candle: Candle) -> Bar:
    """Return one candle as a bar, or raise `DataError` naming the bad field."""
    if not candle.start.isdigit():
        problem = f"expected UNIX seconds, found {candle.start!r}"
        raise DataError(problem, path=SOURCE, field="start")
    o, h, lo, c = (_price(getattr(candle, f), f) for f in ("open", "high", "low", "close"))
    volume = _price(candle.volume, "volume", positive=False)
    if h < max(o, c, lo) or lo > min(o, c):
        problem = f"expected low <= open, close <= high, found o={o} h={h} l={lo} c={c}"
        raise DataError(problem, path=SOURCE, field="high")
    ts = int(candle.start) * NS_PER_SECOND
    return Bar(candle.product_id, ts, float(o), float(h), float(lo), float(c), float(volume))


class CandleFeed:
    """Emit each product's candles as closed bars, once, oldest first."""

    def __init__(self) -> None:
        self._open: dict[str, Bar] = {}
        self._emitted: dict[str, int] = {}
        self.quarantined: list[DataError] = []

    def on_candles(self, update: CandleUpdate) -> list[Bar]:
        """Take one `candles` message; return the bars it closed."""
        closed: list[Bar] = []
        for candle in sorted(update.candles, key=lambda c: (c.product_id, int(c.start or 0))):
            try:
                bar = candle_bar(candle)
            except DataError as error:
                self.quarantined.append(error)
                continue
            closed.extend(self._take(bar))
        return sorted(closed, key=lambda b: (b.ts, b.instrument))

    def _take(self, bar: Bar) -> list[Bar]:
        product = bar.instrument
        if bar.ts <= self._emitted.get(product, -1):
            return []  # already final and emitted: a duplicate or a replay
        current = self._open.get(product)
        if current is not None and bar.ts < current.ts:
            return []  # older than the candle in progress: it was superseded
        self._open[product] = bar
        if current is None or current.ts == bar.ts:
            return []
        self._emitted[product] = current.ts
        return [current]


class TickerFeed:
    """Build bars of `interval_ns` from `ticker` prices, for streams without candles.

    A ticker carries no trade size, so these bars have no volume.
    """

    def __init__(self, interval_ns: int) -> None:
        self._interval_ns = interval_ns
        self._builders: dict[str, BarBuilder] = {}
        self.quarantined: list[DataError] = []

    def on_ticker(self, update: TickerUpdate, ts: int) -> list[Bar]:
        """Take one `ticker` message sent at `ts` (the envelope's time); return closed bars."""
        closed: list[Bar] = []
        for ticker in update.tickers:
            try:
                tick = parse_tick(ticker.product_id, ts, ticker.price, source="websocket ticker")
            except DataError as error:
                self.quarantined.append(error)
                continue
            builder = self._builders.get(ticker.product_id)
            if builder is None:
                builder = self._builders[ticker.product_id] = BarBuilder(
                    ticker.product_id, self._interval_ns
                )
            closed.extend(builder.add(tick))
        return closed
