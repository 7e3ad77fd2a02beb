"""Warm-up history: the closed candles before a session starts, read from Coinbase REST.

A strategy needs bars before its first live decision. `GET /products/{id}/candles` answers at
most 350 candles a request, newest first, for the buckets whose start lies in `[start, end]`,
so a longer window is read backwards in pages of at most 350 buckets. Each page asks for
`end = last bucket start + granularity - 1`: whether the exchange counts `end` in or out, the
page then holds exactly its buckets and never the next page's.

What comes back is what the exchange proved: only candles that had closed by `end_ts` (the
one still forming is dropped, since its close will change), oldest first, each bucket once,
and a bucket the exchange sent nothing for stays a gap, never forward-filled. A candle that
cannot be a market price (not a number, NaN, zero or negative, high below low, a start off the
granularity's grid) is refused with `ExchangeDataError` naming the product, the time and the
field: warm-up data a strategy would trust must not be guessed at.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from coinswarm.data.timefmt import format_timestamp
from coinswarm.domain.bar import NS_PER_SECOND, Bar, BarSeries
from coinswarm.exchanges.coinbase.errors import ExchangeDataError, ExchangeRequestError
from coinswarm.exchanges.coinbase.rest import Reply

__all__ = ["GRANULARITY_S", "MAX_CANDLES", "CandleSource", "fetch_history"]

GRANULARITY_S: Mapping[str, int] = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
"""Coinbase's granularity names and the seconds each bucket lasts.

The local exchange keeps its own copy on purpose: client and exchange check each other."""

MAX_CANDLES = 350
"""Coinbase answers at most this many candles in one request."""

_PRICES = ("open", "high", "low", "close")


class CandleSource(Protocol):
    """Send a signed, paced GET under `/api/v3/brokerage`: `rest.RestClient` is one."""

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, priority: bool = False
    ) -> Reply: ...


class _Candle(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    start: str
    low: str
    high: str
    open: str
    close: str
    volume: str


class _CandlesResponse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    candles: list[_Candle]


def fetch_history(
    source: CandleSource,
    products: Sequence[str],
    *,
    bars: int,
    end_ts: int,
    granularity: str = "ONE_HOUR",
) -> list[BarSeries]:
    """Return, per product, the closed candles of the `bars` buckets before `end_ts`.

    `end_ts` (UTC nanoseconds, usually now) decides what is closed: a bucket whose end is
    after it is still forming and left out. The window is counted in buckets, not candles, so
    a product with gaps or a shorter history returns fewer than `bars` bars.
    """
    step_s = GRANULARITY_S.get(granularity)
    if step_s is None:
        msg = f"granularity: expected one of {', '.join(GRANULARITY_S)}, found {granularity!r}"
        raise ValueError(msg)
    if bars < 1:
        msg = f"bars: expected at least 1 bar of history, found {bars}"
        raise ValueError(msg)
    step = step_s * NS_PER_SECOND
    # The bucket holding `end_ts` ends after it, so the last closed one starts a step earlier.
    last = end_ts // step * step - step
    first = last - (bars - 1) * step
    return [
        _history(source, product, first, last, granularity=granularity, step=step)
        for product in products
    ]


def _history(
    source: CandleSource, product: str, first: int, last: int, *, granularity: str, step: int
) -> BarSeries:
    found: dict[int, Bar] = {}
    for lo, hi in _pages(first, last, step):
        for bar in _page(source, product, lo, hi, granularity=granularity, step=step):
            known = found.setdefault(bar.ts, bar)
            if known != bar:
                route = f"GET {_path(product)}"
                problem = (
                    f"{product}: two different candles for {format_timestamp(bar.ts)}: "
                    f"{known} and {bar}"
                )
                raise ExchangeDataError(route, "candles.start", problem)
    return BarSeries.from_bars(product, step, [found[ts] for ts in sorted(found)])


def _pages(first: int, last: int, step: int) -> Iterator[tuple[int, int]]:
    """Yield the window's pages newest first, each `(first, last)` bucket start inclusive."""
    hi = last
    while hi >= first:
        lo = max(first, hi - (MAX_CANDLES - 1) * step)
        yield lo, hi
        hi = lo - step


def _page(
    source: CandleSource, product: str, lo: int, hi: int, *, granularity: str, step: int
) -> list[Bar]:
    step_s = step // NS_PER_SECOND
    params = {
        "start": str(lo // NS_PER_SECOND),
        "end": str(hi // NS_PER_SECOND + step_s - 1),
        "granularity": granularity,
        "limit": (hi - lo) // step + 1,
    }
    reply = source.get(_path(product), params)
    if reply.status != 200:
        msg = f"{reply.route}: expected HTTP 200, found {reply.error_text()}"
        raise ExchangeRequestError(msg)
    candles = reply.parse(_CandlesResponse).candles
    bars = [_bar(product, c, reply.route, f"candles.{i}", step) for i, c in enumerate(candles)]
    # The exchange may add candles outside the window (docs: some may precede `start`);
    # those belong to another page, or are the one still forming.
    return [bar for bar in bars if lo <= bar.ts <= hi]


def _path(product: str) -> str:
    return f"/products/{product}/candles"


@dataclass(frozen=True, slots=True)
class _At:
    """Where one candle came from, so that a refusal names the product, time and field."""

    product: str
    route: str
    where: str
    ts: int

    def refuse(self, field: str, expected: str, found: str) -> ExchangeDataError:
        moment = format_timestamp(self.ts)
        problem = f"{self.product} candle at {moment}: expected {expected}, found {found}"
        return ExchangeDataError(self.route, f"{self.where}.{field}", problem)


def _bar(product: str, candle: _Candle, route: str, where: str, step: int) -> Bar:
    """Return one candle as a bar, or raise naming the product, the time and the field."""
    if not candle.start.isdigit() or int(candle.start) * NS_PER_SECOND % step:
        problem = (
            f"{product}: expected a bucket start in UNIX seconds on the "
            f"{step // NS_PER_SECOND}-second grid, found {candle.start!r}"
        )
        raise ExchangeDataError(route, f"{where}.start", problem)
    at = _At(product, route, where, int(candle.start) * NS_PER_SECOND)
    o, h, lo, c = (_number(at, f, getattr(candle, f), positive=True) for f in _PRICES)
    volume = _number(at, "volume", candle.volume, positive=False)
    if h < lo:
        raise at.refuse("high", f"high >= low {candle.low}", repr(candle.high))
    for field, value in (("open", o), ("close", c)):
        if not lo <= value <= h:
            expected = f"a price within low {candle.low} and high {candle.high}"
            raise at.refuse(field, expected, repr(getattr(candle, field)))
    return Bar(product, at.ts, float(o), float(h), float(lo), float(c), float(volume))


def _number(at: _At, field: str, text: str, *, positive: bool) -> Decimal:
    wanted = "a positive finite number" if positive else "a non-negative finite number"
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise at.refuse(field, wanted, repr(text)) from None
    if not value.is_finite() or value < 0 or (positive and value == 0):
        raise at.refuse(field, wanted, repr(text))
    return value
