"""What a bar series holds: span, coverage, gaps and its most violent bars (`data inspect`).

A one-bar move is measured inside the bar, from its open to its low or its high, whichever is
further. Close-to-close and open-to-close changes hide flash crashes that recover within the
bar (BTC-USDT fell 16% inside one hour on 2021-12-04 but closed only a few percent down), and
those bars are the ones a data check must show. Each move also carries its open-to-close change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coinswarm.data.gaps import Gap, find_gaps
from coinswarm.data.timefmt import format_interval, format_timestamp
from coinswarm.domain.bar import BarSeries

__all__ = ["Inspection", "Move", "inspect_series"]


@dataclass(frozen=True, slots=True)
class Move:
    """One bar's largest excursion from its open, as fractions (-0.245 is a 24.5% fall).

    `swing` is open to low (negative) or open to high (positive), whichever is larger in size;
    `close_change` is open to close.
    """

    ts: int
    swing: float
    close_change: float


@dataclass(frozen=True, slots=True)
class Inspection:
    """A summary of one series: span, coverage, gaps and the largest one-bar moves.

    `first_ts` and `last_ts` are None for an empty series. `expected_bars` counts every bar
    slot from the first bar to the last; `coverage` is `bars / expected_bars` (1.0 when empty).
    `top_moves` is sorted by size of swing, largest first.
    """

    instrument: str
    interval_ns: int
    first_ts: int | None
    last_ts: int | None
    bars: int
    expected_bars: int
    coverage: float
    gaps: tuple[Gap, ...]
    top_moves: tuple[Move, ...]

    @property
    def missing_bars(self) -> int:
        """Return how many bar slots between the first and last bar hold no bar."""
        return self.expected_bars - self.bars

    def render_lines(self, *, max_gaps: int = 10) -> list[str]:
        """Return a plain-text report, one string a line, listing the `max_gaps` longest gaps."""
        return [*self._summary_lines(), *self._gap_lines(max_gaps), *self._move_lines()]

    def _summary_lines(self) -> list[str]:
        head = f"{self.instrument}  {format_interval(self.interval_ns)} bars"
        if self.first_ts is None or self.last_ts is None:
            return [head, "bars      none"]
        span = f"{format_timestamp(self.first_ts)} .. {format_timestamp(self.last_ts)}"
        return [
            f"{head}  {span}",
            f"bars      {self.bars:,} of {self.expected_bars:,} expected "
            f"({self.coverage:.2%} coverage)",
        ]

    def _gap_lines(self, max_gaps: int) -> list[str]:
        if not self.gaps:
            return ["gaps      none"]
        longest = sorted(self.gaps, key=lambda gap: (-gap.missing_bars, gap.start_ns))
        lines = [f"gaps      {len(self.gaps)} ({self.missing_bars:,} bars missing); longest:"]
        lines += [
            f"  {format_timestamp(gap.start_ns)} -> {format_timestamp(gap.end_ns)}  "
            f"{gap.missing_bars:,} bars missing"
            for gap in longest[:max_gaps]
        ]
        return lines

    def _move_lines(self) -> list[str]:
        if not self.top_moves:
            return []
        lines = ["largest one-bar moves (open to low or high; open to close):"]
        lines += [
            f"  {format_timestamp(move.ts)}  {move.swing:+8.2%}  close {move.close_change:+8.2%}"
            for move in self.top_moves
        ]
        return lines


def _top_moves(series: BarSeries, top: int) -> tuple[Move, ...]:
    if len(series) == 0 or top <= 0:
        return ()
    fall = series.low / series.open - 1.0
    rise = series.high / series.open - 1.0
    swing = np.where(-fall > rise, fall, rise)
    # A stable sort on the negated size keeps the earlier bar first among equal moves.
    order = np.argsort(-np.abs(swing), kind="stable")[:top]
    change = series.close / series.open - 1.0
    return tuple(Move(int(series.ts[i]), float(swing[i]), float(change[i])) for i in order.tolist())


def inspect_series(series: BarSeries, *, top: int = 10) -> Inspection:
    """Return the span, coverage, gaps and the `top` largest one-bar moves of `series`."""
    if len(series) == 0:
        return Inspection(series.instrument, series.interval_ns, None, None, 0, 0, 1.0, (), ())
    first, last = int(series.ts[0]), int(series.ts[-1])
    expected = (last - first) // series.interval_ns + 1
    return Inspection(
        instrument=series.instrument,
        interval_ns=series.interval_ns,
        first_ts=first,
        last_ts=last,
        bars=len(series),
        expected_bars=expected,
        coverage=len(series) / expected,
        gaps=find_gaps(series),
        top_moves=_top_moves(series, top),
    )
