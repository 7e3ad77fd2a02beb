"""Build bars of one interval from a stream of trades or ticker prices.

For exchanges (or channels) that stream no candles: the first price of an interval is the
open, the highest and lowest are the high and low, the last is the close, and sizes add up
to the volume. A bar is emitted once a price of a later interval arrives, so it is never
revised afterwards. An interval with no price produces no bar: a gap stays a gap, nothing is
forward-filled. Buckets start at multiples of the interval since the UTC epoch, as in
`data.resample`.

Bad ticks (NaN, infinite, zero or negative prices; negative or non-finite sizes) are refused
at ingestion with a `DataError` naming the field, so no strategy ever sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from coinswarm.domain.bar import Bar
from coinswarm.domain.errors import DataError

__all__ = ["BarBuilder", "Tick", "parse_tick"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tick:
    """One observed trade or ticker price: `size` is 0 when the source gives no size."""

    instrument: str
    ts: int
    price: Decimal
    size: Decimal = ZERO


def _number(value: str | Decimal, *, source: str, field: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        problem = f"expected a decimal number, found {value!r}"
        raise DataError(problem, path=source, field=field) from None
    if not number.is_finite():
        raise DataError(f"expected a finite number, found {value!r}", path=source, field=field)
    return number


def parse_tick(
    instrument: str,
    ts: int,
    price: str | Decimal,
    size: str | Decimal = ZERO,
    *,
    source: str = "tick",
) -> Tick:
    """Return a checked tick, or raise `DataError` for a price or size no market can have."""
    checked_price = _number(price, source=source, field="price")
    if checked_price <= 0:
        problem = f"expected a positive price, found {price!r}"
        raise DataError(problem, path=source, field="price")
    checked_size = _number(size, source=source, field="size")
    if checked_size < 0:
        raise DataError(f"expected a size of 0 or more, found {size!r}", path=source, field="size")
    return Tick(instrument, ts, checked_price, checked_size)


@dataclass(slots=True)
class _Open:
    """The bar being built: Decimal so that the volume adds up exactly."""

    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def add(self, tick: Tick) -> None:
        self.high = max(self.high, tick.price)
        self.low = min(self.low, tick.price)
        self.close = tick.price
        self.volume += tick.size

    def bar(self, instrument: str) -> Bar:
        return Bar(
            instrument,
            self.start,
            float(self.open),
            float(self.high),
            float(self.low),
            float(self.close),
            float(self.volume),
        )


class BarBuilder:
    """Turn one instrument's ticks, in arrival order, into closed bars of `interval_ns`.

    A tick older than the bar being built belongs to a bar already emitted; it cannot change
    that bar any more, so it is counted in `late` and otherwise ignored.
    """

    def __init__(self, instrument: str, interval_ns: int) -> None:
        if interval_ns <= 0:
            msg = f"interval_ns: expected a positive interval, found {interval_ns}"
            raise ValueError(msg)
        self.instrument = instrument
        self.interval_ns = interval_ns
        self.late = 0
        self._current: _Open | None = None
        self._emitted = -1  # the start of the last bar handed out; it is never revised

    def add(self, tick: Tick) -> list[Bar]:
        """Take one tick; return the bar it closed (at most one), oldest first."""
        if tick.instrument != self.instrument:
            msg = f"instrument: expected {self.instrument!r}, found {tick.instrument!r}"
            raise DataError(msg, path="tick", field="instrument")
        start = tick.ts // self.interval_ns * self.interval_ns
        current = self._current
        if current is not None and start == current.start:
            current.add(tick)
            return []
        if start <= self._emitted or (current is not None and start < current.start):
            self.late += 1
            return []
        self._current = _Open(start, tick.price, tick.price, tick.price, tick.price, tick.size)
        if current is None:
            return []
        self._emitted = current.start
        return [current.bar(self.instrument)]

    def flush(self) -> Bar | None:
        """Return the bar being built (maybe incomplete) at a stream's end; later ticks are late."""
        current, self._current = self._current, None
        if current is None:
            return None
        self._emitted = current.start
        return current.bar(self.instrument)
