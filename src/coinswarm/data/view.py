"""The time-fenced view of the market that strategies read.

A strategy asks for history and gets numpy arrays that end at the latest bar the clock has
reached. They are read-only views of buffers that hold nothing beyond that bar: later slots are
NaN until the clock gets there, so even `array.base` shows no future. Buffers are filled lazily,
so a strategy that never asks for history costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from coinswarm.domain.bar import BarSeries

__all__ = ["FIELDS", "MarketView", "fenced_view"]

FIELDS = ("open", "high", "low", "close", "volume")


class MarketView:
    """Bars of every instrument up to the clock's now, and not one bar further."""

    __slots__ = ("_buffers", "_filled", "_index", "_revealed", "_series")

    def __init__(self, market: Mapping[str, BarSeries]) -> None:
        self._series = dict(market)
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
        view = column[:]
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
        for field, column in self._buffers[instrument].items():
            column[start:end] = getattr(series, field)[start:end]
        self._filled[instrument] = end

    def _reveal(self, position: int, count: int) -> None:
        self._revealed[position] = count


def fenced_view(market: Mapping[str, BarSeries]) -> tuple[MarketView, Callable[[int, int], None]]:
    """Return a view for strategies and the function only the engine uses to move its fence.

    The mover takes an instrument's position in `market` and the number of its bars reached.
    """
    view = MarketView(market)
    return view, view._reveal  # the engine is the one holder of this capability
