"""OHLCV Parquet files: read into `RawBars`, write from a `BarSeries`.

The columns are those of the CSV format. `timestamp` is either a timezone-aware datetime
column (any zone; it is converted to UTC) or ISO 8601 UTC strings; a naive datetime column is
refused, because its zone would be a guess. A row's "line" is its 1-based row number.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from coinswarm.data._atomic import atomic_writer
from coinswarm.data.csv_format import COLUMNS
from coinswarm.data.timefmt import parse_timestamp
from coinswarm.data.validation import RawBars
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import DataError

__all__ = ["read_parquet", "write_parquet"]


_MAGIC = b"PAR1"


def _check_magic(path: Path) -> None:
    """Refuse a file that does not start and end with Parquet's magic, before reading it.

    The reader would otherwise map or read the whole file first: a 1 GB file that is not
    Parquet would cost a gigabyte to refuse.
    """
    with path.open("rb") as stream:
        head = stream.read(len(_MAGIC))
        size = stream.seek(0, os.SEEK_END)
        stream.seek(max(size - len(_MAGIC), 0))
        tail = stream.read(len(_MAGIC))
    if head != _MAGIC or tail != _MAGIC or size < 3 * len(_MAGIC):
        msg = f"expected a Parquet file (it starts and ends with {_MAGIC!r}), found {head!r}"
        raise DataError(msg + f"...{tail!r}", path=str(path))


def _read_frame(path: Path) -> pl.DataFrame:
    try:
        _check_magic(path)
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"expected a readable Parquet file, found: {first_line}"
        raise DataError(msg, path=str(path)) from None
    renamed = frame.rename({name: name.strip().lower() for name in frame.columns})
    missing = [name for name in COLUMNS if name not in renamed.columns]
    if missing:
        msg = f"expected the columns {','.join(COLUMNS)}; found {','.join(frame.columns)!r}"
        raise DataError(msg, path=str(path), field=missing[0])
    if renamed.height == 0:
        raise DataError("the table holds no bars", path=str(path))
    return renamed


def _reject_nulls(path: str, column: pl.Series) -> None:
    if column.null_count():
        row = int(column.is_null().arg_true()[0]) + 1
        msg = "expected a value, found an empty cell"
        raise DataError(msg, path=path, line=row, field=column.name)


def _timestamps(path: str, column: pl.Series) -> npt.NDArray[np.int64]:
    _reject_nulls(path, column)
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            msg = "expected a timezone-aware datetime column, found a naive one (zone unknown)"
            raise DataError(msg, path=path, line=1, field="timestamp")
        epoch = column.dt.convert_time_zone("UTC").dt.epoch("ns")
        return epoch.to_numpy().astype(np.int64)
    if dtype == pl.String:
        out = np.empty(column.len(), dtype=np.int64)
        for row, text in enumerate(column.to_list(), start=1):
            try:
                out[row - 1] = parse_timestamp(text.strip())
            except ValueError as exc:
                raise DataError(str(exc), path=path, line=row, field="timestamp") from None
        return out
    msg = f"expected a datetime or ISO 8601 string column, found {dtype}"
    raise DataError(msg, path=path, field="timestamp")


def _floats(path: str, column: pl.Series) -> npt.NDArray[np.float64]:
    _reject_nulls(path, column)
    if column.dtype.is_numeric():
        return column.cast(pl.Float64).to_numpy().astype(np.float64)
    if column.dtype == pl.String:
        values = column.to_list()
        for row, text in enumerate(values, start=1):
            try:
                float(text)
            except ValueError:
                msg = f"expected a number, found {text!r}"
                raise DataError(msg, path=path, line=row, field=column.name) from None
        return np.array([float(text) for text in values], dtype=np.float64)
    msg = f"expected a numeric column, found {column.dtype}"
    raise DataError(msg, path=path, field=column.name)


def read_parquet(path: str | Path) -> RawBars:
    """Read an OHLCV Parquet file into parsed, unvalidated columns.

    Raise DataError, naming file, row and field, for an unreadable file, a missing column, an
    empty table, an empty cell, a naive or unparseable timestamp, or a non-numeric value.
    """
    path = Path(path)
    name = str(path)
    frame = _read_frame(path)
    floats = {field: _floats(name, frame[field]) for field in COLUMNS[1:]}
    return RawBars(
        path=name,
        lines=np.arange(1, frame.height + 1, dtype=np.int64),
        ts=_timestamps(name, frame["timestamp"]),
        open=floats["open"],
        high=floats["high"],
        low=floats["low"],
        close=floats["close"],
        volume=floats["volume"],
        raw_text=lambda i: ",".join(str(value) for value in frame.row(i)),
    )


def write_parquet(series: BarSeries, path: str | Path) -> None:
    """Write `series` as Parquet with a UTC nanosecond timestamp column, atomically."""
    frame = pl.DataFrame(
        {
            "timestamp": pl.Series(series.ts, dtype=pl.Int64).cast(pl.Datetime("ns", "UTC")),
            "open": series.open,
            "high": series.high,
            "low": series.low,
            "close": series.close,
            "volume": series.volume,
        }
    )
    with atomic_writer(Path(path)) as stream:
        frame.write_parquet(stream)
