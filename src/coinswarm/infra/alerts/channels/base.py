"""The channel port: one way to reach a person, and the one error a failed attempt raises.

A channel sends one alert once; it does not retry, queue or de-duplicate (the outbox and the
engine do). Its error says what failed in words a log and the audit log can keep: never a URL
(a Telegram URL holds the bot's token, a Slack webhook URL is the credential) and never a
secret, which `redact` scrubs from anything a server answered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.storage.alert_records import Alert, Severity

__all__ = ["Channel", "DeliveryError", "Message", "redact"]

_MARK = {Severity.INFO: "info", Severity.WARNING: "WARNING", Severity.CRITICAL: "CRITICAL"}


class DeliveryError(CoinswarmError):
    """One attempt to send failed; `retry_after_s` is the wait the receiver asked for, if any."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Message:
    """An alert as the channels render it."""

    alert_id: int
    alert: Alert

    @property
    def subject(self) -> str:
        """Return one line: how urgent, and what happened."""
        return f"[coinswarm {_MARK[self.alert.severity]}] {self.alert.title}"

    def body(self, limit: int | None = None) -> str:
        """Return the subject and the text, cut to `limit` characters if given."""
        full = f"{self.subject}\n{self.alert.text}".rstrip()
        if limit is None or len(full) <= limit:
            return full
        return full[: max(limit - 1, 0)] + "…"


@runtime_checkable
class Channel(Protocol):
    """One way to reach a person: email, SMS, a webhook, Telegram, the dashboard."""

    @property
    def name(self) -> str:
        """The channel's name in the outbox, the API and the metrics (never a secret)."""
        ...

    async def send(self, message: Message) -> None:
        """Send the message once; raise DeliveryError if it was not accepted."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Return the secret values this channel holds, for `redact`."""
        ...


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return `text` with every secret value replaced by ***."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text
