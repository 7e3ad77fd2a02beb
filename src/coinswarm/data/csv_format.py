"""OHLCV CSV files, plain or gzipped: read into `RawBars`, write from a `BarSeries`.

The format (see the project's data README): a header `timestamp,open,high,low,close,volume`
(any column order; names are matched without regard to case or surrounding blanks), then one
bar a line, the timestamp in ISO 8601 UTC. Prices are written with `repr` of the float, the
shortest text that reads back as the same float, so a write then a read is exact.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from coinswarm.data._atomic import atomic_writer
from coinswarm.data.timefmt import format_timestamp, parse_timestamp
from coinswarm.data.validation import RawBars
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import DataError

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader

__all__ = ["COLUMNS", "read_csv", "write_csv"]

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
_CHUNK = 1 << 20
MAX_LINE_BYTES = 1 << 16  # far above any bar line, below the csv module's field limit


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


class _TextGuard:
    """Refuse, chunk by chunk as it is read, what cannot be a bar file: memory stays bounded.

    A NUL byte (a binary or sparse file) or a line longer than `MAX_LINE_BYTES` (a bar line
    is about a hundred bytes) stops the read at the chunk that shows it, so a 1 GB file that
    is not a data file costs one chunk of memory, not the whole file.
    """

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        self._line = 1
        self._length = 0  # bytes of the current line so far

    def check(self, chunk: bytes) -> None:
        nul = chunk.find(b"\0")
        if nul >= 0:
            msg = "expected UTF-8 text, found a NUL byte: not a bar file (a binary or sparse file?)"
            raise DataError(msg, path=self._path, line=self._line + chunk.count(b"\n", 0, nul))
        lengths = [len(part) for part in chunk.split(b"\n")]
        lengths[0] += self._length
        if max(lengths) > MAX_LINE_BYTES:
            first = next(i for i, length in enumerate(lengths) if length > MAX_LINE_BYTES)
            msg = f"expected bar lines, found one over {MAX_LINE_BYTES:,} bytes: not a bar file"
            raise DataError(msg, path=self._path, line=self._line + first)
        self._line += len(lengths) - 1
        self._length = lengths[-1]

    @property
    def line(self) -> int:
        """Return the line the read has reached (1-based)."""
        return self._line


def _chunks(path: Path) -> Iterator[bytes]:
    """Yield the file's bytes (decompressed when gzipped) in chunks of at most `_CHUNK`."""
    if _is_gzip(path):
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read1(_CHUNK):
                yield chunk
    else:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                yield chunk


def _read_bytes(path: Path) -> bytes:
    guard = _TextGuard(path)
    chunks: list[bytes] = []
    try:
        for chunk in _chunks(path):
            guard.check(chunk)
            chunks.append(chunk)
    except EOFError:
        # The stream stops before gzip's end marker: an interrupted download or copy.
        msg = "the gzip stream ends early: the file is truncated (download or copy it again)"
        raise DataError(msg, path=str(path), line=guard.line) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        msg = f"expected a gzip file (by its .gz suffix), found unreadable data: {exc}"
        raise DataError(msg, path=str(path)) from None
    return b"".join(chunks)


def _read_text(path: Path) -> str:
    try:
        data = _read_bytes(path)
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", path=str(path)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"expected UTF-8 text, found a byte that is not ({exc.reason} at byte {exc.start})"
        raise DataError(msg, path=str(path)) from None


def _header(path: str, reader: _CsvReader) -> list[str]:
    """Return the header's column names, raising DataError for a bad header."""
    header = next((row for row in reader if row), None)
    line = reader.line_num
    if header is None:
        msg = f"the file is empty; expected a header line '{','.join(COLUMNS)}'"
        raise DataError(msg, path=path)
    names = [name.strip().lower() for name in header]
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        msg = f"expected the columns {','.join(COLUMNS)}; found {','.join(header)!r}"
        raise DataError(msg, path=path, line=line, field=missing[0])
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        msg = "expected each column once in the header, found it twice"
        raise DataError(msg, path=path, line=line, field=repeated[0])
    return names


