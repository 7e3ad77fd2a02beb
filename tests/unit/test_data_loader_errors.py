"""Corrupt and hostile bar files: every one fails with file, line and field named."""

from __future__ import annotations

import gzip
import os
import tracemalloc
from pathlib import Path

import polars as pl
import pytest

from coinswarm.data import load_bars
from coinswarm.data.csv_format import MAX_LINE_BYTES
from coinswarm.domain.errors import DataError

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "2024-01-01T00:00:00Z,100.0,110.0,95.0,105.0,12.5\n",
    "2024-01-01T01:00:00Z,105.0,108.0,101.0,102.0,8.0\n",
    "2024-01-01T02:00:00Z,102.0,104.0,99.5,103.25,9.75\n",
]


def write(tmp_path: Path, body: str, name: str = "BTC_USDT-1h.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(body.encode()))
    else:
        path.write_text(body)
    return path


def with_row(index: int, row: str) -> str:
    """Return the good file with its data row `index` replaced (line index + 2)."""
    rows = list(GOOD)
    rows[index] = row
    return HEADER + "".join(rows)


def load_error(path: Path) -> DataError:
    with pytest.raises(DataError) as caught:
        load_bars(path)
    return caught.value


def assert_names(error: DataError, path: Path, line: int | None, field: str | None) -> None:
    text = str(error)
    assert error.path == str(path)
    assert error.line == line
    assert error.field == field
    assert path.name in text
    if line is not None:
        assert f"{path}:{line}:" in text
    if field is not None:
        assert f"field '{field}'" in text


def test_good_file_loads(tmp_path):
    series = load_bars(write(tmp_path, HEADER + "".join(GOOD)))
    assert series.instrument == "BTC-USDT"
    assert len(series) == 3
    assert series.close.tolist() == [105.0, 102.0, 103.25]


def test_truncated_gzip_names_the_file(tmp_path):
    whole = gzip.compress((HEADER + "".join(GOOD * 1)).encode())
    path = tmp_path / "BTC_USDT-1h.csv.gz"
    path.write_bytes(whole[: len(whole) - 12])
    error = load_error(path)
    assert error.path == str(path)
    assert "truncated" in str(error)
    assert error.line is not None


def test_truncated_gzip_of_a_big_file_names_the_line_it_stops_in(tmp_path):
    rows = [
        f"2024-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z,1.0,2.0,0.5,1.5,3.0\n" for i in range(600)
    ]
    whole = gzip.compress((HEADER + "".join(rows)).encode(), compresslevel=1)
    path = tmp_path / "BTC_USDT-1h.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    error = load_error(path)
    assert "truncated" in error.reason
    assert error.line is not None
    assert 1 < error.line <= 601


def test_not_gzip_despite_suffix(tmp_path):
    path = tmp_path / "BTC_USDT-1h.csv.gz"
    path.write_text(HEADER + "".join(GOOD))
    error = load_error(path)
    assert error.path == str(path)
    assert "gzip" in error.reason


def test_header_missing_a_column(tmp_path):
    path = write(tmp_path, "timestamp,open,high,low,close\n" + "".join(GOOD))
    assert_names(load_error(path), path, 1, "volume")


def test_header_repeating_a_column(tmp_path):
    header = "timestamp,open,high,low,close,volume,close\n"
    path = write(tmp_path, header + "2024-01-01T00:00:00Z,1,2,0.5,1,3,1\n")
    assert_names(load_error(path), path, 1, "close")


def test_empty_file(tmp_path):
    path = write(tmp_path, "")
    error = load_error(path)
    assert_names(error, path, None, None)
    assert "empty" in error.reason


def test_empty_gzip_file(tmp_path):
    path = write(tmp_path, "", name="BTC_USDT-1h.csv.gz")
    assert "empty" in load_error(path).reason


def test_header_only(tmp_path):
    path = write(tmp_path, HEADER)
    error = load_error(path)
    assert_names(error, path, 2, None)
    assert "no bars" in error.reason


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ("2024-01-01T01:00:00Z,nan,108.0,101.0,102.0,8.0\n", "open", "finite"),
        ("2024-01-01T01:00:00Z,105.0,inf,101.0,102.0,8.0\n", "high", "finite"),
        ("2024-01-01T01:00:00Z,105.0,108.0,101.0,102.0,NaN\n", "volume", "finite"),
        ("2024-01-01T01:00:00Z,105.0,101.0,108.0,102.0,8.0\n", "high", "below low"),
        ("2024-01-01T01:00:00Z,0,108.0,0,102.0,8.0\n", "open", "above zero"),
        ("2024-01-01T01:00:00Z,105.0,108.0,-1.0,102.0,8.0\n", "low", "above zero"),
        ("2024-01-01T01:00:00Z,105.0,108.0,101.0,102.0,-0.5\n", "volume", "zero or more"),
        ("2024-01-01T01:00:00Z,120.0,108.0,101.0,102.0,8.0\n", "open", "outside"),
        ("2024-01-01T01:00:00Z,105.0,108.0,101.0,99.0,8.0\n", "close", "outside"),
    ],
)
def test_bad_tick_raises_by_default(tmp_path, row, field, words):
    path = write(tmp_path, with_row(1, row))
    error = load_error(path)
    assert_names(error, path, 3, field)
    assert words in error.reason


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("2024-01-01T01:00:00,105.0,108.0,101.0,102.0,8.0\n", "naive"),
        ("2024-01-01 01:00:00,105.0,108.0,101.0,102.0,8.0\n", "naive"),
        ("yesterday,105.0,108.0,101.0,102.0,8.0\n", "ISO 8601"),
        ("2024-01-01T03:00:00+02:00,105.0,108.0,101.0,102.0,8.0\n", "offset"),
        (",105.0,108.0,101.0,102.0,8.0\n", "ISO 8601"),
    ],
)
def test_bad_timestamp(tmp_path, row, words):
    path = write(tmp_path, with_row(1, row))
    error = load_error(path)
    assert_names(error, path, 3, "timestamp")
    assert words in error.reason


