"""Send written daily reports through the alert channels (`infra.alerts`).

Each account's report is one message: its gist as text (what SMS, webhooks and Telegram carry)
and its three files attached (what email carries). The alert engine writes it to its outbox
before `send_report` returns and delivers it until each channel took it, like any alert; the
key `report:daily:<day>:<mode>` makes a report sent twice within the engine's window one
message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from coinswarm.infra.storage.alert_records import Attachment
from coinswarm.reporting.daily_files import WrittenReport, report_text

__all__ = ["ReportSender", "attachments_of", "report_key", "send_written"]

_TYPES = {".html": "text/html", ".csv": "text/csv"}


class ReportSender(Protocol):
    """What sends a report: `AlertEngine` is one."""

    async def send_report(
        self,
        subject: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        key: str | None = None,
        run_id: str | None = None,
    ) -> int | None:
        """Queue the report for every channel; None if the same key was sent recently."""
        ...


def report_key(written: WrittenReport) -> str:
    """Return the de-duplication key of a report: one message per account and day."""
    return f"report:daily:{written.report.day.isoformat()}:{written.report.mode}"


def attachments_of(written: WrittenReport) -> list[Attachment]:
    """Return the report's files as attachments, read back from disk as written."""
    return [
        Attachment(path.name, _TYPES.get(path.suffix, "text/plain"), path.read_bytes())
        for path in written.paths
    ]


def subject_of(written: WrittenReport) -> str:
    report = written.report
    return f"Daily P&L {report.day.isoformat()} {report.mode}"


async def send_written(sender: ReportSender, written: Sequence[WrittenReport]) -> list[int | None]:
    """Send each report; return the id each was queued under (None: sent before, skipped)."""
    return [
        await sender.send_report(
            subject_of(one), report_text(one.report), attachments_of(one), key=report_key(one)
        )
        for one in written
    ]
