"""The report's stops table: each risk event beside the drawdown since the run's first peak."""

from __future__ import annotations

import numpy as np
import pytest

from coinswarm.backtest.result import EquityCurve
from coinswarm.backtest.stops import stop_rows, stops_section
from coinswarm.risk.kill_switch import KillSwitchEvent, KillSwitchEventKind

HOUR = 3_600_000_000_000


def _curve(values: list[float]) -> EquityCurve:
    ts = np.arange(1, len(values) + 1, dtype=np.int64) * HOUR
    return EquityCurve(ts, np.array(values, dtype=np.float64), np.zeros(len(values)))


def _event(hour: float, kind: KillSwitchEventKind, by: str | None = None) -> KillSwitchEvent:
    return KillSwitchEvent(ts=int(hour * HOUR), kind=kind, reason="why", by=by)


def test_each_event_is_valued_at_the_last_close_before_it_against_the_first_peak() -> None:
    curve = _curve([100.0, 120.0, 90.0, 130.0, 65.0])
    events = [
        _event(0.5, KillSwitchEventKind.MANUAL_STOP, by="ada"),  # before the first close
        _event(3.5, KillSwitchEventKind.TOTAL_LOSS_STOP),  # after 90: 25% below 120
        _event(4.0, KillSwitchEventKind.RESET, by="operator"),  # at 130: a new peak, 0%
        _event(9.0, KillSwitchEventKind.TOTAL_LOSS_STOP),  # after 65: 50% below 130
    ]
    rows = stop_rows(events, curve, initial_cash=100.0)
    assert [r.equity for r in rows] == [100.0, 90.0, 130.0, 65.0]
    assert [r.drawdown_since_first_peak for r in rows] == pytest.approx([0.0, 0.25, 0.0, 0.5])
    assert rows[0].cells()[2] == "ada"
    assert rows[3].cells()[4] == "50.00%"


def test_the_section_names_the_worst_drawdown_and_what_the_limit_measures() -> None:
    curve = _curve([100.0, 50.0])
    rows = stop_rows(
        [_event(2, KillSwitchEventKind.TOTAL_LOSS_STOP), _event(2, KillSwitchEventKind.RESET)],
        curve,
        initial_cash=100.0,
    )
    lines = stops_section(rows, total_loss_limit=0.10)
    assert "2 risk events, 1 of them resets" in lines[0]
    assert "50.00%" in lines[0]
    assert "limit (10%)" in lines[1]
    assert "re-bases" in lines[1]
    assert len(stops_section(rows, total_loss_limit=None)) == 1