def test_plus_zero_offset_is_utc(tmp_path):
    path = write(tmp_path, with_row(1, "2024-01-01T01:00:00+00:00,105.0,108.0,101.0,102.0,8.0\n"))
    assert len(load_bars(path)) == 3


def test_unparseable_number(tmp_path):
    path = write(tmp_path, with_row(2, "2024-01-01T02:00:00Z,102.0,104.0,99.5,abc,9.75\n"))
    error = load_error(path)
    assert_names(error, path, 4, "close")
    assert "'abc'" in error.reason


def test_unparseable_number_is_an_error_even_in_quarantine(tmp_path):
    path = write(tmp_path, with_row(2, "2024-01-01T02:00:00Z,102.0,104.0,99.5,,9.75\n"))
    with pytest.raises(DataError, match="field 'close'"):
        load_bars(path, quarantine=True)


def test_duplicate_timestamp_names_both_lines(tmp_path):
    path = write(tmp_path, with_row(2, "2024-01-01T01:00:00Z,102.0,104.0,99.5,103.25,9.75\n"))
    error = load_error(path)
    assert_names(error, path, 4, "timestamp")
    assert "line 3" in error.reason
    assert "repeats" in error.reason


def test_unsorted_timestamps_name_both_lines(tmp_path):
    rows = [GOOD[0], GOOD[2], GOOD[1]]
    path = write(tmp_path, HEADER + "".join(rows))
    error = load_error(path)
    assert_names(error, path, 4, "timestamp")
    assert "line 3" in error.reason
    assert "earlier" in error.reason


def test_order_errors_are_structural_even_in_quarantine(tmp_path):
    path = write(tmp_path, with_row(2, "2024-01-01T01:00:00Z,102.0,104.0,99.5,103.25,9.75\n"))
    with pytest.raises(DataError, match="repeats"):
        load_bars(path, quarantine=True)


