"""The channels that speak HTTP: a Slack/Discord webhook, a Twilio-compatible SMS gateway,
Telegram's bot API. Each base URL is configurable, so tests (and self-hosted gateways) point
them at a local server.

A 2xx answer is a delivery; anything else raises DeliveryError with the status and the start
of the answer (scrubbed of secrets), and a 429 carries the receiver's Retry-After.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from coinswarm.infra.alerts.channels.base import DeliveryError, Message, redact

__all__ = ["SmsChannel", "TelegramChannel", "WebhookChannel"]

# What each receiver takes at most: Discord's content is 2,000 characters, a Telegram message
# 4,096, and an SMS of more than two segments costs more than it tells.
DISCORD_LIMIT = 2000
TELEGRAM_LIMIT = 4096
SMS_LIMIT = 300
_EXCERPT = 200


async def _post(
    client: httpx.AsyncClient, what: str, url: str, secrets: tuple[str, ...], **kwargs: Any
) -> httpx.Response:
    try:
        response = await client.post(url, **kwargs)
    except httpx.TimeoutException:
        raise DeliveryError(f"{what}: no answer in time") from None
    except httpx.HTTPError as exc:
        # Not str(exc): httpx puts the URL in it, and the URL may be the credential.
        raise DeliveryError(f"{what}: {type(exc).__name__}") from None
    if response.is_success:
        return response
    excerpt = redact(response.text[:_EXCERPT], secrets).strip()
    retry_after = _retry_after(response) if response.status_code == 429 else None
    message = f"{what}: HTTP {response.status_code}" + (f" {excerpt}" if excerpt else "")
    raise DeliveryError(message, retry_after_s=retry_after)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(float(response.headers.get("retry-after", "")), 0.0)
    except ValueError:
        return None


class WebhookChannel:
    """A Slack- or Discord-compatible incoming webhook: POST {"text": ..., "content": ...}."""

    def __init__(self, name: str, url: str, client: httpx.AsyncClient) -> None:
        self._name = name
        self._url = url
        self._client = client

    @property
    def name(self) -> str:
        return self._name

    def secrets(self) -> tuple[str, ...]:
        # The URL's path and query are the credential (Slack's /services/T../B../token,
        # Discord's /api/webhooks/id/token); a receiver echoing the path must not leak it.
        parts = urlsplit(self._url)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        return (self._url, tail) if len(tail) > 1 else (self._url,)

    async def send(self, message: Message) -> None:
        """Post the alert: Slack reads `text`, Discord reads `content`, each ignores the other."""
        body = message.body(DISCORD_LIMIT)
        await _post(
            self._client,
            self._name,
            self._url,
            self.secrets(),
            json={"text": body, "content": body},
        )


class SmsChannel:
    """An SMS through a Twilio-compatible API, to one number."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        recipient: str,
        client: httpx.AsyncClient,
    ) -> None:
        self._name = name
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = (account_sid, auth_token)
        self._sender = sender
        self._recipient = recipient
        self._client = client

    @property
    def name(self) -> str:
        return self._name

    def secrets(self) -> tuple[str, ...]:
        return (self._auth[1],)

    async def send(self, message: Message) -> None:
        """Post the form Twilio takes (To, From, Body), with the account's basic auth."""
        form = {"To": self._recipient, "From": self._sender, "Body": message.body(SMS_LIMIT)}
        await _post(self._client, self._name, self._url, self.secrets(), data=form, auth=self._auth)


class TelegramChannel:
    """A message from a Telegram bot to one chat."""

    def __init__(
        self, name: str, *, base_url: str, token: str, chat_id: str, client: httpx.AsyncClient
    ) -> None:
        self._name = name
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self._token = token
        self._chat_id = chat_id
        self._client = client

    @property
    def name(self) -> str:
        return self._name

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

    async def send(self, message: Message) -> None:
        """Post sendMessage as plain text; a 200 whose body says `"ok": false` is a failure."""
        payload = {
            "chat_id": self._chat_id,
            "text": message.body(TELEGRAM_LIMIT),
            "disable_web_page_preview": True,
        }
        response = await _post(self._client, self._name, self._url, self.secrets(), json=payload)
        try:
            answer = response.json()
        except ValueError:
            return  # a gateway that answers 2xx without JSON took it
        if isinstance(answer, dict) and answer.get("ok") is False:
            said = redact(str(answer.get("description", ""))[:_EXCERPT], self.secrets())
            raise DeliveryError(f"{self._name}: refused: {said}")
