"""Alerts reach real local receivers: SMTP (aiosmtpd), a webhook, a Twilio-like SMS API, a
Telegram-like bot API and the dashboard's hub, each exactly once per alert, through the
outbox in a SQLite database; down receivers get them when they come back, restarts resume
what was pending, and no secret reaches the audit log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from alert_harness import START_NS, HttpReceiver, SmtpReceiver, free_port, live, until
from coinswarm.infra import audit
from coinswarm.infra.alerts import (
    AlertEngine,
    AlertEngineError,
    AlertSettings,
    Attachment,
    DeliveryStatus,
)
from coinswarm.infra.storage import Store

SMS_TOKEN = "sms-auth-token-SECRET-1"
BOT_TOKEN = "123456:bot-token-SECRET-2"
HOOK_SECRET = "T000/B000/hook-SECRET-3"
MAIL_PASSWORD = "mail-password-SECRET-4"
SECRETS = (SMS_TOKEN, BOT_TOKEN, HOOK_SECRET, MAIL_PASSWORD)
CHANNELS = {"email", "sms", "webhook", "telegram", "dashboard"}


def run(body: Callable[[], Coroutine[Any, Any, None]], timeout_s: float = 60.0) -> None:
    asyncio.run(asyncio.wait_for(body(), timeout_s))


class Hub:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def publish(self, event: dict) -> int:
        self.events.append(event)
        return len(self.events)


class Metrics:
    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.failed: list[str] = []

    def alert_delivered(self, channel: str) -> None:
        self.delivered.append(channel)

    def alert_failed(self, channel: str) -> None:
        self.failed.append(channel)


def every_channel(http: HttpReceiver, smtp_port: int, **more: Any) -> AlertSettings:
    values: dict[str, Any] = {
        "webhook_urls": [http.url(f"/hook/{HOOK_SECRET}")],
        "sms_url": http.url(),
        "sms_account_sid": "AC0001",
        "sms_auth_token": SMS_TOKEN,
        "sms_from": "+15550000001",
        "sms_to": ["+15550000002"],
        "telegram_url": http.url(),
        "telegram_token": BOT_TOKEN,
        "telegram_chat_id": "42",
        "email_host": "127.0.0.1",
        "email_port": smtp_port,
        "email_security": "none",
        "email_from": "coinswarm@example.org",
        "email_to": ["ops@example.org", "oncall@example.org"],
        "retry_base_s": 0.05,
        "retry_max_s": 0.2,
        "timeout_s": 2.0,
    }
    return AlertSettings(**(values | more))


def webhook_only(url: str, **more: Any) -> AlertSettings:
    values: dict[str, Any] = {
        "webhook_urls": [url],
        "retry_base_s": 0.05,
        "retry_max_s": 0.2,
        "timeout_s": 2.0,
        "dashboard": False,
    }
    return AlertSettings(**(values | more))


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'alerts.db'}"


def audit_entries(db: str, kind: str) -> list[audit.AuditEntry]:
    with Store.open(db) as store:
        return [e for e in audit.entries(store.engine) if e.kind == kind]


def trip(ts: int = START_NS) -> dict:
    return live("risk", ts_ns=ts, event="TRIP", reason="price moved 12% in one minute")


def test_a_storm_of_1000_identical_events_sends_each_alert_once_on_every_channel(db):
    hub, metrics = Hub(), Metrics()

    async def body() -> None:
        async with SmtpReceiver() as smtp:
            with HttpReceiver() as http:
                settings = every_channel(http, smtp.port)
                engine = AlertEngine(settings, url=db, parts={"hub": hub, "metrics": metrics})
                async with engine:
                    assert set(engine.channels) == CHANNELS
                    for n in range(1000):
                        engine.observe(trip(START_NS + n))
                        engine.observe(
                            live(
                                "error",
                                ts_ns=START_NS + n,
                                source="exchange",
                                code="429",
                                message="rate limited",
                            )
                        )
                    assert await engine.drain(20)
                    await asyncio.sleep(0.5)  # anything sent twice would have arrived by now
                    assert engine.dropped == 999 + 995  # the burst starts at the 5th error
                    recent = engine.recent(10)
                assert [a.alert.rule for a in recent] == ["error_burst", "risk"]
                for stored in recent:
                    assert {d.channel for d in stored.deliveries} == CHANNELS
                    assert {d.status for d in stored.deliveries} == {DeliveryStatus.DELIVERED}
                    assert {d.attempts for d in stored.deliveries} == {1}
                hooks = http.at("/hook/")
                sms = http.at("/2010-04-01/Accounts/AC0001/Messages.json")
                telegram = http.at(f"/bot{BOT_TOKEN}/sendMessage")
                assert (len(hooks), len(sms), len(telegram), len(smtp.messages)) == (2, 2, 2, 2)
                assert len(http.requests) == 6
            assert len([e for e in hub.events if e["kind"] == "alert"]) == 2
            # What each receiver got: the formats the real services take.
            texts = sorted(r.json()["text"] for r in hooks)
            assert texts[0].startswith("[coinswarm CRITICAL] paper-1: trip")
            assert texts[1].startswith("[coinswarm WARNING] paper-1: 5 exchange errors")
            assert all(r.json()["content"] == r.json()["text"] for r in hooks)
            form = sms[0].form()
            assert (form["To"], form["From"]) == ("+15550000002", "+15550000001")
            assert sms[0].headers["Authorization"].startswith("Basic ")
            assert telegram[0].json()["chat_id"] == "42"
            mail = smtp.messages[0]
            assert mail["To"] == "ops@example.org, oncall@example.org"
            assert mail["Subject"].startswith("[coinswarm ")
            assert {e["rule"] for e in hub.events} == {"risk", "error_burst"}
            assert hub.events[0]["run_id"] == "paper-1"

    run(body)
    assert sorted(metrics.delivered) == sorted(
        ["email", "sms", "webhook", "telegram", "dashboard"] * 2
    )
    assert metrics.failed == []
    assert len(audit_entries(db, "alert")) == 2


def test_a_receiver_that_is_down_gets_the_alert_when_it_comes_back(db):
    port = free_port()
    metrics = Metrics()

    async def body() -> None:
        settings = webhook_only(f"http://127.0.0.1:{port}/hook/{HOOK_SECRET}")
        async with AlertEngine(settings, url=db, parts={"metrics": metrics}) as engine:
            engine.observe(trip())
            await until(lambda: len(metrics.failed) >= 3)
            with HttpReceiver(port=port) as http:
                await until(lambda: len(http.requests) == 1)
                assert await engine.drain(5)
                await asyncio.sleep(0.3)
                assert len(http.requests) == 1
            (stored,) = engine.recent(5)
        (delivery,) = stored.deliveries
        assert delivery.status is DeliveryStatus.DELIVERED
        assert delivery.attempts > 3
        assert delivery.last_error == "webhook: ConnectError"

    run(body)
    failures = audit_entries(db, "alert_failed")
    assert len(failures) >= 3
    assert {e.data()["channel"] for e in failures} == {"webhook"}
    assert {e.data()["error"] for e in failures} == {"webhook: ConnectError"}
    assert [e.data()["attempt"] for e in failures] == list(range(1, len(failures) + 1))


def test_a_restarted_engine_delivers_the_pending_row(db):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"

    async def body() -> None:
        # The first engine tries once, fails, and would wait a minute: then it stops.
        slow = webhook_only(url, retry_base_s=60, retry_max_s=60)
        async with AlertEngine(slow, url=db) as first:
            first.observe(trip())
            await until(
                lambda: bool(first.recent(1)) and first.recent(1)[0].deliveries[0].attempts == 1
            )
        with HttpReceiver(port=port) as http:
            started = time.monotonic()
            async with AlertEngine(slow, url=db) as second:
                await until(lambda: len(http.requests) == 1)
                assert time.monotonic() - started < 5  # at once, not after the minute
                assert await second.drain(5)
                (stored,) = second.recent(5)
                # The restart does not raise the same alert again, however the storm goes on.
                second.observe(trip(START_NS + 1))
                await asyncio.sleep(0.3)
                assert len(second.recent(5)) == 1
        assert stored.deliveries[0].status is DeliveryStatus.DELIVERED
        assert stored.deliveries[0].attempts == 2

    run(body)


def test_an_engine_stopped_before_its_first_attempt_loses_nothing(db):
    async def body() -> None:
        with HttpReceiver() as http:
            http.status = 503
            async with AlertEngine(webhook_only(http.url("/hook")), url=db) as first:
                first.observe(trip())
                first.observe(live("stop", status="failed", reason="boom"))
            http.status = 200
            async with AlertEngine(webhook_only(http.url("/hook")), url=db) as second:
                await until(
                    lambda: sum(r.body.count(b"session failed") for r in http.requests) >= 1
                )
                assert await second.drain(5)
                rules = sorted(a.alert.rule for a in second.recent(5))
        assert rules == ["risk", "session_failed"]

    run(body)


def test_the_dead_mans_switch_fires_after_twice_the_interval_in_real_time(db):
    interval = 0.25

    async def body() -> None:
        with HttpReceiver() as http:
            async with AlertEngine(webhook_only(http.url("/hook")), url=db) as engine:
                for seq in range(1, 4):
                    engine.observe(live("heartbeat", beat=seq, seq=1000 + seq, interval_s=interval))
                    await asyncio.sleep(interval / 2)
                last_beat = time.monotonic()
                await until(lambda: len(http.requests) == 1, timeout_s=5)
                elapsed = time.monotonic() - last_beat
                assert engine.sessions() == {"paper-1": True}
                # Keyed by the session's beat number, not the hub's sequence number.
                assert engine.recent(1)[0].alert.key == "session_down:paper-1:3"
        assert 2 * interval - 0.13 < elapsed < 2 * interval + 1.0, elapsed
        assert "the session is down" in http.requests[0].json()["text"]

    run(body)


def test_the_dead_mans_switch_on_an_injected_clock(db):
    now = [START_NS]
    second = 1_000_000_000

    async def body() -> None:
        with HttpReceiver() as http:
            settings = webhook_only(http.url("/hook"))
            engine = AlertEngine(settings, url=db, clock_ns=lambda: now[0])
            async with engine:
                engine.observe(live("heartbeat", run_id="live-7", beat=1, interval_s=5))
                now[0] += 10 * second  # twice the interval: not yet
                engine.check_heartbeats()
                await asyncio.sleep(0.2)
                assert http.requests == []
                now[0] += 1
                engine.check_heartbeats()
                await until(lambda: len(http.requests) == 1)
                engine.check_heartbeats()
                now[0] += 60 * second
                engine.check_heartbeats()
                await asyncio.sleep(0.2)
                assert len(http.requests) == 1  # once per silence
                # A stop disarms it: a session that said it stops is not down.
                engine.observe(live("heartbeat", run_id="live-8", beat=1, interval_s=5))
                engine.observe(live("stop", run_id="live-8", status="finished"))
                now[0] += 600 * second
                engine.check_heartbeats()
                await asyncio.sleep(0.2)
                assert len(http.requests) == 1
                assert engine.sessions() == {"live-7": True}

    run(body)


def test_a_report_goes_out_with_its_attachments_by_email_and_as_text_elsewhere(db):
    async def body() -> None:
        async with SmtpReceiver() as smtp:
            with HttpReceiver() as http:
                settings = every_channel(http, smtp.port, dashboard=False)
                async with AlertEngine(settings, url=db) as engine:
                    html = Attachment("pnl-2026-01-01.html", "text/html", b"<h1>P&amp;L</h1>")
                    csv = Attachment("pnl-2026-01-01.csv", "text/csv", b"account,pnl\npaper,12.5\n")
                    key = "report:daily:2026-01-01"
                    first = await engine.send_report(
                        "Daily P&L 2026-01-01", "P&L +12.50", [html, csv], key=key
                    )
                    again = await engine.send_report(
                        "Daily P&L 2026-01-01", "P&L +12.50", [html, csv], key=key
                    )
                    assert isinstance(first, int)
                    assert again is None
                    assert await engine.drain(10)
        (mail,) = smtp.messages
        parts = {p.get_filename(): p.get_payload(decode=True) for p in mail.iter_attachments()}
        assert parts == {html.filename: html.data, csv.filename: csv.data}
        assert mail["Subject"] == "[coinswarm info] Daily P&L 2026-01-01"
        assert len(http.requests) == 3
        (sms,) = http.at("/2010-04-01/")
        assert sms.form()["Body"] == "[coinswarm info] Daily P&L 2026-01-01\nP&L +12.50"
        others = [r.json()["text"] for r in http.requests if r is not sms]
        assert others == [sms.form()["Body"]] * 2

    run(body)


def test_no_secret_reaches_the_audit_log_or_the_stored_errors(db):
    async def body() -> None:
        async with SmtpReceiver() as smtp:
            with HttpReceiver() as http:
                http.status = 404  # and the body echoes the path, token and all
                settings = every_channel(
                    http, smtp.port, email_user="bot", email_password=MAIL_PASSWORD,
                    dashboard=False,
                )  # fmt: skip
                async with AlertEngine(settings, url=db) as engine:
                    engine.observe(trip())
                    await until(lambda: len(audit_entries(db, "alert_failed")) >= 8, timeout_s=10)
                    stored = engine.recent(5)
        errors = [d.last_error or "" for a in stored for d in a.deliveries]
        assert any("/bot***/sendMessage" in e for e in errors), errors
        assert any(e.startswith("email: SMTPNotSupportedError") for e in errors), errors
        with Store.open(db) as store:
            chain = "\n".join(e.payload for e in audit.entries(store.engine))
        for secret in SECRETS:
            assert secret not in chain
            assert all(secret not in e for e in errors)

    run(body)


def test_reports_need_a_started_engine(db):
    async def body() -> None:
        engine = AlertEngine(webhook_only("http://127.0.0.1:9/x"), url=db)
        with pytest.raises(AlertEngineError, match="not started"):
            await engine.send_report("s", "t")

    run(body)
