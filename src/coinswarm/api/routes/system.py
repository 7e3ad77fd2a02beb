"""The server itself: is it up, which version, since when; and what it is connected to.

`GET /api/system` is the architecture dashboard's source: the running components (the
sessions it hears, with their mode, strategy, heartbeat age, bus lag and last bar; the bus;
the server; the alerts, the metrics and the dashboards), the message flow between them with
how many events went each way, and each one's health.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from coinswarm import __version__
from coinswarm.api.auth import Viewer
from coinswarm.api.feed import FEED, OBSERVERS, Feed, board_of
from coinswarm.api.live import hub_of
from coinswarm.api.services import Services, services

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["system"])


class Health(BaseModel):
    status: str
    version: str
    uptime_s: float


@router.get("/health")
def health(found: Annotated[Services, Depends(services)]) -> Health:
    """Answer without a token, so a load balancer or a dead-man's switch can ask."""
    uptime = (found.clock_ns() - found.started_ns) / 1e9
    return Health(status="ok", version=__version__, uptime_s=max(uptime, 0.0))


class SystemView(BaseModel):
    status: str
    server: dict[str, Any]
    components: list[dict[str, Any]]
    flow: list[dict[str, Any]]
    sessions: list[dict[str, Any]]


@router.get("/system")
def system(found: Annotated[Services, Depends(services)], _role: Viewer) -> SystemView:
    """Return the running components, the message flow between them and their health."""
    now = found.clock_ns()
    sessions = board_of(found).to_json(now)
    feed = found.parts.get(FEED)
    feed_stats = feed.stats() if isinstance(feed, Feed) else None
    hub = hub_of(found).stats()
    components = [
        _server(found, now),
        _bus(feed_stats),
        *(_session(s) for s in sessions),
        *(_observer(found, name, feed_stats) for name in OBSERVERS),
        {
            "id": "dashboards",
            "kind": "dashboards",
            "health": "ok",
            "detail": f"{hub['clients']} live clients",
        },
    ]
    flow = _flow(sessions, feed_stats, hub)
    bad = [c for c in components if c["health"] in ("down", "failing")]
    return SystemView(
        status="degraded" if bad else "ok",
        server={
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": max((now - found.started_ns) / 1e9, 0.0),
            "hub": hub,
            "feed": feed_stats,
        },
        components=components,
        flow=flow,
        sessions=sessions,
    )


def _server(found: Services, now: int) -> dict[str, Any]:
    uptime = max((now - found.started_ns) / 1e9, 0.0)
    return {"id": "server", "kind": "server", "health": "ok", "detail": f"up {uptime:.0f} s"}


def _bus(feed: dict[str, Any] | None) -> dict[str, Any]:
    if feed is None or feed["bus"] is None:
        detail = "in-process: sessions started with --serve feed this server directly"
        return {"id": "bus", "kind": "bus", "health": "ok", "detail": detail}
    health = "ok" if feed["bus_connected"] else "down"
    detail = feed["bus"] if health == "ok" else f"{feed['bus']}: {feed['bus_error']}"
    return {"id": "bus", "kind": "bus", "health": health, "detail": detail}


def _session(seen: dict[str, Any]) -> dict[str, Any]:
    age = seen["heartbeat_age_s"]
    detail = f"{seen['mode']} {seen['strategy'] or ''}: {seen['status']}, beat {age:.1f} s ago"
    return {
        "id": f"session:{seen['run_id']}",
        "kind": "session",
        "health": seen["health"],
        "detail": detail,
    }


def _observer(found: Services, name: str, feed: dict[str, Any] | None) -> dict[str, Any]:
    if found.parts.get(name) is None:
        return {"id": name, "kind": name, "health": "absent", "detail": "not configured"}
    failures = 0 if feed is None else feed["failures"].get(name, 0)
    health = "failing" if failures else "ok"
    return {"id": name, "kind": name, "health": health, "detail": f"{failures} failures"}


def _flow(
    sessions: list[dict[str, Any]], feed: dict[str, Any] | None, hub: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return each hop of the live events and how many took it."""
    via = "bus" if feed is not None and feed["bus"] is not None else "server"
    hops = [
        {
            "from": f"session:{s['run_id']}",
            "to": via,
            "events": s["events"],
            "dropped": s["dropped_by_session"],
            "lag_s": s["bus_lag_s"],
        }
        for s in sessions
    ]
    if feed is not None:
        if via == "bus":
            hops.append({"from": "bus", "to": "server", "events": feed["from_bus"], "dropped": 0})
        hops += [
            {
                "from": "server",
                "to": name,
                "events": feed["observed"].get(name, 0),
                "dropped": feed["failures"].get(name, 0),
            }
            for name in OBSERVERS
        ]
    hops.append(
        {
            "from": "server",
            "to": "dashboards",
            "events": hub["delivered"],
            "dropped": hub["dropped_clients"],
            "clients": hub["clients"],
        }
    )
    return hops
