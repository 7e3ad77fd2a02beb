"""The time-fenced view of the market that strategies read.

A strategy asks for history and gets read-only numpy arrays that end at the latest bar the
clock has reached. The view owns its buffers and nothing else: no reference to the series a
backtest replays, to a file, or to whoever feeds it. The engine shows it each bar as the clock
reaches that bar, so nothing the strategy can reach from the view, private attributes and
`array.base` included, holds a bar beyond now. Buffers grow by doubling from a size that
does not depend on the data, so even their capacity says nothing about what is to come.

Shown bars wait in a short list and reach the numpy buffers when history is asked for (or
the list is long), so a strategy that never reads history costs one list append per bar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from coinswarm.domain.bar import Bar, BarSeries

__all__ = ["FIELDS", "GrowingMarket", "MarketView", "Show", "fenced_feed", "fenced_view"]

FIELDS = ("open", "high", "low", "close", "volume")
FIRST_CAPACITY = 1024
# Shown bars kept as objects before they move into the buffers: few, so that they die young
# instead of burdening the garbage collector.
SETTLE_EVERY = 64

Show = Callable[[int, Bar], None]
"""Show the view one more bar of the instrument at a position: only the engine holds one."""


class _Columns:
    """One instrument's bars so far: the buffers, and the bars shown but not moved in yet."""

    __slots__ = ("close", "high", "low", "open", "pending", "stored", "ts", "volume")

    def __init__(self) -> None:
        self.stored = 0  # bars in the buffers; every slot from here on is NaN (ts: 0)
        self.pending: list[Bar] = []
        self.ts = np.zeros(FIRST_CAPACITY, np.int64)
        self.open, self.high, self.low, self.close, self.volume = (
            np.full(FIRST_CAPACITY, np.nan) for _ in FIELDS
        )

    @property
    def count(self) -> int:
        return self.stored + len(self.pending)

    def settle(self) -> None:
        """Move the pending bars into the buffers."""
        pending = self.pending
        if not pending:
            return
        start = self.stored
        end = start + len(pending)
        self._make_room(end)
        if len(pending) == 1:
            bar = pending[0]
            self.ts[start], self.open[start], self.high[start] = bar.ts, bar.open, bar.high
            self.low[start], self.close[start], self.volume[start] = bar.low, bar.close, bar.volume
        else:
            self.ts[start:end] = np.array([b.ts for b in pending], np.int64)
            for field in FIELDS:
                getattr(self, field)[start:end] = np.array(
                    [getattr(b, field) for b in pending], np.float64
                )
        self.stored = end
        pending.clear()

    def extend(self, series: BarSeries) -> None:
        """Append every bar of `series` (a live session's warm-up history) at once."""
        self.settle()
        start = self.stored
        end = start + len(series)
        self._make_room(end)
        for field in ("ts", *FIELDS):
            getattr(self, field)[start:end] = getattr(series, field)
        self.stored = end

    def settle_from(self, series: BarSeries) -> None:
        """Move the pending bars in by copying their rows of `series`, which they came from.

        Only rows already shown are copied: the caller holds `series`, the buffers never do.
        """
        start, end = self.stored, self.count
        self._make_room(end)
        for field in ("ts", *FIELDS):
            getattr(self, field)[start:end] = getattr(series, field)[start:end]
        self.stored = end
        self.pending.clear()

    def _make_room(self, needed: int) -> None:
        capacity = len(self.ts)
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        n = self.stored
        ts = np.zeros(capacity, np.int64)
        ts[:n] = self.ts[:n]
        self.ts = ts
        for field in FIELDS:
            column = np.full(capacity, np.nan)
            column[:n] = getattr(self, field)[:n]
            setattr(self, field, column)