def _check_width(path: str, line: int, row: list[str], names: Sequence[str]) -> None:
    if len(row) == len(names):
        return
    field = names[len(row)] if len(row) < len(names) else None
    hint = " (a truncated row?)" if field else ""
    msg = f"expected {len(names)} fields, found {len(row)}{hint}"
    raise DataError(msg, path=path, line=line, field=field)


def _split_rows(path: str, text: str) -> tuple[list[str], list[int], list[list[str]]]:
    """Return the header names, the line of each data row, and the rows as text."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _rows(path, reader)
    except csv.Error as exc:
        # A quoted field running over many lines, say: csv's own limits, said as a DataError.
        raise DataError(f"expected CSV, found: {exc}", path=path, line=reader.line_num) from None


def _rows(path: str, reader: _CsvReader) -> tuple[list[str], list[int], list[list[str]]]:
    names = _header(path, reader)
    lines: list[int] = []
    rows: list[list[str]] = []
    for row in reader:
        if not row:
            continue  # a blank line carries no bar; a trailing newline is common
        _check_width(path, reader.line_num, row, names)
        lines.append(reader.line_num)
        rows.append(row)
    if not rows:
        raise DataError("no bars after the header", path=path, line=reader.line_num + 1)
    return names, lines, rows


def _floats(path: str, name: str, values: list[str], lines: list[int]) -> npt.NDArray[np.float64]:
    try:
        return np.array(list(map(float, values)), dtype=np.float64)
    except ValueError:
        # Parsing in bulk is fast but does not say where it failed: find the line that did.
        raise _first_bad_number(path, name, values, lines) from None


def _first_bad_number(path: str, name: str, values: list[str], lines: list[int]) -> DataError:
    for line, value in zip(lines, values, strict=True):
        try:
            float(value)
        except ValueError:
            return DataError(
                f"expected a number, found {value!r}", path=path, line=line, field=name
            )
    return DataError("a number failed to parse", path=path, field=name)  # pragma: no cover


def _timestamps(path: str, values: list[str], lines: list[int]) -> npt.NDArray[np.int64]:
    out = np.empty(len(values), dtype=np.int64)
    for i, (line, value) in enumerate(zip(lines, values, strict=True)):
        try:
            out[i] = parse_timestamp(value.strip())
        except ValueError as exc:
            raise DataError(str(exc), path=path, line=line, field="timestamp") from None
    return out


def read_csv(path: str | Path) -> RawBars:
    """Read an OHLCV CSV (gzipped when the name ends in .gz) into parsed, unvalidated columns.

    Raise DataError, naming file, line and field, for anything structural: an unreadable or
    truncated file, an empty file, a header missing a column, a row with the wrong number of
    fields, a number or timestamp that does not parse.
    """
    path = Path(path)
    name = str(path)
    names, lines, rows = _split_rows(name, _read_text(path))
    columns = list(zip(*rows, strict=True))
    positions = {field: names.index(field) for field in COLUMNS}
    floats = {
        field: _floats(name, field, list(columns[positions[field]]), lines) for field in COLUMNS[1:]
    }
    return RawBars(
        path=name,
        lines=np.array(lines, dtype=np.int64),
        ts=_timestamps(name, list(columns[positions["timestamp"]]), lines),
        open=floats["open"],
        high=floats["high"],
        low=floats["low"],
        close=floats["close"],
        volume=floats["volume"],
        raw_text=lambda i: ",".join(rows[i]),
    )


def _csv_lines(series: BarSeries) -> Iterator[str]:
    yield ",".join(COLUMNS) + "\n"
    columns = (series.open, series.high, series.low, series.close, series.volume)
    lists = [column.tolist() for column in columns]
    for ts, *values in zip(series.ts.tolist(), *lists, strict=True):
        yield f"{format_timestamp(ts)},{','.join(map(repr, values))}\n"


def write_csv(series: BarSeries, path: str | Path) -> None:
    """Write `series` as CSV (gzipped when the name ends in .gz), atomically.

    The gzip header carries no time stamp or name, so the same bars give the same bytes.
    """
    path = Path(path)
    text = "".join(_csv_lines(series)).encode("utf-8")
    with atomic_writer(path) as raw:
        if _is_gzip(path):
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as stream:
                stream.write(text)
        else:
            raw.write(text)
