"""A run's progress on stderr: a live bar on a terminal, a plain line now and then in a log.

Imported inside the commands that run strategies (rich is not needed to start the CLI).

What is shown: bars done (of how many, when known), the market time of the latest bar (the
replay's time in a paced paper run), equity, and the orders and fills so far. Where:

- stderr is a terminal: a live bar, drawn once the run has taken a second, gone when it ends;
- stderr is not a terminal (a log file, a service manager): for paper, sandbox and live, one
  plain line at the first bar, then at most one every `LINE_EVERY_S` seconds, and one at the
  end, so that a session of hours leaves a readable trail; a backtest prints none;
- `--quiet` or `--json`: nothing.

`COINSWARM_PROGRESS` overrides the choice: `lines` (plain lines, even on a terminal), `bar`,
or `off`; `--quiet` and `--json` still win.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from coinswarm.cli._shared import stderr

if TYPE_CHECKING:
    from coinswarm.backtest.progress import RunProgress

__all__ = ["LINE_EVERY_S", "PROGRESS_VARIABLE", "RunProgressView"]

PROGRESS_VARIABLE = "COINSWARM_PROGRESS"
LINE_EVERY_S = 10.0
BAR_AFTER_S = 1.0  # a run shorter than this never draws a bar: no flicker on quick runs
OFF, LINES, BAR = "off", "lines", "bar"


def _choose(*, quiet: bool, lines_when_piped: bool, console: Console) -> str:
    if quiet:
        return OFF
    forced = os.environ.get(PROGRESS_VARIABLE, "").strip().lower()
    if forced in (OFF, LINES, BAR):
        return forced
    if console.is_terminal:
        return BAR
    return LINES if lines_when_piped else OFF


def describe(progress: RunProgress) -> str:
    """Return the progress as one line of text, the same in the bar and in a log."""
    if progress.done:
        bars = f"ended after {progress.bars:,} bars"
    elif progress.total is not None:
        bars = f"bar {progress.bars:,} of {progress.total:,}"
    else:
        bars = f"bar {progress.bars:,}"
    parts = [bars]
    if progress.market_ts is not None:
        moment = datetime.fromtimestamp(progress.market_ts // 1_000_000_000, tz=UTC)
        parts.append(f"at {moment:%Y-%m-%d %H:%M} UTC")
    if progress.equity is None:
        parts.append("equity not yet priced")
    else:
        parts.append(f"equity {float(progress.equity):,.2f} {progress.quote}")
    parts.append(f"{_count(progress.orders, 'order')}, {_count(progress.fills, 'fill')}")
    return ", ".join(parts)


def _count(number: int, thing: str) -> str:
    return f"{number:,} {thing}" + ("" if number == 1 else "s")


class RunProgressView:
    """Show a run's progress on stderr as the module says; call `close` when the run ends."""

    def __init__(
        self,
        label: str,
        *,
        quiet: bool,
        lines_when_piped: bool = False,
        console: Console = stderr,
        monotonic: Callable[[], float] = time.monotonic,
        every_s: float = LINE_EVERY_S,
    ) -> None:
        self._label = label
        self._console = console
        self._monotonic = monotonic  # display timing only: never reaches the engine
        self._every_s = every_s
        self._mode = _choose(quiet=quiet, lines_when_piped=lines_when_piped, console=console)
        self._started = monotonic()
        self._last_line: float | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, progress: RunProgress) -> None:
        if self._mode == LINES:
            self._line(progress)
        elif self._mode == BAR:
            self._draw(progress)

    def _line(self, progress: RunProgress) -> None:
        now = self._monotonic()
        if progress.done or self._last_line is None or now - self._last_line >= self._every_s:
            self._last_line = now
            line = f"{self._label}: {describe(progress)}"
            self._console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _draw(self, progress: RunProgress) -> None:
        if self._bar is None:
            if progress.done or self._monotonic() - self._started < BAR_AFTER_S:
                return
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                console=self._console,
                transient=True,
            )
            self._task = self._bar.add_task(
                self._label,
                total=progress.total,
                completed=progress.bars,
                status=describe(progress),
            )
            self._bar.start()
        assert self._task is not None
        self._bar.update(
            self._task,
            completed=progress.bars,
            total=progress.total,
            status=describe(progress),
        )

    def close(self) -> None:
        """Take the bar off the screen (plain lines stay where they are)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
