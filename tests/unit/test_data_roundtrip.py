"""Writing then loading gives back the same bars, byte for byte, in every format."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinswarm.data import load_bars, synthetic_market, write_bars
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries

SUFFIXES = [".csv", ".csv.gz", ".parquet"]


def assert_same(left: BarSeries, right: BarSeries) -> None:
    assert left.instrument == right.instrument
    assert left.interval_ns == right.interval_ns
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(left, name), getattr(right, name), err_msg=name)
        assert getattr(left, name).dtype == getattr(right, name).dtype


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_synthetic_round_trip(tmp_path, suffix):
    series = synthetic_market(instrument="SYN-USDT", bars=500, seed=3)
    path = tmp_path / f"SYN_USDT-1h{suffix}"
    write_bars(series, path)
    assert_same(load_bars(path), series)


def test_csv_text_is_short_decimals(tmp_path):
    path = tmp_path / "SYN_USDT-1h.csv"
    write_bars(synthetic_market(bars=3, seed=1), path)
    lines = path.read_text().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    assert lines[1].startswith("2022-01-01T00:00:00Z,20000.0,")
    assert all(len(value) < 14 for line in lines[1:] for value in line.split(",")[1:])


def test_gzip_output_is_deterministic(tmp_path):
    series = synthetic_market(bars=50, seed=2)
    first, second = tmp_path / "a" / "SYN_USDT-1h.csv.gz", tmp_path / "b" / "SYN_USDT-1h.csv.gz"
    write_bars(series, first)
    write_bars(series, second)
    assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(first.read_bytes()).startswith(b"timestamp,")


def test_write_leaves_no_temporary_files(tmp_path):
    for suffix in SUFFIXES:
        write_bars(synthetic_market(bars=5), tmp_path / f"SYN_USDT-1h{suffix}")
    assert sorted(os.listdir(tmp_path)) == [f"SYN_USDT-1h{s}" for s in sorted(SUFFIXES)]


def test_write_is_atomic_when_it_fails(tmp_path):
    path = tmp_path / "SYN_USDT-1h.csv"
    write_bars(synthetic_market(bars=5), path)
    before = path.read_bytes()
    bad = BarSeries("SYN-USDT", NS_PER_HOUR, np.array([1], dtype=np.int64), *[np.ones(1)] * 5)
    with pytest.raises(ValueError, match="whole microseconds"):
        write_bars(bad, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["SYN_USDT-1h.csv"]


def test_write_keeps_ordinary_permissions(tmp_path):
    path = tmp_path / "SYN_USDT-1h.csv"
    write_bars(synthetic_market(bars=5), path)
    assert path.stat().st_mode & 0o444 == 0o444


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.parquet"):
        write_bars(synthetic_market(bars=5), tmp_path / "SYN_USDT-1h.json")


# --- properties ----------------------------------------------------------------------------

prices = st.floats(min_value=1e-8, max_value=1e9, allow_nan=False, allow_infinity=False)
volumes = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)


@st.composite
def bar_series(draw: st.DrawFn) -> BarSeries:
    """Draw a valid series: any floats (not just short decimals), steps on the hour grid."""
    count = draw(st.integers(min_value=2, max_value=30))
    steps = draw(st.lists(st.integers(1, 5), min_size=count - 1, max_size=count - 1))
    start = draw(st.integers(0, 400_000)) * NS_PER_HOUR
    ts = start + np.cumsum([0, *steps]).astype(np.int64) * NS_PER_HOUR
    rows = []
    for _ in range(count):
        a, b, c, d = sorted(draw(st.lists(prices, min_size=4, max_size=4)))
        open_, close = (b, c) if draw(st.booleans()) else (c, b)
        rows.append((a, open_, d, close, draw(volumes)))  # low, open, high, close, volume
    low, open_, high, close, volume = (
        np.array(column, dtype=np.float64) for column in zip(*rows, strict=True)
    )
    return BarSeries("HYP-USDT", NS_PER_HOUR, ts, open_, high, low, close, volume)


@pytest.mark.parametrize("suffix", SUFFIXES)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(series=bar_series())
def test_write_then_load_is_identity(tmp_path: Path, suffix: str, series: BarSeries) -> None:
    path = tmp_path / f"HYP_USDT-1h{suffix}"
    write_bars(series, path)
    assert_same(load_bars(path), series)
