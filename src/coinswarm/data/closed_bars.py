"""The bars a trading session has closed, for a reader on another thread (discovery beside it).

Discovery beside a session (`evolution.session.discovery`) may learn only from bars whose close has
passed. `ClosedBars` is the session's record of them: the session attaches its clock and
feeds it each bar once its engine has handled it; a reader takes a snapshot, which holds only
the bars with `ts + interval <= now` by the session's clock at that moment, whatever was fed.

The clock is the session's own. A sandbox or live session's bars come closed from the exchange
and its clock is the wall clock. A paper session replays recorded bars: `ReplayClosing` feeds
the record as the replay's time passes each bar's close, and its clock is that replay time
(market time), so a bar the engine has just shown, whose hour is not over in market time, is
not yet discovery's.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from coinswarm.domain.bar import Bar, BarSeries

__all__ = ["ClosedBars", "ReplayClosing"]

logger = logging.getLogger(__name__)


class ClosedBars:
    """Every bar a session has closed, per instrument; safe to read from another thread.

    Empty and timeless until the session `attach`es its clock and instruments. What feeds it
    from the session's thread (`after_each`, `ReplayClosing.pacing`) never raises there: a bar
    it cannot record breaks the record instead, and its reader is told when it next reads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clock: Callable[[], int] | None = None
        self._intervals: dict[str, int] = {}
        self._bars: dict[str, list[Bar]] = {}
        self._times: dict[str, list[int]] = {}  # each instrument's bar times, for bisect
        self._broken: str | None = None

    def attach(self, now_ns: Callable[[], int], intervals: Mapping[str, int]) -> None:
        """Start the record: the session's clock, and each instrument's bar interval."""
        with self._lock:
            if self._clock is not None:
                raise ValueError("this record already follows a session")
            self._clock = now_ns
            self._intervals = dict(intervals)
            self._bars = {name: [] for name in intervals}
            self._times = {name: [] for name in intervals}

    def extend(self, series: BarSeries) -> None:
        """Record a series of closed bars at once: a live session's warm-up history."""
        for row in range(len(series)):
            self.add(series.bar(row))

    def add(self, bar: Bar) -> None:
        """Record one more bar of its instrument; refuse one not after the last recorded."""
        with self._lock:
            times = self._times.get(bar.instrument)
            if times is None:
                msg = f"a bar of {bar.instrument!r}, which the session does not trade"
                raise KeyError(msg)
            if times and bar.ts <= times[-1]:
                msg = f"{bar.instrument}: expected a bar after {times[-1]}, found one at {bar.ts}"
                raise ValueError(msg)
            times.append(bar.ts)
            self._bars[bar.instrument].append(bar)

    def after_each(self, feed: Iterable[Bar]) -> Iterator[Bar]:
        """Yield `feed`'s bars, recording each once the consumer asks for the next one.

        The engine asks for the next bar when it has handled this one: a bar it refused (and
        raised on) is never recorded, and discovery never sees a bar before the strategy does.
        """
        for bar in feed:
            yield bar
            self.record(bar)

    def record(self, bar: Bar) -> None:
        """`add` for the session's thread: a bar that cannot be recorded breaks the record
        (logged, and raised to its reader) instead of raising into the session."""
        if self._broken is not None:
            return
        try:
            self.add(bar)
        except Exception as error:  # the session trades on; the reader hears of it
            logger.exception("closed bars: recording stopped")
            self._broken = f"{type(error).__name__}: {error}"

    def now_ns(self) -> int | None:
        """Return the session's time now, or None before it attached its clock."""
        clock = self._clock
        return None if clock is None else clock()

    def snapshot(self) -> tuple[BarSeries, ...]:
        """Return, per instrument with any (in name order), its bars closed by now.

        A bar is closed when `ts + interval <= now` by the session's clock at this moment.
        """
        if self._broken is not None:
            raise ValueError(f"the session's closed bars stopped being recorded: {self._broken}")
        with self._lock:
            now = self.now_ns()
            if now is None:
                return ()
            taken = []
            for name in sorted(self._bars):
                interval = self._intervals[name]
                count = bisect_right(self._times[name], now - interval)
                if count:
                    taken.append((name, interval, self._bars[name][:count]))
        return tuple(BarSeries.from_bars(n, i, bars) for n, i, bars in taken)


class ReplayClosing:
    """Feed a `ClosedBars` from a replay of recorded bars, as the replay's time passes each
    bar's close; the record's clock is the replay's time.

    The engine calls `pacing(pace)` with each new bar time before it shows the bars of that
    time: the bars closed by then were all shown before it.
    """

    def __init__(self, market: Sequence[BarSeries], closed: ClosedBars) -> None:
        self._market = [s for s in market if len(s)]
        self._closed = closed
        self._next = [0] * len(self._market)  # each series' first row not yet recorded
        self._now = min((int(s.ts[0]) for s in self._market), default=0)
        closed.attach(self.now_ns, {s.instrument: s.interval_ns for s in market})

    def now_ns(self) -> int:
        """Return the time the replay has reached (market time)."""
        return self._now

    def reach(self, ts: int) -> None:
        """Record every bar the replay's time `ts` closes, then move the clock to `ts`."""
        for position, series in enumerate(self._market):
            start = self._next[position]
            end = int(np.searchsorted(series.ts, ts - series.interval_ns, side="right"))
            for row in range(start, end):
                self._closed.record(series.bar(row))
            self._next[position] = max(start, end)
        self._now = max(self._now, ts)

    def pacing(self, pace: Callable[[int], None] | None) -> Callable[[int], None]:
        """Return a pace for the engine: `pace` (None: no wait) and then `reach`."""

        def paced(ts: int) -> None:
            if pace is not None:
                pace(ts)
            self.reach(ts)

        return paced
