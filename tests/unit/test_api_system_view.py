"""GET /api/system: the sessions the server hears, how alive they are, and the message flow
from the sessions through the bus (or straight in) to the hub, the alerts and the metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from coinswarm.api.app import create_app
from coinswarm.api.feed import install_live
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


class Failing:
    def observe(self, event: dict[str, Any]) -> None:
        raise RuntimeError("a part with a bug")


def event(kind: str, run_id: str, sent_s: float = 0, **fields: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "run_id": run_id,
        "mode": "paper",
        "ts_ns": T0,
        "sent_ns": T0 + int(sent_s * NS),
        **fields,
    }


def system(found: Services, **settings: Any) -> tuple[int, dict[str, Any]]:
    async def ask() -> tuple[int, dict[str, Any]]:
        app = create_app(found.settings, found=found)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get("/api/system", **settings)
            return answer.status_code, answer.json()

    return asyncio.run(ask())


def test_sessions_their_health_and_the_flow_are_shown() -> None:
    clock = Clock()
    found = Services(settings=ServeSettings(public=True), clock_ns=clock)
    found.parts["alerts"] = Failing()
    feed = install_live(found)

    async def feed_events() -> None:
        start = {"strategy": "committee", "instruments": ["BTC-USD"], "heartbeat_s": 5.0}
        await feed.handle(event("start", "run-a", **start, phase=1, pid=7, host="h"))
        await feed.handle(event("bar", "run-a", instrument="BTC-USD", close="101.5"))
        clock.now = T0 + 2 * NS
        await feed.handle(
            event("heartbeat", "run-a", sent_s=1.5, beat=1, interval_s=5.0, dropped=3)
        )
        await feed.handle(event("start", "run-b", **start))
        await feed.handle(event("stop", "run-b", status="failed", reason="boom"))

    asyncio.run(feed_events())
    clock.now = T0 + 4 * NS
    status, body = system(found)
    assert status == 200
    sessions = {s["run_id"]: s for s in body["sessions"]}
    a, b = sessions["run-a"], sessions["run-b"]
    assert (a["health"], a["status"], a["strategy"], a["pid"]) == ("ok", "running", "committee", 7)
    assert a["heartbeat_age_s"] == 2.0
    assert a["bus_lag_s"] == 0.5
    assert a["last_bar"] == {"instrument": "BTC-USD", "close": "101.5", "ts_ns": T0}
    assert a["dropped_by_session"] == 3
    assert (b["health"], b["status"], b["reason"]) == ("stopped", "failed", "boom")
    components = {c["id"]: c for c in body["components"]}
    assert components["alerts"]["health"] == "failing"  # its bug is counted, not fatal
    assert components["metrics"]["health"] == "absent"
    assert components["bus"]["detail"].startswith("in-process")
    hops = {(h["from"], h["to"]): h for h in body["flow"]}
    assert hops[("session:run-a", "server")]["events"] == 3
    assert hops[("server", "dashboards")]["events"] == 0
    assert hops[("server", "alerts")]["dropped"] == 5
    assert body["status"] == "degraded"

    clock.now = T0 + 13 * NS  # no beat for more than twice 5 s
    _, later = system(found)
    assert {s["run_id"]: s["health"] for s in later["sessions"]}["run-a"] == "down"
    assert {c["id"]: c["health"] for c in later["components"]}["session:run-a"] == "down"


def test_the_system_view_needs_a_viewer_token_unless_public() -> None:
    found = Services(settings=ServeSettings(viewer_token="v"))
    install_live(found)
    assert system(found)[0] == 401
    status, _ = system(found, headers={"Authorization": "Bearer v"})
    assert status == 200
