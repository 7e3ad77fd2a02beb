"""Download candles page by page into a bar file the loader reads; resume where a file ends.

The source is anything with ccxt's `fetch_ohlcv(symbol, timeframe, since, limit)` (a ccxt
exchange, or a fake in tests). Each page starts one interval after the last bar received;
an empty page moves the window on by a page, so gaps at the exchange stay gaps. Only closed
bars are kept (a bar still forming at the clock's now is left for the next run). Every row
passes the loader's checks (order, grid, bad ticks) before anything is written, and the file
is replaced atomically every few pages: an interrupted download leaves a valid file, and a
second run reads it, continues after its last bar and ends with the same bytes as a run that
was never interrupted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from coinswarm.data.loader import load_bars, write_bars
from coinswarm.data.timefmt import format_timestamp, parse_interval
from coinswarm.data.validation import RawBars, check_grid, check_order, find_bad_ticks
from coinswarm.data.validation import quarantine_error as bad_tick_error
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.clock import Clock, WallClock
from coinswarm.domain.errors import DataError

__all__ = ["DownloadPlan", "DownloadResult", "OhlcvSource", "download_candles", "instrument_of"]

NS_PER_MS = 1_000_000


class OhlcvSource(Protocol):
    """What a download needs of an exchange: ccxt's `fetch_ohlcv`."""

    def fetch_ohlcv(
        self, symbol: str, timeframe: str = ..., since: int | None = ..., limit: int | None = ...
    ) -> list[list[Any]]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadPlan:
    """One download: which candles, from when to when (`until_ns` exclusive), to which file.

    `pause_s` is slept between pages (on top of ccxt's own rate limiter); `retry_on` lists the
    errors worth another try (ccxt's network errors), each retried up to `attempts` times with
    a doubling pause; `checkpoint_pages` is how often the file is rewritten.
    """

    symbol: str
    timeframe: str
    since_ns: int
    out: Path
    until_ns: int | None = None
    page_limit: int = 300
    pause_s: float = 0.0
    retry_on: tuple[type[BaseException], ...] = ()
    attempts: int = 5
    backoff_s: float = 1.0
    checkpoint_pages: int = 10

    def __post_init__(self) -> None:
        if self.page_limit < 1 or self.checkpoint_pages < 1 or self.attempts < 1:
            msg = "page_limit, checkpoint_pages and attempts must be at least 1"
            raise ValueError(msg)
        if self.until_ns is not None and self.until_ns <= self.since_ns:
            msg = (
                f"--until {format_timestamp(self.until_ns)} must be after "
                f"--since {format_timestamp(self.since_ns)}"
            )
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What a download did: bars already in the file, bars added, pages asked for."""

    path: Path
    kept: int
    added: int
    pages: int


def instrument_of(symbol: str) -> str:
    """Return Coinswarm's instrument name for an exchange pair: BTC/USD or BTC-USD -> BTC-USD."""
    parts = symbol.replace("/", "-").replace("_", "-").upper().split("-")
    if len(parts) != 2 or not all(parts):
        msg = f"pair: expected BASE/QUOTE like BTC/USD, found {symbol!r}"
        raise ValueError(msg)
    return "-".join(parts)


@dataclass(slots=True)
class _Rows:
    """Bars gathered so far, as plain columns."""

    ts: list[int] = field(default_factory=list)
    values: list[tuple[float, float, float, float, float]] = field(default_factory=list)

    def series(self, instrument: str, interval_ns: int) -> BarSeries:
        columns = np.array(self.values, dtype=np.float64).reshape(len(self.values), 5)
        return BarSeries(
            instrument,
            interval_ns,
            np.array(self.ts, dtype=np.int64),
            *(columns[:, i].copy() for i in range(5)),
        )


def _existing(plan: DownloadPlan, instrument: str, interval_ns: int) -> _Rows:
    rows = _Rows()
    if not plan.out.exists():
        return rows
    series = load_bars(plan.out, instrument=instrument, interval_ns=interval_ns)
    rows.ts = [int(t) for t in series.ts]
    columns = (series.open, series.high, series.low, series.close, series.volume)
    rows.values = list(zip(*(c.tolist() for c in columns), strict=True))
    return rows


def _candle(raw: Sequence[Any], where: str) -> tuple[int, tuple[float, float, float, float, float]]:
    if len(raw) < 6:
        msg = f"{where}: expected [time, open, high, low, close, volume], found {list(raw)!r}"
        raise DataError(msg)
    stamp, *values = raw[:6]
    if not isinstance(stamp, int | float) or any(not isinstance(v, int | float) for v in values):
        msg = f"{where}: expected numbers, found {list(raw)!r}"
        raise DataError(msg)
    o, h, lo, c, v = (float(x) for x in values)
    return int(stamp) * NS_PER_MS, (o, h, lo, c, v)


