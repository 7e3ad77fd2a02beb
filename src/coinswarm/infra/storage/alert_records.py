"""Records of the alerts store: an alert, its attachments, and its deliveries per channel.

They go in and out of the store's alert methods (`_alert_store`); the rows behind them never
leave the storage package. An alert checks what its columns would otherwise truncate or refuse
later (an over-long key or rule), so a bad one is refused where it was made.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from coinswarm.infra.storage.errors import StorageError

__all__ = [
    "MAX_KEY",
    "MAX_RULE",
    "Alert",
    "Attachment",
    "DeliveryOutcome",
    "DeliveryStatus",
    "DueDelivery",
    "Severity",
    "StoredAlert",
    "StoredDelivery",
]

MAX_KEY = 255
MAX_RULE = 32


class Severity(StrEnum):
    """How urgent an alert is: what a person should do on reading it."""

    INFO = "info"
    """Nothing to do: a trade, a report, a session beating again."""
    WARNING = "warning"
    """Look when you can: an error burst, a phase-3 loss."""
    CRITICAL = "critical"
    """Look now: a session down, a breaker trip, a stop, a loss over the hourly limit."""


class DeliveryStatus(StrEnum):
    """Where one alert stands on one channel. There is no `failed`: a delivery is retried."""

    PENDING = "pending"
    DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with an alert (a daily report's HTML and CSV); email carries them."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)

    def to_dict(self) -> dict[str, str]:
        """Return the attachment as JSON-ready text (the data in base64)."""
        encoded = base64.b64encode(self.data).decode("ascii")
        return {"filename": self.filename, "content_type": self.content_type, "data": encoded}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attachment:
        """Return the attachment `to_dict` gave."""
        raw = base64.b64decode(str(data["data"]).encode("ascii"), validate=True)
        return cls(str(data["filename"]), str(data["content_type"]), raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """Something a person should hear about, once per de-duplication window.

    `key` says which alerts are the same one: the engine sends an alert whose key it sent
    within the window no second time. `ts_ns` is the clock of the event behind it (market
    time in a replay); `run_id` and `mode` name the session it is about, if any.
    """

    rule: str
    severity: Severity
    key: str
    title: str
    text: str
    ts_ns: int
    run_id: str | None = None
    mode: str | None = None
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if not self.rule or len(self.rule) > MAX_RULE:
            msg = f"expected an alert rule of 1 to {MAX_RULE} characters, found {self.rule!r}"
            raise StorageError(msg)
        if not self.key or len(self.key) > MAX_KEY:
            msg = f"expected an alert key of 1 to {MAX_KEY} characters, found {len(self.key)}"
            raise StorageError(msg)
        if not isinstance(self.severity, Severity):
            object.__setattr__(self, "severity", Severity(self.severity))


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDelivery:
    """One alert on one channel: delivered or not, after how many attempts, the last error."""

    channel: str
    status: DeliveryStatus
    attempts: int
    next_attempt_ns: int
    last_error: str | None
    delivered_ns: int | None
    updated_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredAlert:
    """An alert as stored, numbered, with its deliveries in channel order."""

    id: int
    alert: Alert
    created_ns: int
    deliveries: tuple[StoredDelivery, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DueDelivery:
    """A delivery a sender claimed: the alert to send, the channel, the attempts so far."""

    alert_id: int
    channel: str
    attempts: int
    alert: Alert
    created_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryOutcome:
    """What one attempt came to: delivered (no error), or an error and when to try again.

    `attempts_before` is the row's count of attempts when it was claimed: an outcome settles
    only a row still at that count, so one attempt is never counted twice.
    """

    alert_id: int
    channel: str
    attempts_before: int
    error: str | None = None
    retry_at_ns: int = 0

    @property
    def delivered(self) -> bool:
        return self.error is None
