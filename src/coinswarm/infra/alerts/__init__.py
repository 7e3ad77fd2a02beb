"""Alerts that reach a person: rules over the live events, a dead-man's switch on the
heartbeat, de-duplication, and an outbox that delivers to email, SMS, webhooks, Telegram and
the dashboard until each channel took it.

`AlertEngine` is the part a server holds (`Services.parts["alerts"]`); `AlertSettings` reads
the `COINSWARM_ALERT_*` variables.
"""

from __future__ import annotations

from coinswarm.infra.alerts.channels import Channel, DeliveryError, Message
from coinswarm.infra.alerts.deadman import DeadMansSwitch
from coinswarm.infra.alerts.dedup import Deduplicator
from coinswarm.infra.alerts.engine import AlertEngine, AlertEngineError
from coinswarm.infra.alerts.outbox import Backoff
from coinswarm.infra.alerts.rules import Rules, RuleSettings, alert_key
from coinswarm.infra.alerts.settings import AlertConfigError, AlertSettings
from coinswarm.infra.storage.alert_records import (
    Alert,
    Attachment,
    DeliveryStatus,
    Severity,
    StoredAlert,
    StoredDelivery,
)

__all__ = [
    "Alert",
    "AlertConfigError",
    "AlertEngine",
    "AlertEngineError",
    "AlertSettings",
    "Attachment",
    "Backoff",
    "Channel",
    "DeadMansSwitch",
    "Deduplicator",
    "DeliveryError",
    "DeliveryStatus",
    "Message",
    "RuleSettings",
    "Rules",
    "Severity",
    "StoredAlert",
    "StoredDelivery",
    "alert_key",
]
