"""The ways an alert reaches a person, and `build_channels`, which makes those the settings
turn on."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import httpx

from coinswarm.infra.alerts.channels.base import Channel, DeliveryError, Message, redact
from coinswarm.infra.alerts.channels.dashboard import DashboardChannel, live_event
from coinswarm.infra.alerts.channels.email import EmailChannel, compose
from coinswarm.infra.alerts.channels.http import SmsChannel, TelegramChannel, WebhookChannel
from coinswarm.infra.alerts.settings import AlertSettings

__all__ = [
    "Channel",
    "DashboardChannel",
    "DeliveryError",
    "EmailChannel",
    "Message",
    "SmsChannel",
    "TelegramChannel",
    "WebhookChannel",
    "build_channels",
    "compose",
    "live_event",
    "numbered",
    "redact",
]


def numbered(kind: str, count: int) -> list[str]:
    """Return the names of `count` channels of one kind: webhook, webhook-2, webhook-3..."""
    return [kind if n == 1 else f"{kind}-{n}" for n in range(1, count + 1)]


def build_channels(
    settings: AlertSettings,
    client: httpx.AsyncClient,
    *,
    hub_of: Callable[[], Any] | None = None,
    clock_ns: Callable[[], int],
    mail_executor: Executor | None = None,
) -> list[Channel]:
    """Return every channel the settings turn on; the dashboard only with a hub to publish to."""
    found: list[Channel] = []
    if settings.email_on and settings.email_host and settings.email_from:
        password = settings.email_password
        found.append(
            EmailChannel(
                "email",
                host=settings.email_host,
                port=settings.email_port,
                security=settings.email_security,
                sender=settings.email_from,
                recipients=settings.email_to,
                user=settings.email_user,
                password=None if password is None else password.get_secret_value(),
                timeout_s=settings.timeout_s,
                executor=mail_executor,
            )
        )
    if settings.sms_on and settings.sms_account_sid and settings.sms_auth_token:
        for name, recipient in zip(
            numbered("sms", len(settings.sms_to)), settings.sms_to, strict=True
        ):
            found.append(
                SmsChannel(
                    name,
                    base_url=settings.sms_url,
                    account_sid=settings.sms_account_sid,
                    auth_token=settings.sms_auth_token.get_secret_value(),
                    sender=settings.sms_from or "",
                    recipient=recipient,
                    client=client,
                )
            )
    urls = settings.webhook_urls
    for name, url in zip(numbered("webhook", len(urls)), urls, strict=True):
        found.append(WebhookChannel(name, url.get_secret_value(), client))
    if settings.telegram_token is not None and settings.telegram_chat_id:
        found.append(
            TelegramChannel(
                "telegram",
                base_url=settings.telegram_url,
                token=settings.telegram_token.get_secret_value(),
                chat_id=settings.telegram_chat_id,
                client=client,
            )
        )
    if settings.dashboard and hub_of is not None and hub_of() is not None:
        found.append(DashboardChannel(hub_of, clock_ns))
    return found
