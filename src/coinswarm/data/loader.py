"""Load and write bar files: the one entry point that picks the format and validates every row.

Loading is all or nothing: either every row passed (or, in quarantine mode, every row that
failed was a bad tick and was set aside) and a `BarSeries` comes back, or a `DataError` names
the file, the line and the field. Missing bars stay missing; nothing is forward-filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from coinswarm.data.csv_format import read_csv, write_csv
from coinswarm.data.naming import parse_file_name
from coinswarm.data.parquet_format import read_parquet, write_parquet
from coinswarm.data.timefmt import parse_interval
from coinswarm.data.validation import (
    QuarantinedRow,
    RawBars,
    check_grid,
    check_order,
    find_bad_ticks,
    quarantine_error,
)
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import DataError

__all__ = ["LoadResult", "load_bars", "load_bars_with_quarantine", "write_bars"]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A loaded series and the bad ticks withheld from it, in file order."""

    series: BarSeries
    quarantined: tuple[QuarantinedRow, ...]


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(".parquet")


def _read(path: Path) -> RawBars:
    return read_parquet(path) if _is_parquet(path) else read_csv(path)


def _instrument(path: Path, given: str | None) -> str:
    if given is not None:
        return given
    inferred = parse_file_name(path).instrument
    if inferred is None:
        msg = (
            "cannot tell the instrument from the file name; expected a name like "
            "BTC_USDT-1h.csv.gz, or pass instrument="
        )
        raise DataError(msg, path=str(path))
    return inferred


def _interval(path: Path, bars: RawBars, given: int | None) -> int:
    """Return the given interval, else the file name's, else the commonest step between bars."""
    if given is not None:
        if given <= 0:
            msg = f"expected a positive interval_ns, found {given}"
            raise ValueError(msg)
        return given
    label = parse_file_name(path).interval
    if label is not None:
        return parse_interval(label)
    if len(bars) < 2:
        msg = "cannot tell the bar interval from one bar; name the file like BTC_USDT-1h.csv"
        raise DataError(msg, path=str(path))
    steps, counts = np.unique(np.diff(bars.ts), return_counts=True)
    return int(steps[int(np.argmax(counts))])


def _series(
    bars: RawBars,
    instrument: str,
    interval_ns: int,
    keep: npt.NDArray[np.bool_],
) -> BarSeries:
    return BarSeries(
        instrument,
        interval_ns,
        bars.ts[keep].copy(),
        bars.open[keep].copy(),
        bars.high[keep].copy(),
        bars.low[keep].copy(),
        bars.close[keep].copy(),
        bars.volume[keep].copy(),
    )


def load_bars_with_quarantine(
    path: str | Path,
    *,
    instrument: str | None = None,
    interval_ns: int | None = None,
    quarantine: bool = True,
) -> LoadResult:
    """Load a CSV (plain or .gz) or Parquet bar file and report the bad ticks it withheld.

    The instrument comes from `instrument` or the file name (BTC_USDT-1h.csv.gz -> BTC-USDT);
    the interval from `interval_ns`, the name ('1m', '5m', '15m', '1h', '4h', '1d') or the
    commonest step between timestamps. Structural problems always raise DataError. Bad ticks
    (NaN, inf, a price of zero or less, negative volume, high below low, open or close outside
    the bar's range) are dropped and listed when `quarantine` is true, and raise otherwise.
    """
    path = Path(path)
    bars = _read(path)
    check_order(bars)
    interval = _interval(path, bars, interval_ns)
    check_grid(bars, interval)
    bad = find_bad_ticks(bars)
    if bad and not quarantine:
        raise quarantine_error(bars.path, bad[0])
    keep = ~np.isin(bars.lines, [row.line for row in bad])
    return LoadResult(_series(bars, _instrument(path, instrument), interval, keep), bad)


def load_bars(
    path: str | Path,
    *,
    instrument: str | None = None,
    interval_ns: int | None = None,
    quarantine: bool = False,
) -> BarSeries:
    """Load a CSV (plain or .gz) or Parquet bar file into a validated `BarSeries`.

    See `load_bars_with_quarantine` for the rules; with `quarantine=True` bad ticks are
    dropped silently (use `load_bars_with_quarantine` to see them).
    """
    result = load_bars_with_quarantine(
        path,
        instrument=instrument,
        interval_ns=interval_ns,
        quarantine=quarantine,
    )
    return result.series


def write_bars(series: BarSeries, path: str | Path) -> None:
    """Write `series` atomically as CSV (.csv, .csv.gz) or Parquet (.parquet), by suffix."""
    path = Path(path)
    lower = path.name.lower()
    if _is_parquet(path):
        write_parquet(series, path)
    elif lower.endswith((".csv", ".csv.gz")):
        write_csv(series, path)
    else:
        msg = f"expected a file name ending in .csv, .csv.gz or .parquet, found {path.name!r}"
        raise ValueError(msg)
