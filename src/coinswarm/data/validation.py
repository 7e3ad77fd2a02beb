"""Row-level validation shared by every file format: order, grid and bad ticks.

Two kinds of trouble are told apart. Structural problems (timestamps out of order, repeated,
or off the bar grid) mean the file itself cannot be trusted, so they always raise. Bad ticks
(NaN, inf, a price of zero or less, negative volume, high below low, open or close outside
the bar's range) are single broken bars: they raise by default, or are set aside as
`QuarantinedRow`s so that a feed can go on without ever showing them to a strategy.

Every check runs vectorised over the whole file; Python only loops over rows that fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinswarm.data.timefmt import format_interval, format_timestamp
from coinswarm.domain.errors import DataError

__all__ = [
    "PRICE_FIELDS",
    "QuarantinedRow",
    "RawBars",
    "check_grid",
    "check_order",
    "find_bad_ticks",
    "quarantine_error",
]

PRICE_FIELDS = ("open", "high", "low", "close")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class RawBars:
    """Parsed, not yet validated columns of one file, with where each row came from.

    `lines[i]` is the 1-based line of row i in a CSV file (the header is line 1) or the 1-based
    row number in a Parquet file; `raw_text(i)` gives the row as it was read, for quarantine.
    """

    path: str
    lines: IntArray
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    raw_text: Callable[[int], str]

    def __len__(self) -> int:
        return len(self.ts)

    def column(self, name: str) -> FloatArray:
        """Return the float column called `name` (one of the price fields or 'volume')."""
        values: FloatArray = getattr(self, name)
        return values


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """A bar that was read but withheld: where it was, which field failed, why, and its text."""

    line: int
    field: str
    reason: str
    raw: str


def check_order(bars: RawBars) -> None:
    """Raise DataError at the first timestamp that repeats or goes back in time."""
    steps = np.diff(bars.ts)
    bad = np.flatnonzero(steps <= 0)
    if len(bad) == 0:
        return
    i = int(bad[0]) + 1
    here, before = format_timestamp(int(bars.ts[i])), format_timestamp(int(bars.ts[i - 1]))
    prev_line = int(bars.lines[i - 1])
    if steps[i - 1] == 0:
        reason = f"timestamp {here} repeats the bar on line {prev_line}; expected each bar once"
    else:
        reason = (
            f"timestamp {here} is earlier than {before} on line {prev_line}; "
            "expected bars sorted oldest first"
        )
    raise DataError(reason, path=bars.path, line=int(bars.lines[i]), field="timestamp")


def check_grid(bars: RawBars, interval_ns: int) -> None:
    """Raise DataError where two neighbouring bars are not a whole number of intervals apart."""
    steps = np.diff(bars.ts)
    bad = np.flatnonzero(steps % interval_ns != 0)
    if len(bad) == 0:
        return
    i = int(bad[0]) + 1
    reason = (
        f"timestamp {format_timestamp(int(bars.ts[i]))} is {format_interval(int(steps[i - 1]))}"
        f" after the bar on line {int(bars.lines[i - 1])}; expected a whole number of"
        f" {format_interval(interval_ns)} bars"
    )
    raise DataError(reason, path=bars.path, line=int(bars.lines[i]), field="timestamp")


@dataclass(frozen=True, slots=True)
class _Check:
    field: str
    failed: BoolArray
    describe: Callable[[int], str]


def _not_finite(bars: RawBars, name: str) -> _Check:
    values = bars.column(name)
    return _Check(
        name,
        ~np.isfinite(values),
        lambda i: f"expected a finite number, found {values[i]}",
    )


def _not_positive(bars: RawBars, name: str) -> _Check:
    values = bars.column(name)
    return _Check(name, values <= 0, lambda i: f"expected a price above zero, found {values[i]}")


def _outside_range(bars: RawBars, name: str) -> _Check:
    values, low, high = bars.column(name), bars.low, bars.high
    return _Check(
        name,
        (values < low) | (values > high),
        lambda i: f"{name} {values[i]} lies outside the bar's range low {low[i]} .. high {high[i]}",
    )


def _checks(bars: RawBars) -> list[_Check]:
    """Return the bad-tick checks in the order they are reported (first failure wins)."""
    checks = [_not_finite(bars, name) for name in (*PRICE_FIELDS, "volume")]
    checks += [_not_positive(bars, name) for name in PRICE_FIELDS]
    volume, high, low = bars.volume, bars.high, bars.low
    checks.append(
        _Check(
            "volume",
            volume < 0,
            lambda i: f"expected a volume of zero or more, found {volume[i]}",
        )
    )
    checks.append(_Check("high", high < low, lambda i: f"high {high[i]} is below low {low[i]}"))
    checks += [_outside_range(bars, name) for name in ("open", "close")]
    return checks


def find_bad_ticks(bars: RawBars) -> tuple[QuarantinedRow, ...]:
    """Return every bad tick in file order, each with the first check it fails."""
    checks = _checks(bars)
    first_failure = np.full(len(bars), -1, dtype=np.int64)
    for number, check in enumerate(checks):
        first_failure[(first_failure < 0) & check.failed] = number
    rows = []
    for i in np.flatnonzero(first_failure >= 0).tolist():
        check = checks[int(first_failure[i])]
        rows.append(
            QuarantinedRow(
                int(bars.lines[i]),
                check.field,
                check.describe(i),
                bars.raw_text(i),
            )
        )
    return tuple(rows)


def quarantine_error(path: str, row: QuarantinedRow) -> DataError:
    """Return the DataError that a bad tick raises when quarantine is off."""
    return DataError(row.reason, path=path, line=row.line, field=row.field)