@pytest.mark.parametrize(
    ("row", "field", "found"),
    [
        ("2024-01-01T01:00:00Z,105.0,108.0,101.0,102.0\n", "volume", "found 5"),
        ("2024-01-01T01:00:00Z,105.0,108.0\n", "low", "found 3"),
        ("2024-01-01T01:00:00Z,105.0,108.0,101.0,102.0,8.0,7\n", None, "found 7"),
    ],
)
def test_wrong_column_count(tmp_path, row, field, found):
    path = write(tmp_path, with_row(1, row))
    error = load_error(path)
    assert_names(error, path, 3, field)
    assert found in error.reason


def test_truncated_last_row(tmp_path):
    path = write(tmp_path, HEADER + "".join(GOOD) + "2024-01-01T03:00:00Z,103.2")
    assert_names(load_error(path), path, 5, "high")


def test_bar_off_the_grid(tmp_path):
    path = write(tmp_path, with_row(2, "2024-01-01T02:30:00Z,102.0,104.0,99.5,103.25,9.75\n"))
    error = load_error(path)
    assert_names(error, path, 4, "timestamp")
    assert "90m" in error.reason


def test_line_numbers_count_blank_lines(tmp_path):
    body = HEADER + GOOD[0] + "\n" + GOOD[1] + "2024-01-01T02:00:00Z,102.0,104.0,99.5,nan,9.75\n"
    path = write(tmp_path, body)
    assert_names(load_error(path), path, 5, "close")


def test_first_bad_row_is_reported(tmp_path):
    rows = [
        GOOD[0],
        "2024-01-01T01:00:00Z,105.0,108.0,101.0,102.0,-1\n",
        "2024-01-01T02:00:00Z,nan,104.0,99.5,103.25,9.75\n",
    ]
    path = write(tmp_path, HEADER + "".join(rows))
    assert_names(load_error(path), path, 3, "volume")


def test_gzip_file_errors_carry_line_numbers(tmp_path):
    path = write(
        tmp_path,
        with_row(1, "2024-01-01T01:00:00Z,105.0,101.0,108.0,102.0,8.0\n"),
        name="BTC_USDT-1h.csv.gz",
    )
    assert_names(load_error(path), path, 3, "high")


def test_missing_file(tmp_path):
    path = tmp_path / "ETH_USDT-1h.csv"
    error = load_error(path)
    assert error.path == str(path)


def test_instrument_not_in_name(tmp_path):
    path = write(tmp_path, HEADER + "".join(GOOD), name="prices.csv")
    assert "instrument" in load_error(path).reason
    assert load_bars(path, instrument="BTC-USDT").instrument == "BTC-USDT"


def test_single_bar_without_interval_in_name(tmp_path):
    path = write(tmp_path, HEADER + GOOD[0], name="BTC_USDT.csv")
    assert "interval" in load_error(path).reason
    assert load_bars(path, interval_ns=3_600_000_000_000).interval_ns == 3_600_000_000_000


def test_not_utf8(tmp_path):
    path = tmp_path / "BTC_USDT-1h.csv"
    path.write_bytes(HEADER.encode() + b"\xff\xfe,1,2,3\n")
    assert "UTF-8" in load_error(path).reason


# --- Parquet -------------------------------------------------------------------------------


def frame(**columns: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {
        "timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"],
        "open": [100.0, 105.0],
        "high": [110.0, 108.0],
        "low": [95.0, 101.0],
        "close": [105.0, 102.0],
        "volume": [12.5, 8.0],
    }
    base.update(columns)
    return pl.DataFrame(base)


def test_parquet_string_timestamps_load(tmp_path):
    path = tmp_path / "BTC_USDT-1h.parquet"
    frame().write_parquet(path)
    assert load_bars(path).close.tolist() == [105.0, 102.0]