def _validate(rows: _Rows, start: int, plan: DownloadPlan, interval_ns: int) -> None:
    """Check the rows from index `start` on with the loader's rules, as the file holds them."""
    # CSV line numbers: the header is line 1, so row i is on line i + 2.
    lines = np.arange(2, len(rows.ts) + 2, dtype=np.int64)
    columns = np.array(rows.values, dtype=np.float64).reshape(len(rows.values), 5)
    raw = RawBars(
        path=str(plan.out),
        lines=lines,
        ts=np.array(rows.ts, dtype=np.int64),
        open=columns[:, 0],
        high=columns[:, 1],
        low=columns[:, 2],
        close=columns[:, 3],
        volume=columns[:, 4],
        raw_text=lambda i: f"{format_timestamp(rows.ts[i])},{rows.values[i]}",
    )
    check_order(raw)
    check_grid(raw, interval_ns)
    bad = [row for row in find_bad_ticks(raw) if row.line >= start + 2]
    if bad:
        raise bad_tick_error(str(plan.out), bad[0])


class _Pager:
    """Ask the source for pages with pauses and bounded retries."""

    def __init__(
        self, source: OhlcvSource, plan: DownloadPlan, sleep: Callable[[float], None]
    ) -> None:
        self._source = source
        self._plan = plan
        self._sleep = sleep
        self.pages = 0

    def page(self, since_ns: int) -> list[list[Any]]:
        plan = self._plan
        if self.pages and plan.pause_s > 0:
            self._sleep(plan.pause_s)
        self.pages += 1
        for attempt in range(plan.attempts):
            try:
                return self._source.fetch_ohlcv(
                    plan.symbol, plan.timeframe, since_ns // NS_PER_MS, plan.page_limit
                )
            except plan.retry_on:
                if attempt + 1 == plan.attempts:
                    raise
                self._sleep(plan.backoff_s * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _accept(
    page: list[list[Any]], rows: _Rows, since_ns: int, end_ns: int, interval_ns: int
) -> int:
    """Append the page's closed bars in [since, end); return the next `since`."""
    next_since = since_ns
    for index, raw in enumerate(page):
        ts, values = _candle(
            raw, f"fetch_ohlcv page from {format_timestamp(since_ns)}, row {index}"
        )
        if ts < since_ns or (rows.ts and ts <= rows.ts[-1]):
            continue  # an exchange may repeat the bar `since` points into
        if ts >= end_ns:
            break
        rows.ts.append(ts)
        rows.values.append(values)
        next_since = ts + interval_ns
    return next_since


def download_candles(
    source: OhlcvSource,
    plan: DownloadPlan,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_page: Callable[[int, int], None] | None = None,
) -> DownloadResult:
    """Download `plan`'s candles into `plan.out`, continuing after the bars it already holds."""
    interval_ns = parse_interval(plan.timeframe)
    instrument = instrument_of(plan.symbol)
    now_ns = (clock or WallClock()).now_ns()
    # Only closed bars: the one that opens within an interval of now is still forming.
    end_ns = min(plan.until_ns or now_ns - interval_ns + 1, now_ns - interval_ns + 1)
    rows = _existing(plan, instrument, interval_ns)
    kept = len(rows.ts)
    since = max(plan.since_ns, rows.ts[-1] + interval_ns if rows.ts else plan.since_ns)
    pager = _Pager(source, plan, sleep)
    written = kept
    while since < end_ns:
        before = len(rows.ts)
        page = pager.page(since)
        advanced = _accept(page, rows, since, end_ns, interval_ns)
        # An empty page is a gap (or no data yet): move the window on by one page.
        since = advanced if len(rows.ts) > before else since + plan.page_limit * interval_ns
        if on_page is not None:
            on_page(len(rows.ts), since)
        if pager.pages % plan.checkpoint_pages == 0 and len(rows.ts) > written:
            written = _write(rows, written, plan, instrument, interval_ns)
    if not rows.ts:
        window = f"{format_timestamp(plan.since_ns)} to {format_timestamp(end_ns)}"
        msg = f"{plan.symbol}: the exchange has no closed {plan.timeframe} candles from {window}"
        raise DataError(msg)
    if len(rows.ts) > written:
        _write(rows, written, plan, instrument, interval_ns)
    return DownloadResult(plan.out, kept, len(rows.ts) - kept, pager.pages)


def _write(rows: _Rows, written: int, plan: DownloadPlan, instrument: str, interval_ns: int) -> int:
    _validate(rows, written, plan, interval_ns)
    write_bars(rows.series(instrument, interval_ns), plan.out)
    return len(rows.ts)
