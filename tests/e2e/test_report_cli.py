"""`coinswarm report daily` as a person (or cron) runs it: files written, one line on a bad
date, and with `--send` one email carrying the three files and one webhook message."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from pathlib import Path

import pytest

from alert_harness import HttpReceiver, SmtpReceiver
from cli_harness import coinswarm
from report_harness import known_day

NAMES = (
    "daily-2026-12-06-sandbox.html",
    "daily-2026-12-06-sandbox-trades.csv",
    "daily-2026-12-06-sandbox-summary.csv",
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    book = known_day(f"sqlite:///{tmp_path_factory.mktemp('report') / 'sandbox.db'}")
    book.store.close()
    return book.url


def test_the_days_reports_are_written_and_described(db, tmp_path):
    out = tmp_path / "reports"
    done = coinswarm(
        "report", "daily", "--date", "2026-12-06", "--db", db, "--out", str(out), "--json",
        home=tmp_path / "home",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    (report,) = summary["reports"]
    assert report["mode"] == "sandbox"
    assert report["trades"] == 2
    assert report["totals"][0]["net_pnl"] == "-2.062"
    assert sorted(Path(p).name for p in report["files"]) == sorted(NAMES)
    trades = list(csv.DictReader(io.StringIO((out / NAMES[1]).read_text(encoding="utf-8"))))
    assert [row["trade_id"] for row in trades] == ["t2", "t3"]
    assert "sandbox: 2 trades; wrote" in done.stderr


@pytest.mark.parametrize("day", ["2026-12-32", "06/12/2026"])
def test_a_bad_date_is_one_line_exit_2_and_nothing_written(db, tmp_path, day):
    out = tmp_path / "reports"
    done = coinswarm("report", "daily", "--date", day, "--db", db, "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.startswith("error: --date: expected a day as YYYY-MM-DD")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_send_without_a_channel_is_refused_before_anything_is_written(db, tmp_path):
    out = tmp_path / "reports"
    done = coinswarm("report", "daily", "--date", "2026-12-06", "--db", db, "--out", str(out),
                     "--send")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: --send: no alert channel is configured")
    assert not out.exists()


def test_send_mails_the_files_and_posts_the_gist(db, tmp_path):
    out = tmp_path / "reports"

    async def body() -> tuple[int, str, list, list]:
        async with SmtpReceiver() as smtp:
            with HttpReceiver() as http:
                env = {
                    **{k: v for k, v in os.environ.items() if not k.startswith("COINSWARM_")},
                    "COINSWARM_HOME": str(tmp_path / "home"),
                    "COINSWARM_ALERT_WEBHOOK_URLS": http.url("/hook"),
                    "COINSWARM_ALERT_EMAIL_HOST": "127.0.0.1",
                    "COINSWARM_ALERT_EMAIL_PORT": str(smtp.port),
                    "COINSWARM_ALERT_EMAIL_SECURITY": "none",
                    "COINSWARM_ALERT_EMAIL_FROM": "coinswarm@example.org",
                    "COINSWARM_ALERT_EMAIL_TO": "ops@example.org",
                    "COINSWARM_ALERT_DB": f"sqlite:///{tmp_path / 'outbox.db'}",
                }
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "coinswarm", "report", "daily", "--date", "2026-12-06",
                    "--db", db, "--out", str(out), "--send",
                    env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
                assert process.returncode is not None
                return process.returncode, stderr.decode(), list(smtp.messages), http.requests

    code, stderr, mails, posts = asyncio.run(body())
    assert code == 0, stderr
    assert "sent 1 of 1 reports" in stderr
    (mail,) = mails
    assert "Daily P&L 2026-12-06 sandbox" in mail["Subject"]
    attached = {p.get_filename(): p.get_payload(decode=True) for p in mail.iter_attachments()}
    assert attached == {name: (out / name).read_bytes() for name in NAMES}
    (post,) = posts
    text = post.json()["text"]
    assert "Daily P&L 2026-12-06 sandbox" in text
    assert "net P&L -2.06" in text
