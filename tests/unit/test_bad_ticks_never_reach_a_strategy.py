"""RELIABILITY scenario 17: NaN, inf, zero or negative prices and high < low are quarantined
at ingestion, produce no order, and no strategy ever sees them."""

from __future__ import annotations

import math

import pytest

from coinswarm.backtest.engine import run_backtest
from coinswarm.data import load_bars, load_bars_with_quarantine, synthetic_market, write_bars
from coinswarm.domain.errors import DataError

BAD_TICKS = {
    5: ("close", "nan"),
    9: ("open", "inf"),
    14: ("low", "0"),
    20: ("high", "-3"),
}


class Watcher:
    name = "watcher"

    def __init__(self):
        self.seen = []

    def on_bar(self, bar, context):
        self.seen.append(bar)
        history = context.market.history(bar.instrument)
        assert all(math.isfinite(x) and x > 0 for x in history.tolist())
        return []


def corrupted_file(tmp_path):
    series = synthetic_market(instrument="BTC-USDT", bars=40, seed=2)
    path = tmp_path / "BTC_USDT-1h.csv"
    write_bars(series, path)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    for line, (field, value) in BAD_TICKS.items():  # file line numbers: the header is line 1
        cells = lines[line - 1].split(",")
        cells[header.index(field)] = value
        lines[line - 1] = ",".join(cells)
    cells = lines[30 - 1].split(",")
    cells[2], cells[3] = cells[3], cells[2]  # high below low
    lines[30 - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path, series


def test_bad_ticks_are_quarantined_and_never_shown_to_a_strategy(tmp_path):
    path, original = corrupted_file(tmp_path)
    loaded = load_bars_with_quarantine(path)
    assert sorted(q.line for q in loaded.quarantined) == [*sorted(BAD_TICKS), 30]
    watcher = Watcher()
    result = run_backtest([loaded.series], watcher)
    assert len(watcher.seen) == 40 - 5
    bad_times = {int(original.ts[line - 2]) for line in (*BAD_TICKS, 30)}
    assert not bad_times & {bar.ts for bar in watcher.seen}
    assert result.orders == ()


def test_by_default_the_first_bad_tick_is_an_error_naming_file_line_and_field(tmp_path):
    path, _ = corrupted_file(tmp_path)
    with pytest.raises(DataError, match=rf"{path.name}:5: field 'close'"):
        load_bars(path)
