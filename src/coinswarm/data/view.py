"""The time-fenced view of the market that strategies read.

A strategy asks for history and gets numpy arrays that end at the latest bar the clock has
reached. They are read-only views of buffers that hold nothing beyond that bar: later slots are
NaN until the clock gets there, so even `array.base` shows no future. Buffers are filled lazily,
so a strategy that never asks for history costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from coinswarm.domain.bar import Bar, BarSeries

__all__ = ["FIELDS", "GrowingMarket", "MarketView", "fenced_view"]

FIELDS = ("open", "high", "low", "close", "volume")
FIRST_CAPACITY = 1024


class _Columns(Protocol):
    """What the view reads from: parallel columns, at least as long as the bars reached."""

    @property
    def ts(self) -> npt.NDArray[np.int64]: ...
    @property
    def open(self) -> npt.NDArray[np.float64]: ...
    @property
    def high(self) -> npt.NDArray[np.float64]: ...
    @property
    def low(self) -> npt.NDArray[np.float64]: ...
    @property
    def close(self) -> npt.NDArray[np.float64]: ...
    @property
    def volume(self) -> npt.NDArray[np.float64]: ...


class MarketView:
    """Bars of every instrument up to the clock's now, and not one bar further."""

    __slots__ = ("_buffers", "_filled", "_index", "_revealed", "_series")

    def __init__(self, market: Mapping[str, _Columns]) -> None:
        self._series: dict[str, _Columns] = dict(market)
        self._index = {symbol: i for i, symbol in enumerate(self._series)}
        self._revealed = [0] * len(self._series)  # bars the clock has reached, per instrument
        self._filled = dict.fromkeys(self._series, 0)
        self._buffers: dict[str, dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]] = {}

    @property
    def instruments(self) -> tuple[str, ...]:
        return tuple(self._series)

    def count(self, instrument: str) -> int:
        """Return how many bars of `instrument` the clock has reached."""
        return self._revealed[self._index[instrument]]

    def history(
        self, instrument: str, field: str = "close", n: int | None = None
    ) -> npt.NDArray[np.float64]:
        """Return the last `n` values of `field` (all so far when `n` is None), oldest first."""
        column = self._column(instrument, field)
        end = self.count(instrument)
        start = 0 if n is None else max(0, end - n)
        return column[start:end]  # type: ignore[return-value]

    def timestamps(self, instrument: str, n: int | None = None) -> npt.NDArray[np.int64]:
        """Return the open times of the last `n` bars so far, in UTC nanoseconds."""
        column = self._column(instrument, "ts")
        end = self.count(instrument)
        start = 0 if n is None else max(0, end - n)
        return column[start:end]  # type: ignore[return-value]

    def _column(
        self, instrument: str, field: str
    ) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
        if field not in FIELDS and field != "ts":
            msg = f"expected a field among {(*FIELDS, 'ts')}, found {field!r}"
            raise KeyError(msg)
        buffers = self._buffers.setdefault(instrument, {})
        column = buffers.get(field)
        if column is None:
            column = buffers[field] = self._new_buffer(instrument, field)
        self._catch_up(instrument)
        view = buffers[field][:]  # catching up may have grown the buffer
        view.flags.writeable = False
        return view

    def _new_buffer(
        self, instrument: str, field: str
    ) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
        source = getattr(self._series[instrument], field)
        column = np.zeros(len(source), np.int64) if field == "ts" else np.full(len(source), np.nan)
        filled = self._filled[instrument]
        column[:filled] = source[:filled]
        return column

    def _catch_up(self, instrument: str) -> None:
        end = self.count(instrument)
        start = self._filled[instrument]
        if start >= end:
            return
        series = self._series[instrument]
        buffers = self._buffers[instrument]
        for field in list(buffers):
            source = getattr(series, field)
            if len(buffers[field]) < len(source):  # a live market grew: so does its buffer
                buffers[field] = self._new_buffer(instrument, field)
            buffers[field][start:end] = source[start:end]
        self._filled[instrument] = end

    def _reveal(self, position: int, count: int) -> None:
        self._revealed[position] = count

    def _replace(self, instrument: str, columns: _Columns) -> None:
        self._series[instrument] = columns


