"""GET /api/alerts and POST /api/alerts/test over a running alert engine and a local webhook:
the viewer sees each alert and its delivery per channel, only the operator sends a test alert,
and no secret is in any answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx

from alert_harness import HttpReceiver, free_port, live, until
from coinswarm.api.app import create_app
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.infra.alerts import AlertEngine, AlertSettings

VIEWER, OPERATOR = "viewer-token-1", "operator-token-2"
HOOK_SECRET = "/hook/T1/B2/very-SECRET-hook"
BOT_TOKEN = "999:telegram-SECRET"


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 60))


def services(engine: AlertEngine | None) -> Services:
    settings = ServeSettings(viewer_token=VIEWER, operator_token=OPERATOR)
    found = Services(settings=settings)
    if engine is not None:
        found.parts["alerts"] = engine
    return found


def client(found: Services) -> httpx.AsyncClient:
    app = create_app(found=found)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def retried(engine: AlertEngine, channel: str) -> bool:
    recent = engine.recent(1)
    return bool(recent) and any(
        d.channel == channel and d.attempts >= 2 for d in recent[0].deliveries
    )


def test_the_viewer_sees_alerts_with_their_deliveries_and_no_secret(tmp_path: Path):
    down_port = free_port()

    async def body() -> None:
        with HttpReceiver() as http:
            settings = AlertSettings(
                webhook_urls=[http.url(HOOK_SECRET), f"http://127.0.0.1:{down_port}{HOOK_SECRET}"],
                telegram_url=http.url(), telegram_token=BOT_TOKEN, telegram_chat_id="7",
                retry_base_s=0.05, retry_max_s=0.1, dashboard=False,
            )  # fmt: skip
            http.status = 200
            engine = AlertEngine(settings, url=f"sqlite:///{tmp_path / 'a.db'}")
            async with engine, client(services(engine)) as api:
                engine.observe(live("heartbeat", beat=1, interval_s=30))
                engine.observe(live("risk", event="DAILY_LOSS_STOP", reason="lost 5.2% today"))
                await until(lambda: len(http.requests) == 2)
                await until(lambda: retried(engine, "webhook-2"))
                answer = await api.get("/api/alerts?limit=5", headers=bearer(VIEWER))
                refused = await api.get("/api/alerts")
                too_many = await api.get("/api/alerts?limit=100000", headers=bearer(VIEWER))
        assert answer.status_code == 200, answer.text
        assert refused.status_code == 401
        assert too_many.status_code == 422
        assert too_many.json()["error"].startswith("query.limit")
        data = answer.json()
        assert data["enabled"] is True
        assert data["channels"] == ["webhook", "webhook-2", "telegram"]
        assert data["rules"]["hourly_loss_pct"] == "5"
        assert data["rules"]["every_trade"] == "false"
        assert data["rules"]["modes"] == "paper,sandbox,live"
        assert data["sessions"] == [{"run_id": "paper-1", "down": False}]
        (alert,) = data["alerts"]
        assert alert["rule"] == "risk"
        assert alert["severity"] == "critical"
        assert alert["run_id"] == "paper-1"
        assert alert["delivered"] is False
        by_channel = {d["channel"]: d for d in alert["deliveries"]}
        assert by_channel["webhook"]["status"] == "delivered"
        assert by_channel["webhook"]["next_attempt_ns"] is None
        assert by_channel["telegram"]["status"] == "delivered"
        assert by_channel["webhook-2"]["status"] == "pending"
        assert by_channel["webhook-2"]["last_error"] == "webhook-2: ConnectError"
        for secret in (HOOK_SECRET, BOT_TOKEN, "very-SECRET"):
            assert secret not in answer.text

    run(body)


def test_only_the_operator_sends_a_test_alert(tmp_path: Path):
    async def body() -> None:
        with HttpReceiver() as http:
            settings = AlertSettings(webhook_urls=[http.url("/hook")], dashboard=False)
            engine = AlertEngine(settings, url=f"sqlite:///{tmp_path / 'a.db'}")
            async with engine, client(services(engine)) as api:
                nobody = await api.post("/api/alerts/test")
                viewer = await api.post("/api/alerts/test", headers=bearer(VIEWER))
                sent = await api.post("/api/alerts/test", headers=bearer(OPERATOR))
                await until(lambda: len(http.requests) == 1)
        assert (nobody.status_code, viewer.status_code, sent.status_code) == (401, 403, 200)
        assert sent.json()["channels"] == ["webhook"]
        assert isinstance(sent.json()["alert_id"], int)
        assert "test alert" in http.requests[0].json()["text"]

    run(body)


def test_without_the_engine_the_answer_says_so():
    async def body() -> None:
        async with client(services(None)) as api:
            answer = await api.get("/api/alerts", headers=bearer(VIEWER))
            test = await api.post("/api/alerts/test", headers=bearer(OPERATOR))
        assert answer.json() == {
            "enabled": False, "channels": [], "rules": {}, "sessions": [], "dropped": 0,
            "alerts": [],
        }  # fmt: skip
        assert test.status_code == 404
        assert test.json() == {"error": "the server runs without the alert engine"}

    run(body)
