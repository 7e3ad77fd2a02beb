"""The daily reports' timer: at 00:00 UTC by its clock it writes the day just ended and sends
the accounts that had anything; a clock and a sleep of the test's stand in for the real ones."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime

import pytest

from coinswarm.reporting.schedule import DailyReports, day_before, next_midnight_ns
from report_harness import END, START, D, known_day

NS = 1_000_000_000


class FakeTime:
    """A clock that moves only when the timer sleeps."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns
        self.naps: list[float] = []

    def clock(self) -> int:
        return self.now_ns

    async def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now_ns += round(seconds * NS)
        await asyncio.sleep(0)


class Sender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list[str], str | None]] = []

    async def send_report(
        self,
        subject: str,
        text: str,
        attachments: Sequence[object] = (),
        *,
        key: str | None = None,
        run_id: str | None = None,
    ) -> int | None:
        names = [getattr(a, "filename", "") for a in attachments]
        self.sent.append((subject, text, names, key))
        return len(self.sent)


def test_next_midnight_is_the_first_one_strictly_after():
    assert next_midnight_ns(START) == END
    assert next_midnight_ns(START - 1) == START
    assert next_midnight_ns(END - 1) == END
    assert day_before(END) == D
    stamp = datetime.fromtimestamp(next_midnight_ns(START + 123) // NS, tz=UTC)
    assert (stamp.hour, stamp.minute, stamp.second) == (0, 0, 0)


async def until_written(timer: DailyReports, count: int) -> None:
    async with asyncio.timeout(30):
        while len(timer.written) < count:
            await asyncio.sleep(0.01)


def test_the_timer_writes_and_sends_the_day_at_midnight(tmp_path):
    book = known_day(f"sqlite:///{tmp_path / 'sandbox.db'}")
    book.store.close()
    fake = FakeTime(END - 90 * NS)  # 23:58:30 on D
    sender = Sender()
    timer = DailyReports(
        db=book.url,
        out=tmp_path / "reports",
        clock_ns=fake.clock,
        parts={"alerts": sender},
        sleep=fake.sleep,
        max_nap_s=60.0,
    )

    async def run() -> None:
        await timer.start()
        await until_written(timer, 3)
        assert timer.stats()["next_ns"] == END + 86_400 * NS  # waiting for the next one
        await timer.stop()
        assert timer.stats()["running"] is False

    asyncio.run(run())
    # It slept in naps of at most a minute, and woke exactly at midnight.
    assert fake.naps[:2] == [60.0, 30.0]
    assert timer.last_day == D
    assert sorted(path.name for path in timer.written) == [
        "daily-2026-12-06-sandbox-summary.csv",
        "daily-2026-12-06-sandbox-trades.csv",
        "daily-2026-12-06-sandbox.html",
    ]
    assert all(path.is_file() for path in timer.written)
    ((subject, text, names, key),) = sender.sent
    assert subject == "Daily P&L 2026-12-06 sandbox"
    assert key == "report:daily:2026-12-06:sandbox"
    assert "net P&L -2.06" in text
    assert sorted(names) == sorted(path.name for path in timer.written)
    assert timer.stats()["reports_sent"] == 1


def test_a_quiet_day_is_written_but_not_sent(tmp_path):
    book = known_day(f"sqlite:///{tmp_path / 'sandbox.db'}")
    book.store.close()
    fake = FakeTime(END + 10 * 86_400 * NS)
    sender = Sender()
    timer = DailyReports(
        db=book.url, out=tmp_path, clock_ns=fake.clock, parts={"alerts": sender}, sleep=fake.sleep
    )
    written = asyncio.run(timer.run_day(day_before(next_midnight_ns(fake.now_ns))))
    (one,) = written
    assert one.report.empty
    assert one.html.is_file()
    assert sender.sent == []


def test_a_failing_night_is_kept_and_the_timer_goes_on(tmp_path, monkeypatch):
    fake = FakeTime(END - NS)
    timer = DailyReports(
        db="sqlite:////nonexistent-folder/x.db",
        out=tmp_path,
        clock_ns=fake.clock,
        sleep=fake.sleep,
    )

    nights = []

    def broken(day):
        nights.append(day)
        raise OSError("disk full")

    monkeypatch.setattr(timer, "_write", broken)

    async def run() -> None:
        await timer.start()
        async with asyncio.timeout(10):
            while len(nights) < 2:
                await asyncio.sleep(0.01)
        assert timer.stats()["running"] is True
        await timer.stop()

    asyncio.run(run())
    assert nights[:2] == [D, date(2026, 12, 7)]  # the next midnight came all the same
    assert timer.last_error is not None
    assert timer.last_error.endswith(": disk full")


@pytest.mark.parametrize("nap", [0.5, 300.0])
def test_a_clock_that_jumps_forward_is_caught_within_a_nap(tmp_path, nap):
    now = [START + NS]
    asked: list[float] = []

    async def nap_without_moving_the_clock(seconds: float) -> None:
        asked.append(seconds)
        await asyncio.sleep(0)

    seen: list[object] = []
    timer = DailyReports(
        out=tmp_path, clock_ns=lambda: now[0], sleep=nap_without_moving_the_clock, max_nap_s=nap
    )

    async def written(day):
        seen.append(day)
        return []

    timer.run_day = written  # type: ignore[method-assign]

    async def run() -> None:
        await timer.start()
        await asyncio.sleep(0.05)
        assert seen == []  # still waiting: midnight is hours away
        now[0] = END + 5 * NS  # the laptop slept through midnight
        async with asyncio.timeout(10):
            while not seen:
                await asyncio.sleep(0.01)
        await timer.stop()

    asyncio.run(run())
    assert seen[0] == D
    assert asked
    assert max(asked) <= nap
