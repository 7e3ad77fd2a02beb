"""Bars: one candle, and a column-oriented series of them.

Bar prices are float64. They come from validated market data and feed indicator maths; a price
becomes a `Decimal` only when it crosses into an order or a fill (see `domain.money.to_price`),
and because every loaded price is a short decimal string, `repr` of the float gives it back
exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NS_PER_HOUR", "NS_PER_SECOND", "Bar", "BarSeries"]

NS_PER_SECOND = 1_000_000_000
NS_PER_HOUR = 3600 * NS_PER_SECOND

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV candle of one instrument; `ts` is the bar's open time in UTC nanoseconds."""

    instrument: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True, eq=False)
class BarSeries:
    """Validated bars of one instrument, oldest first, as parallel numpy columns.

    `ts` holds bar open times in UTC nanoseconds, strictly increasing; `interval_ns` is the
    nominal bar length (a missing bar is a gap, never filled in). The arrays are read-only.
    """

    instrument: str
    interval_ns: int
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            column = getattr(self, name)
            if len(column) != n:
                msg = f"column '{name}' has {len(column)} values, expected {n} like 'ts'"
                raise ValueError(msg)
        for column in (self.ts, self.open, self.high, self.low, self.close, self.volume):
            column.flags.writeable = False

    @classmethod
    def from_bars(cls, instrument: str, interval_ns: int, bars: Sequence[Bar]) -> BarSeries:
        """Return one instrument's `bars` (oldest first) as a series."""

        def column(name: str) -> FloatArray:
            return np.array([getattr(b, name) for b in bars], dtype=np.float64)

        return cls(
            instrument,
            interval_ns,
            np.array([b.ts for b in bars], dtype=np.int64),
            column("open"),
            column("high"),
            column("low"),
            column("close"),
            column("volume"),
        )

    def __len__(self) -> int:
        return len(self.ts)

    def bar(self, index: int) -> Bar:
        """Return the bar at `index` as a value object."""
        return Bar(
            self.instrument,
            int(self.ts[index]),
            float(self.open[index]),
            float(self.high[index]),
            float(self.low[index]),
            float(self.close[index]),
            float(self.volume[index]),
        )

    def between(self, start_ns: int | None = None, end_ns: int | None = None) -> BarSeries:
        """Return the bars with `start_ns <= ts < end_ns` (either bound may be open)."""
        lo = 0 if start_ns is None else int(np.searchsorted(self.ts, start_ns, side="left"))
        hi = len(self.ts) if end_ns is None else int(np.searchsorted(self.ts, end_ns, "left"))
        return BarSeries(
            self.instrument,
            self.interval_ns,
            self.ts[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
        )
