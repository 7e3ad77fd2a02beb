"""The loader against real Binance history: every file loads and its known scars show."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from coinswarm.data import (
    find_gaps,
    format_timestamp,
    inspect_series,
    load_bars,
    load_bars_with_quarantine,
    resample,
    write_bars,
)
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries

PAIRS = ["ADA", "AVAX", "BCH", "BTC", "DOGE", "DOT", "ETH", "LINK", "LTC", "SOL", "XRP"]
LAST_BAR = int(datetime(2023, 12, 31, 23, tzinfo=UTC).timestamp()) * 10**9


@pytest.fixture(scope="module")
def btc(btc_file: Path) -> BarSeries:
    return load_bars(btc_file)


def test_all_eleven_files_are_present(shared_data):
    assert sorted(path.name for path in shared_data.glob("*.csv.gz")) == [
        f"{pair}_USDT-1h.csv.gz" for pair in PAIRS
    ]


@pytest.mark.parametrize("pair", PAIRS)
def test_every_file_loads_clean(shared_data, pair):
    result = load_bars_with_quarantine(shared_data / f"{pair}_USDT-1h.csv.gz")
    series = result.series
    assert result.quarantined == ()
    assert series.instrument == f"{pair}-USDT"
    assert series.interval_ns == NS_PER_HOUR
    assert len(series) > 25_000
    assert series.ts[-1] == LAST_BAR
    assert (np.diff(series.ts) > 0).all()


def test_btc_gaps(btc):
    gaps = find_gaps(btc)
    assert len(gaps) == 27
    longest = max(gaps, key=lambda gap: gap.missing_bars)
    assert longest.span_ns == 34 * NS_PER_HOUR
    assert longest.missing_bars == 33
    assert format_timestamp(longest.start_ns).startswith("2018-02")
    assert all(gap.missing_bars < longest.missing_bars for gap in gaps if gap is not longest)


@pytest.mark.parametrize("day", ["2020-03-12", "2021-05-19", "2021-12-04"])
def test_btc_flash_crashes_show_in_inspection(btc, day):
    report = inspect_series(btc, top=10)
    drops = [move for move in report.top_moves if format_timestamp(move.ts).startswith(day)]
    assert drops, f"no top move on {day}: {report.render_lines()}"
    assert min(move.swing for move in drops) < -0.15


def test_btc_inspection_summary(btc):
    report = inspect_series(btc)
    assert report.bars == len(btc) == 52_462
    assert report.expected_bars == report.bars + sum(gap.missing_bars for gap in report.gaps)
    assert 0.99 < report.coverage < 1.0
    assert report.render_lines()[0].startswith("BTC-USDT  1h bars  2018-01-01T00:00:00Z")


def test_btc_resamples_to_daily(btc):
    daily = resample(btc, 24 * NS_PER_HOUR)
    assert len(daily) == (LAST_BAR - int(btc.ts[0])) // (24 * NS_PER_HOUR) + 1
    assert daily.volume.sum() == pytest.approx(btc.volume.sum(), rel=1e-12)


@pytest.mark.parametrize("suffix", [".csv.gz", ".parquet"])
def test_btc_round_trips_exactly(btc, tmp_path, suffix):
    path = tmp_path / f"BTC_USDT-1h{suffix}"
    write_bars(btc, path)
    again = load_bars(path)
    for name in ("ts", "open", "high", "low", "close", "volume"):
        assert getattr(again, name).tobytes() == getattr(btc, name).tobytes()


def test_btc_written_text_matches_the_source(btc_file, btc, tmp_path):
    path = tmp_path / "BTC_USDT-1h.csv"
    write_bars(btc, path)
    source = gzip.decompress(btc_file.read_bytes()).decode().splitlines()
    written = path.read_text().splitlines()
    assert written == source