class MarketView:
    """Bars of every instrument up to the clock's now, and not one bar further."""

    __slots__ = ("_columns", "_intervals")

    def __init__(
        self, instruments: Sequence[str], intervals: Mapping[str, int] | None = None
    ) -> None:
        self._columns = {symbol: _Columns() for symbol in instruments}
        self._intervals = dict(intervals or {})

    @property
    def instruments(self) -> tuple[str, ...]:
        return tuple(self._columns)

    def interval_ns(self, instrument: str) -> int | None:
        """Return the nominal bar interval of `instrument` in nanoseconds, None if unknown.

        A property of the feed (the file's or the session's timeframe), not of the bars to
        come: a strategy may scale its windows and limits by it.
        """
        return self._intervals.get(instrument)

    def count(self, instrument: str) -> int:
        """Return how many bars of `instrument` the clock has reached."""
        return self._columns[instrument].count

    def history(
        self, instrument: str, field: str = "close", n: int | None = None
    ) -> npt.NDArray[np.float64]:
        """Return the last `n` values of `field` (all so far when `n` is None), oldest first."""
        if field not in FIELDS and field != "ts":
            msg = f"expected a field among {(*FIELDS, 'ts')}, found {field!r}"
            raise KeyError(msg)
        return self._window(instrument, field, n)  # type: ignore[return-value]

    def timestamps(self, instrument: str, n: int | None = None) -> npt.NDArray[np.int64]:
        """Return the open times of the last `n` bars so far, in UTC nanoseconds."""
        return self._window(instrument, "ts", n)  # type: ignore[return-value]

    def _window(
        self, instrument: str, field: str, n: int | None
    ) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
        columns = self._columns[instrument]
        columns.settle()
        end = columns.stored
        start = 0 if n is None else max(0, end - n)
        view: npt.NDArray[np.float64] | npt.NDArray[np.int64] = getattr(columns, field)[start:end]
        view.flags.writeable = False
        return view


def fenced_feed(
    instruments: Sequence[str],
    source: Sequence[BarSeries] = (),
    intervals: Mapping[str, int] | None = None,
) -> tuple[MarketView, Show]:
    """Return an empty view for strategies and the function only the engine uses to fill it.

    The function takes an instrument's position in `instruments` and its next bar. When the
    bars are the rows of known series (`source`, in the same order, shown from their first
    row), the function copies shown rows from them in bulk now and then; `source` stays
    with the function, out of the view's reach. The view knows each instrument's bar
    interval from `intervals`, else from its `source` series.
    """
    known = {s.instrument: s.interval_ns for s in source} | dict(intervals or {})
    view = MarketView(instruments, known)
    columns = list(view._columns.values())
    series = list(source)

    def show(position: int, bar: Bar) -> None:
        target = columns[position]
        pending = target.pending
        pending.append(bar)
        if len(pending) >= SETTLE_EVERY:
            if series:
                target.settle_from(series[position])
            else:
                target.settle()

    return view, show


def fenced_view(market: Mapping[str, BarSeries]) -> tuple[MarketView, Callable[[int, int], None]]:
    """Return a view of `market` and a function that shows it the bars up to a count.

    The function takes an instrument's position in `market` and the number of its bars
    reached; it holds `market`, the view does not.
    """
    series = list(market.values())
    view, show = fenced_feed(tuple(market), series)

    def reveal(position: int, count: int) -> None:
        for row in range(view.count(series[position].instrument), count):
            show(position, series[position].bar(row))

    return view, reveal


class GrowingMarket:
    """The market of a live session: history first, then each bar as the feed delivers it.

    Strategies read it through the same fenced `MarketView` as in a backtest; the future is
    not in the buffers because it has not happened yet.
    """

    def __init__(
        self,
        instruments: Sequence[str],
        history: Mapping[str, BarSeries],
        interval_ns: int | None = None,
    ) -> None:
        """`interval_ns` is the session's bar interval, for instruments without history."""
        known = {s: interval_ns for s in instruments if interval_ns is not None}
        known.update({s: past.interval_ns for s, past in history.items() if len(past)})
        self.view, self._show = fenced_feed(instruments, intervals=known)
        self._position = {symbol: i for i, symbol in enumerate(instruments)}
        self._intervals: dict[str, int] = {}
        self._last: dict[str, int] = {}
        for symbol in instruments:
            past = history.get(symbol)
            if past is not None and len(past):
                self.view._columns[symbol].extend(past)
                self._intervals[symbol] = past.interval_ns
                self._last[symbol] = int(past.ts[-1])

    def count(self, instrument: str) -> int:
        return self.view.count(instrument)

    def append(self, bar: Bar) -> None:
        """Add `bar` after the last one of its instrument; refuse one that is not newer."""
        position = self._position.get(bar.instrument)
        if position is None:
            msg = f"a bar of {bar.instrument!r}, which this session does not trade"
            raise KeyError(msg)
        last = self._last.get(bar.instrument)
        if last is not None and bar.ts <= last:
            msg = f"{bar.instrument}: expected a bar after {last}, found one at {bar.ts}"
            raise ValueError(msg)
        self._last[bar.instrument] = bar.ts
        self._show(position, bar)

    def series(self, instrument: str, interval_ns: int) -> BarSeries:
        """Return a copy of the bars so far, as a series for metrics and reports."""
        columns = self.view._columns[instrument]
        columns.settle()
        n = columns.stored
        return BarSeries(
            instrument,
            self._intervals.get(instrument, interval_ns),
            columns.ts[:n].copy(),
            *(getattr(columns, field)[:n].copy() for field in FIELDS),
        )
