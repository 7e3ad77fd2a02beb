"""The alerts: what was raised, and whether each channel got it; a test alert on demand.

A person woken at 3 a.m. by one channel checks here that the others got it too, and before
going to bed sends a test alert to see that every channel still reaches them. Nothing here
shows a channel's address, token or password: a channel is named (`email`, `webhook-2`), and
a failed attempt's error was scrubbed of secrets before it was stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from coinswarm.api.auth import Operator, Viewer
from coinswarm.api.errors import NotFoundError
from coinswarm.api.services import Services, services
from coinswarm.infra.alerts import Alert, AlertEngine, AlertSettings, Severity, StoredAlert

__all__ = ["ALERTS", "router"]

ALERTS = "alerts"
"""The alert engine's name in `Services.parts`."""

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


class DeliveryOut(BaseModel):
    channel: str
    status: str
    attempts: int
    last_error: str | None
    delivered_ns: int | None
    next_attempt_ns: int | None
    """When a pending delivery is tried next; None once delivered."""


class AlertOut(BaseModel):
    id: int
    rule: str
    severity: str
    key: str
    title: str
    text: str
    run_id: str | None
    mode: str | None
    ts_ns: int
    created_ns: int
    attachments: list[str]
    delivered: bool
    """Every channel took it (False for an alert no channel was there to take)."""
    deliveries: list[DeliveryOut]


class SessionOut(BaseModel):
    run_id: str
    down: bool


class AlertsOut(BaseModel):
    enabled: bool
    """False when the server runs without the alert engine."""
    channels: list[str]
    rules: dict[str, str]
    """What raises an alert: each rule's threshold or switch, and the de-duplication window."""
    sessions: list[SessionOut]
    """The sessions the dead-man's switch watches, and whether each is down."""
    dropped: int
    """Alerts dropped as repeats of one sent within its window, since the server started."""
    alerts: list[AlertOut]


class TestAlertOut(BaseModel):
    alert_id: int | None
    channels: list[str]


def _engine(found: Services) -> AlertEngine | None:
    engine = found.parts.get(ALERTS)
    return engine if isinstance(engine, AlertEngine) else None


def _rules(settings: AlertSettings) -> dict[str, str]:
    names = (
        "hourly_loss_pct", "phase3_loss_usd", "error_burst_count", "error_burst_s",
        "every_trade", "risk_events", "session_down", "heartbeat_factor", "window_s",
    )  # fmt: skip
    found = {name: str(getattr(settings, name)).lower() for name in names}
    return found | {"modes": ",".join(settings.modes)}


def _out(stored: StoredAlert) -> AlertOut:
    alert = stored.alert
    deliveries = [
        DeliveryOut(
            channel=d.channel,
            status=d.status.value,
            attempts=d.attempts,
            last_error=d.last_error,
            delivered_ns=d.delivered_ns,
            next_attempt_ns=None if d.delivered_ns is not None else d.next_attempt_ns,
        )
        for d in stored.deliveries
    ]
    return AlertOut(
        id=stored.id,
        rule=alert.rule,
        severity=alert.severity.value,
        key=alert.key,
        title=alert.title,
        text=alert.text,
        run_id=alert.run_id,
        mode=alert.mode,
        ts_ns=alert.ts_ns,
        created_ns=stored.created_ns,
        attachments=[a.filename for a in alert.attachments],
        delivered=bool(deliveries) and all(d.delivered_ns is not None for d in stored.deliveries),
        deliveries=deliveries,
    )


@router.get("")
def recent_alerts(
    _role: Viewer,
    found: Annotated[Services, Depends(services)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AlertsOut:
    """Return the newest alerts, newest first, with each channel's delivery."""
    engine = _engine(found)
    if engine is None:
        return AlertsOut(enabled=False, channels=[], rules={}, sessions=[], dropped=0, alerts=[])
    sessions = [SessionOut(run_id=r, down=d) for r, d in sorted(engine.sessions().items())]
    return AlertsOut(
        enabled=True,
        channels=list(engine.channels),
        rules=_rules(engine.settings),
        sessions=sessions,
        dropped=engine.dropped,
        alerts=[_out(stored) for stored in engine.recent(limit)],
    )


@router.post("/test")
async def send_test_alert(
    _role: Operator, found: Annotated[Services, Depends(services)]
) -> TestAlertOut:
    """Send a test alert through every channel (operator only; audited as any alert)."""
    engine = _engine(found)
    if engine is None:
        raise NotFoundError("the server runs without the alert engine")
    now = found.clock_ns()
    alert = Alert(
        rule="test",
        severity=Severity.INFO,
        key=f"test:{now}",
        title="test alert: this channel reaches you",
        text="An operator sent this from the Coinswarm API to check the alert channels.",
        ts_ns=now,
    )
    alert_id = await engine.raise_alert(alert)
    return TestAlertOut(alert_id=alert_id, channels=list(engine.channels))
