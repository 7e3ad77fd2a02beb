"""The daily reports' timer: at 00:00 UTC, write the day just ended and send it.

A part of `coinswarm serve` (`Services.parts["daily"]`, started and stopped with the app). It
sleeps until the next UTC midnight by its clock, in naps of at most `max_nap_s`, checking the
clock after each, so a wall clock that jumps (NTP, a laptop waking up) is caught within a nap;
then it writes the reports of the day before in a worker thread (reading the stores and
loading bars must not hold up the server's event loop) and hands the accounts that had
anything that day to the server's alert engine (`parts["alerts"]`), when it has one. A
failure is logged and kept in `stats()`; the timer goes on to the next midnight.

The clock and the sleep are injected: a test runs a day in a blink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from coinswarm.backtest.defaults import data_home
from coinswarm.reporting.daily import account_reports
from coinswarm.reporting.daily_files import WrittenReport, write_report
from coinswarm.reporting.days import NS_PER_DAY, day_before, next_midnight_ns
from coinswarm.reporting.send import send_written

__all__ = [
    "DAILY",
    "NS_PER_DAY",
    "DailyReports",
    "day_before",
    "default_reports_dir",
    "next_midnight_ns",
]

logger = logging.getLogger(__name__)

DAILY = "daily"
"""The part's name in `Services.parts`."""
ALERTS = "alerts"


def default_reports_dir() -> Path:
    """Return the reports folder in the data folder."""
    return data_home() / "reports"


class DailyReports:
    """Write (and send) the previous day's reports at each UTC midnight (see the module)."""

    def __init__(
        self,
        *,
        db: str | None = None,
        out: Path | None = None,
        clock_ns: Callable[[], int],
        parts: Mapping[str, Any] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_nap_s: float = 300.0,
    ) -> None:
        self._db = db
        self._out = out
        self._clock_ns = clock_ns
        self._parts = parts if parts is not None else {}
        self._sleep = sleep
        self._max_nap_s = max_nap_s
        self._task: asyncio.Task[None] | None = None
        self.next_ns: int | None = None
        self.last_day: date | None = None
        self.last_error: str | None = None
        self.written: list[Path] = []
        self.sent = 0

    @property
    def out(self) -> Path:
        return self._out or default_reports_dir()

    async def start(self) -> None:
        """Start waiting for the next midnight."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="daily-reports")

    async def stop(self) -> None:
        """Stop the timer (a report being written is abandoned; files stay whole)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            due = self.next_ns = next_midnight_ns(self._clock_ns())
            while (now := self._clock_ns()) < due:
                await self._sleep(min((due - now) / 1e9, self._max_nap_s))
            await self.run_day(day_before(due))

    async def run_day(self, day: date) -> list[WrittenReport]:
        """Write `day`'s reports, send those with anything in them; return what was written."""
        try:
            written = await asyncio.to_thread(self._write, day)
        except Exception as error:  # the timer must outlive one bad night
            logger.exception("daily reports of %s could not be written", day)
            self.last_error = f"{day}: {error}"
            return []
        self.last_day = day
        self.written.extend(path for one in written for path in one.paths)
        busy = [one for one in written if not one.report.empty or one.report.alerts]
        sender = self._parts.get(ALERTS)
        if busy and sender is not None and hasattr(sender, "send_report"):
            try:
                ids = await send_written(sender, busy)
            except Exception as error:
                logger.exception("daily reports of %s could not be sent", day)
                self.last_error = f"{day}: sending: {error}"
            else:
                self.sent += sum(1 for queued in ids if queued is not None)
        return written

    def _write(self, day: date) -> list[WrittenReport]:
        reports = account_reports(day, db=self._db, made_ns=self._clock_ns())
        return [write_report(report, self.out) for report in reports]

    def stats(self) -> dict[str, Any]:
        """Return when the timer fires next and what it did last, for GET /api/system."""
        return {
            "running": self._task is not None and not self._task.done(),
            "next_ns": self.next_ns,
            "last_day": None if self.last_day is None else self.last_day.isoformat(),
            "last_error": self.last_error,
            "files_written": len(self.written),
            "reports_sent": self.sent,
            "folder": str(self.out),
        }