def fenced_view(market: Mapping[str, BarSeries]) -> tuple[MarketView, Callable[[int, int], None]]:
    """Return a view for strategies and the function only the engine uses to move its fence.

    The mover takes an instrument's position in `market` and the number of its bars reached.
    """
    view = MarketView(market)
    return view, view._reveal  # the engine is the one holder of this capability


class _Growing:
    """Columns of one instrument that a live feed appends to; NaN beyond the last bar."""

    __slots__ = ("close", "count", "high", "low", "open", "ts", "volume")

    def __init__(self, capacity: int) -> None:
        self.count = 0
        self.ts = np.zeros(capacity, np.int64)
        self.open, self.high, self.low, self.close, self.volume = (
            np.full(capacity, np.nan) for _ in FIELDS
        )

    def grown(self) -> _Growing:
        bigger = _Growing(2 * len(self.ts))
        bigger.count = self.count
        for field in ("ts", *FIELDS):
            getattr(bigger, field)[: self.count] = getattr(self, field)[: self.count]
        return bigger


class GrowingMarket:
    """The market of a live session: history first, then each bar as the feed delivers it.

    Strategies read it through the same fenced `MarketView` as in a backtest; the future is
    not in the buffers because it has not happened yet.
    """

    def __init__(self, instruments: Sequence[str], history: Mapping[str, BarSeries]) -> None:
        self._columns: dict[str, _Growing] = {}
        self._intervals: dict[str, int] = {}
        for symbol in instruments:
            past = history.get(symbol)
            columns = _Growing(max(FIRST_CAPACITY, 2 * len(past) if past is not None else 0))
            if past is not None and len(past):
                for field in ("ts", *FIELDS):
                    getattr(columns, field)[: len(past)] = getattr(past, field)
                columns.count = len(past)
                self._intervals[symbol] = past.interval_ns
            self._columns[symbol] = columns
        self._position = {symbol: i for i, symbol in enumerate(self._columns)}
        self.view = MarketView(self._columns)
        for symbol, columns in self._columns.items():
            self.view._reveal(self._position[symbol], columns.count)

    def count(self, instrument: str) -> int:
        return self._columns[instrument].count

    def append(self, bar: Bar) -> None:
        """Add `bar` after the last one of its instrument; refuse one that is not newer."""
        columns = self._columns.get(bar.instrument)
        if columns is None:
            msg = f"a bar of {bar.instrument!r}, which this session does not trade"
            raise KeyError(msg)
        if columns.count and bar.ts <= int(columns.ts[columns.count - 1]):
            msg = (
                f"{bar.instrument}: expected a bar after {int(columns.ts[columns.count - 1])}, "
                f"found one at {bar.ts}"
            )
            raise ValueError(msg)
        if columns.count == len(columns.ts):
            columns = self._columns[bar.instrument] = columns.grown()
            self.view._replace(bar.instrument, columns)
        index = columns.count
        columns.ts[index] = bar.ts
        columns.open[index], columns.high[index], columns.low[index] = bar.open, bar.high, bar.low
        columns.close[index], columns.volume[index] = bar.close, bar.volume
        columns.count = index + 1
        self.view._reveal(self._position[bar.instrument], columns.count)

    def series(self, instrument: str, interval_ns: int) -> BarSeries:
        """Return a copy of the bars so far, as a series for metrics and reports."""
        columns = self._columns[instrument]
        n = columns.count
        return BarSeries(
            instrument,
            self._intervals.get(instrument, interval_ns),
            columns.ts[:n].copy(),
            *(getattr(columns, field)[:n].copy() for field in FIELDS),
        )
