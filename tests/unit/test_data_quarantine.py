"""Quarantine mode: bad ticks are withheld and listed, so strategies never see them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coinswarm.data import QuarantinedRow, load_bars, load_bars_with_quarantine
from coinswarm.domain.errors import DataError

HEADER = "timestamp,open,high,low,close,volume\n"
ROWS = [
    "2024-01-01T00:00:00Z,100.0,110.0,95.0,105.0,12.5",
    "2024-01-01T01:00:00Z,nan,108.0,101.0,102.0,8.0",
    "2024-01-01T02:00:00Z,102.0,104.0,99.5,103.25,9.75",
    "2024-01-01T03:00:00Z,103.0,101.0,104.0,102.0,1.0",
    "2024-01-01T04:00:00Z,0,104.0,0,103.0,1.0",
    "2024-01-01T05:00:00Z,103.0,104.0,102.0,103.5,-2",
    "2024-01-01T06:00:00Z,103.5,105.0,103.0,104.0,0.0",
]


def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "ETH_USDT-1h.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n")
    return path


def test_bad_ticks_are_withheld_and_listed(tmp_path):
    result = load_bars_with_quarantine(bad_file(tmp_path))
    assert result.series.close.tolist() == [105.0, 103.25, 104.0]
    assert [row.line for row in result.quarantined] == [3, 5, 6, 7]
    assert [row.field for row in result.quarantined] == ["open", "high", "open", "volume"]
    assert result.quarantined[0] == QuarantinedRow(
        3,
        "open",
        "expected a finite number, found nan",
        ROWS[1],
    )


def test_series_left_after_quarantine_is_clean(tmp_path):
    series = load_bars(bad_file(tmp_path), quarantine=True)
    for column in (series.open, series.high, series.low, series.close):
        assert np.isfinite(column).all()
        assert (column > 0).all()
    assert (series.volume >= 0).all()
    assert (series.low <= np.minimum(series.open, series.close)).all()
    assert (series.high >= np.maximum(series.open, series.close)).all()


def test_quarantined_bars_leave_gaps_not_fills(tmp_path):
    series = load_bars(bad_file(tmp_path), quarantine=True)
    hours = (series.ts - series.ts[0]) // 3_600_000_000_000
    assert hours.tolist() == [0, 2, 6]
    assert series.interval_ns == 3_600_000_000_000


def test_zero_volume_is_a_valid_bar(tmp_path):
    series = load_bars(bad_file(tmp_path), quarantine=True)
    assert series.volume[-1] == 0.0


def test_quarantine_false_on_the_full_api_raises(tmp_path):
    path = bad_file(tmp_path)
    with pytest.raises(DataError, match="field 'open'") as caught:
        load_bars_with_quarantine(path, quarantine=False)
    assert str(caught.value).startswith(f"{path}:3: ")


def test_clean_file_has_nothing_in_quarantine(tmp_path):
    path = tmp_path / "ETH_USDT-1h.csv"
    path.write_text(HEADER + ROWS[0] + "\n" + ROWS[2] + "\n")
    assert load_bars_with_quarantine(path).quarantined == ()
