"""Progress on stderr: a bar on a terminal, plain lines in a log, nothing when asked for quiet.

Sessions last hours: piped into a log, a paper, sandbox or live run leaves one line at its
first bar, then one every `LINE_EVERY_S` seconds at most, and one at its end.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from rich.console import Console

from coinswarm.backtest.progress import RunProgress
from coinswarm.cli._progress import LINE_EVERY_S, PROGRESS_VARIABLE, RunProgressView, describe

HOUR_NS = 3600 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01 00:00 UTC


def report(bars: int, *, total: int | None = 500, done: bool = False) -> RunProgress:
    return RunProgress(
        bars=bars,
        total=total,
        market_ts=T0 + bars * HOUR_NS,
        equity=Decimal("100234.5678"),
        quote="USD",
        orders=bars // 10,
        fills=1,
        done=done,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def view(*, terminal: bool = False, quiet: bool = False, piped_lines: bool = True):
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=200)
    clock = Clock()
    shown = RunProgressView(
        "paper committee",
        quiet=quiet,
        lines_when_piped=piped_lines,
        console=console,
        monotonic=clock,
    )
    return shown, out, clock


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_VARIABLE, raising=False)


def test_a_line_says_bars_time_equity_orders_and_fills() -> None:
    assert describe(report(12)) == (
        "bar 12 of 500, at 2024-01-01 12:00 UTC, equity 100,234.57 USD, 1 order, 1 fill"
    )
    assert describe(report(30, total=None)).startswith("bar 30, at ")
    assert describe(report(40, done=True)).startswith("ended after 40 bars, ")
    unpriced = RunProgress(
        bars=1, total=None, market_ts=None, equity=None, quote="USD", orders=0, fills=0
    )
    assert describe(unpriced) == "bar 1, equity not yet priced, 0 orders, 0 fills"


def test_piped_a_session_prints_a_line_at_first_then_every_so_often_and_at_the_end() -> None:
    shown, out, clock = view()
    for bar in range(1, 101):
        shown(report(bar))
        clock.now += LINE_EVERY_S / 4  # four bars between two lines
    shown(report(100, done=True))
    lines = out.getvalue().splitlines()
    assert lines[0] == f"paper committee: {describe(report(1))}"
    assert [line.split(",")[0] for line in lines[:3]] == [
        "paper committee: bar 1 of 500",
        "paper committee: bar 5 of 500",
        "paper committee: bar 9 of 500",
    ]
    assert len(lines) == 26  # 25 while it ran, 1 at its end
    assert lines[-1].startswith("paper committee: ended after 100 bars")


def test_a_backtest_piped_prints_nothing_and_quiet_prints_nothing_anywhere() -> None:
    backtest, out, _ = view(piped_lines=False)
    backtest(report(1))
    backtest(report(2, done=True))
    assert out.getvalue() == ""
    quiet, out, _ = view(quiet=True, terminal=True)
    quiet(report(1))
    quiet(report(2, done=True))
    assert out.getvalue() == ""


def test_the_variable_forces_lines_or_nothing_but_quiet_still_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PROGRESS_VARIABLE, "lines")
    forced, out, _ = view(piped_lines=False, terminal=True)
    forced(report(3))
    assert out.getvalue().startswith("paper committee: bar 3 of 500")
    quiet, out, _ = view(quiet=True)
    quiet(report(3))
    assert out.getvalue() == ""
    monkeypatch.setenv(PROGRESS_VARIABLE, "off")
    off, out, _ = view()
    off(report(3))
    assert out.getvalue() == ""


def test_on_a_terminal_a_bar_appears_after_a_second_and_leaves_no_trace() -> None:
    shown, out, clock = view(terminal=True)
    shown(report(1))
    assert out.getvalue() == ""  # a run shorter than a second never draws
    clock.now = 2.0
    shown(report(2))
    shown(report(3))
    shown.close()  # draws its last state, then takes it off the screen
    drawn = out.getvalue()
    assert "bar 3 of 500" in drawn
    assert "equity 100,234.57 USD" in drawn
    assert "\x1b[?25h" in drawn  # the cursor is given back
