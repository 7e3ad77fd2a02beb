"""`coinswarm report daily`: the daily P&L report of each account, written and sent on demand.

`coinswarm serve` writes and sends the same reports by itself at 00:00 UTC; this command is
for another day, another database, or a machine without the server (cron). The reports
module, the stores and the alert engine are imported when the command runs, never at start-up.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coinswarm.cli._shared import DbOption, app, fail, tell
from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from coinswarm.infra.alerts import AlertSettings
    from coinswarm.reporting.daily_files import WrittenReport

report_app = typer.Typer(
    no_args_is_help=True, help="Write (and send) the daily P&L report of each account."
)
app.add_typer(report_app, name="report")

SEND_TIMEOUT_S = 60.0
_CHANNEL_VARIABLES = (
    "COINSWARM_ALERT_EMAIL_HOST, COINSWARM_ALERT_SMS_ACCOUNT_SID, "
    "COINSWARM_ALERT_WEBHOOK_URLS or COINSWARM_ALERT_TELEGRAM_TOKEN"
)


def _yesterday() -> str:
    return (datetime.now(tz=UTC).date() - timedelta(days=1)).isoformat()


def _alert_settings() -> AlertSettings:
    """Return the alert settings, refusing (before anything is written) when no channel that
    reaches a person outside the server is configured."""
    from coinswarm.infra.alerts import AlertSettings  # noqa: PLC0415 - only with --send

    settings = AlertSettings()
    if not (settings.email_on or settings.sms_on or settings.webhook_urls or settings.telegram_on):
        msg = f"--send: no alert channel is configured (set {_CHANNEL_VARIABLES})"
        raise CoinswarmError(msg)
    return settings


async def _send(
    settings: AlertSettings, db: str | None, written: Sequence[WrittenReport]
) -> tuple[int, bool]:
    """Send the reports; return how many were queued and whether all were delivered."""
    from coinswarm.infra.alerts import AlertEngine  # noqa: PLC0415 - only with --send
    from coinswarm.reporting.send import send_written  # noqa: PLC0415

    engine = AlertEngine(settings, url=db)
    await engine.start()
    try:
        ids = await send_written(engine, written)
        delivered = await engine.drain(SEND_TIMEOUT_S)
    finally:
        await engine.stop()
    return sum(1 for queued in ids if queued is not None), delivered


@report_app.command("daily")
def daily(
    *,
    date: Annotated[
        str | None,
        typer.Option(help="the UTC day, YYYY-MM-DD (default: yesterday)", metavar="DAY"),
    ] = None,
    db: DbOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="folder to write to (default: reports/ in the data folder)"),
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="send each report through the alert channels")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print what was written as JSON")] = (
        False
    ),
) -> None:
    """Write the day's P&L report (HTML and CSV) of each paper, sandbox and live account."""
    from coinswarm.reporting.days import parse_day  # noqa: PLC0415

    try:
        day = parse_day(date or _yesterday())
        settings = _alert_settings() if send else None
        from coinswarm.reporting.daily import account_reports  # noqa: PLC0415
        from coinswarm.reporting.daily_files import write_report  # noqa: PLC0415
        from coinswarm.reporting.schedule import default_reports_dir  # noqa: PLC0415

        reports = account_reports(day, db=db, made_ns=time.time_ns())
        folder = out or default_reports_dir()
        written = [write_report(report, folder) for report in reports]
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    if not written:
        tell(f"no paper, sandbox or live account found: nothing to report for {day}")
    for one in written:
        what = "no activity" if one.report.empty else f"{len(one.report.trades)} trades"
        tell(f"{one.report.mode}: {what}; wrote {one.html}")
    sent, delivered = 0, True
    if settings is not None and written:
        sent, delivered = asyncio.run(_send(settings, db, written))
        tell(f"sent {sent} of {len(written)} reports (the others were sent within the window)")
        if not delivered:
            tell("some deliveries are still pending; the outbox retries them (coinswarm serve)")
    if as_json:
        typer.echo(json.dumps(_summary(day.isoformat(), written, sent, delivered), sort_keys=True))
    if not delivered:
        raise typer.Exit(1)


def _summary(
    day: str, written: Sequence[WrittenReport], sent: int, delivered: bool
) -> dict[str, object]:
    return {
        "day": day,
        "reports": [
            {
                "mode": one.report.mode,
                "database": one.report.where,
                "runs": [run.run_id for run in one.report.runs],
                "trades": len(one.report.trades),
                "alerts": len(one.report.alerts),
                "files": [str(path) for path in one.paths],
                "totals": [
                    {
                        "currency": t.currency,
                        "net_pnl": str(t.net_pnl),
                        "realised_pnl": str(t.realised_pnl),
                        "fees": str(t.fees),
                        "unrealised_end": str(t.unrealised_end),
                        "equity_start": str(t.equity_start),
                        "equity_end": str(t.equity_end),
                    }
                    for t in one.report.totals()
                ],
            }
            for one in written
        ],
        "sent": sent,
        "delivered": delivered,
    }