def test_parquet_naive_datetime_is_refused(tmp_path):
    path = tmp_path / "BTC_USDT-1h.parquet"
    naive = frame().with_columns(pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%SZ"))
    naive.write_parquet(path)
    error = load_error(path)
    assert error.field == "timestamp"
    assert "naive" in error.reason


def test_parquet_bad_tick_names_its_row(tmp_path):
    path = tmp_path / "BTC_USDT-1h.parquet"
    frame(low=[95.0, float("nan")]).write_parquet(path)
    assert_names(load_error(path), path, 2, "low")


def test_parquet_missing_column(tmp_path):
    path = tmp_path / "BTC_USDT-1h.parquet"
    frame().drop("volume").write_parquet(path)
    assert_names(load_error(path), path, None, "volume")


def test_parquet_empty_cell(tmp_path):
    path = tmp_path / "BTC_USDT-1h.parquet"
    frame(close=[105.0, None]).write_parquet(path)
    assert_names(load_error(path), path, 2, "close")


def test_parquet_naive_string_timestamp(tmp_path):
    path = tmp_path / "BTC_USDT-1h.parquet"
    frame(timestamp=["2024-01-01T00:00:00Z", "2024-01-01T01:00:00"]).write_parquet(path)
    assert_names(load_error(path), path, 2, "timestamp")


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "BTC_USDT-1h.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    assert load_error(path).path == str(path)


ONE_GB = 1 << 30


def sparse(path: Path, head: bytes = b"", size: int = ONE_GB) -> Path:
    """Make a file of `size` bytes that costs no disk: `head`, then a hole read as NUL bytes."""
    path.write_bytes(head)
    os.truncate(path, size)
    return path


def peak_bytes_of(action) -> int:
    """Return the most memory Python allocated while `action` ran."""
    tracemalloc.start()
    try:
        action()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize(
    ("name", "head", "line"),
    [
        ("BTC_USDT-1h.csv", b"", 1),
        ("BTC_USDT-1h.csv", (HEADER + "".join(GOOD)).encode(), 5),
        ("BTC_USDT-1h.parquet", b"", None),
        ("BTC_USDT-1h.parquet", b"PAR1", None),
    ],
)
def test_a_1_gb_sparse_file_is_refused_early_in_bounded_memory(tmp_path, name, head, line):
    path = sparse(tmp_path / name, head)
    caught: list[DataError] = []

    def load() -> None:
        with pytest.raises(DataError) as error:
            load_bars(path)
        caught.append(error.value)

    assert peak_bytes_of(load) < 8 << 20  # one read chunk, not the gigabyte
    assert_names(caught[0], path, line, None)
    assert "NUL" in str(caught[0]) or "Parquet" in str(caught[0])


def test_a_gzip_that_inflates_to_nul_bytes_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "BTC_USDT-1h.csv.gz"
    with gzip.open(path, "wb", compresslevel=1) as stream:
        stream.write(HEADER.encode())
        for _ in range(64):
            stream.write(bytes(1 << 20))
    caught: list[DataError] = []

    def load() -> None:
        with pytest.raises(DataError) as error:
            load_bars(path)
        caught.append(error.value)

    assert peak_bytes_of(load) < 8 << 20
    assert_names(caught[0], path, 2, None)


def test_a_line_longer_than_any_bar_line_is_refused_with_its_number(tmp_path):
    path = write(tmp_path, HEADER + GOOD[0] + "x" * (MAX_LINE_BYTES + 1) + "\n" + GOOD[1])
    error = load_error(path)
    assert_names(error, path, 3, None)
    assert "over" in str(error)


def test_a_long_line_split_across_read_chunks_is_still_found(tmp_path):
    # The long line starts near the end of the first 1 MiB chunk and ends in the second.
    padding = "#" * 100 + "\n"
    lead = (HEADER + padding * ((1 << 20) // len(padding))).encode()
    path = tmp_path / "BTC_USDT-1h.csv"
    path.write_bytes(lead + b"y" * (MAX_LINE_BYTES + 10) + b"\n")
    error = load_error(path)
    assert_names(error, path, lead.count(b"\n") + 1, None)


def test_a_quoted_field_over_many_lines_beyond_the_csv_limit_is_a_data_error(tmp_path):
    path = write(tmp_path, HEADER + '"' + ("a" * 100 + "\n") * 2000)
    error = load_error(path)
    assert error.path == str(path)
    assert "expected CSV" in str(error)
