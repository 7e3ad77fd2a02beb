"""The dashboard: an alert becomes a live event (`kind` "alert") on the server's hub, which
numbers it and streams it to every open dashboard beside the session's own events."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from coinswarm.infra.alerts.channels.base import DeliveryError, Message

__all__ = ["DashboardChannel", "live_event"]


def live_event(message: Message, sent_ns: int) -> dict[str, Any]:
    """Return the alert as a live event of the plan's contract (run_id, mode, kind, ts_ns)."""
    alert = message.alert
    return {
        "kind": "alert",
        "run_id": alert.run_id,
        "mode": alert.mode,
        "ts_ns": alert.ts_ns,
        "sent_ns": sent_ns,
        "alert_id": message.alert_id,
        "rule": alert.rule,
        "severity": alert.severity.value,
        "key": alert.key,
        "title": alert.title,
        "text": alert.text,
    }


class DashboardChannel:
    """Publish to the hub `hub_of()` returns when the alert is sent (the hub may come later)."""

    def __init__(self, hub_of: Callable[[], Any], clock_ns: Callable[[], int]) -> None:
        self._hub_of = hub_of
        self._clock_ns = clock_ns

    @property
    def name(self) -> str:
        return "dashboard"

    def secrets(self) -> tuple[str, ...]:
        return ()

    async def send(self, message: Message) -> None:
        """Call the hub's `publish`, awaiting it if it is a coroutine."""
        hub = self._hub_of()
        publish = getattr(hub, "publish", None)
        if publish is None:
            raise DeliveryError("dashboard: the server has no live hub")
        result = publish(live_event(message, self._clock_ns()))
        if inspect.isawaitable(result):
            await result
