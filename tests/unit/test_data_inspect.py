"""`inspect_series`: span, coverage, gaps and the most violent bars, as data and as text."""

from __future__ import annotations

import numpy as np
import pytest

from coinswarm.data import Gap, inspect_series
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries


def hourly(hours: list[int], lows: list[float] | None = None) -> BarSeries:
    ts = np.array(hours, dtype=np.int64) * NS_PER_HOUR
    n = len(hours)
    opens = np.full(n, 100.0)
    low = np.array(lows, dtype=np.float64) if lows is not None else np.full(n, 99.0)
    high = np.full(n, 101.0)
    close = np.maximum(low, 99.5)
    return BarSeries("T-USD", NS_PER_HOUR, ts, opens, high, low, close, np.ones(n))


def test_counts_and_coverage():
    report = inspect_series(hourly([0, 1, 2, 6, 7]))
    assert report.bars == 5
    assert report.expected_bars == 8
    assert report.missing_bars == 3
    assert report.coverage == pytest.approx(5 / 8)
    assert report.first_ts == 0
    assert report.last_ts == 7 * NS_PER_HOUR
    assert report.gaps == (Gap(2 * NS_PER_HOUR, 6 * NS_PER_HOUR, 3),)


def test_top_moves_are_largest_intrabar_swings_first():
    report = inspect_series(hourly([0, 1, 2, 3], lows=[99.0, 80.0, 95.0, 70.0]), top=2)
    assert [move.ts // NS_PER_HOUR for move in report.top_moves] == [3, 1]
    assert report.top_moves[0].swing == pytest.approx(-0.30)
    assert report.top_moves[0].close_change == pytest.approx(-0.005)


def test_rises_count_as_moves():
    series = hourly([0, 1])
    high = series.high.copy()
    high[1] = 150.0
    spiky = BarSeries(
        "T-USD", NS_PER_HOUR, series.ts, series.open, high, series.low, series.close, series.volume
    )
    assert inspect_series(spiky, top=1).top_moves[0].swing == pytest.approx(0.5)


def test_render_lines():
    lines = inspect_series(hourly([0, 1, 2, 6, 7], lows=[99, 99, 80, 99, 99])).render_lines()
    text = "\n".join(lines)
    assert lines[0] == "T-USD  1h bars  1970-01-01T00:00:00Z .. 1970-01-01T07:00:00Z"
    assert "5 of 8 expected (62.50% coverage)" in text
    assert "1970-01-01T02:00:00Z -> 1970-01-01T06:00:00Z  3 bars missing" in text
    assert "1970-01-01T02:00:00Z   -20.00%" in text
    assert all(isinstance(line, str) and "\n" not in line for line in lines)


def test_render_lines_limits_gap_listing():
    report = inspect_series(hourly([0, 2, 4, 6, 8]))
    lines = report.render_lines(max_gaps=2)
    assert sum("bars missing" in line and "->" in line for line in lines) == 2
    assert any(line.startswith("gaps      4 ") for line in lines)


def test_empty_series():
    report = inspect_series(hourly([]))
    assert report.bars == 0
    assert report.first_ts is None
    assert report.top_moves == ()
    assert report.render_lines()[1] == "bars      none"


def test_no_gaps_line():
    assert "gaps      none" in inspect_series(hourly([0, 1, 2])).render_lines()
