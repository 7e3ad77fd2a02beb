"""Email through an SMTP server: plain text, with the alert's attachments (a daily report).

`smtplib` blocks, so each message is sent on a thread of its own executor and the event loop
never waits on a mail server. STARTTLS is the default, implicit TLS (port 465) and plain SMTP
(a local relay) are settings.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from concurrent.futures import Executor
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from coinswarm.infra.alerts.channels.base import DeliveryError, Message, redact

__all__ = ["EmailChannel", "compose"]

Security = Literal["starttls", "tls", "none"]


def compose(message: Message, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """Return the email of `message`: subject line, text body, attachments."""
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(idstring=f"alert-{message.alert_id}")
    # Lets a mail rule file alerts by kind, and a person see which alert this is.
    mail["X-Coinswarm-Alert"] = f"{message.alert_id} {message.alert.rule}"
    mail.set_content(message.alert.text or message.alert.title)
    for attachment in message.alert.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mail.add_attachment(
            attachment.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return mail


class EmailChannel:
    """One SMTP server, one sender, a list of recipients (one message to all of them)."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        security: Security,
        sender: str,
        recipients: Sequence[str],
        user: str | None,
        password: str | None,
        timeout_s: float,
        executor: Executor | None = None,
    ) -> None:
        self._name = name
        self._host = host
        self._port = port
        self._security = security
        self._sender = sender
        self._recipients = tuple(recipients)
        self._user = user
        self._password = password
        self._timeout_s = timeout_s
        self._executor = executor

    @property
    def name(self) -> str:
        return self._name

    def secrets(self) -> tuple[str, ...]:
        return (self._password,) if self._password else ()

    async def send(self, message: Message) -> None:
        """Hand the message to the SMTP server on a thread; its refusal is a DeliveryError."""
        mail = compose(message, self._sender, self._recipients)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._deliver, mail)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            text = redact(str(exc), self.secrets())[:200]
            raise DeliveryError(f"{self._name}: {type(exc).__name__}: {text}") from None

    def _deliver(self, mail: EmailMessage) -> None:
        smtp: smtplib.SMTP
        if self._security == "tls":
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout_s, context=context
            )
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout_s)
        with smtp:
            if self._security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self._user and self._password:
                smtp.login(self._user, self._password)
            refused = smtp.send_message(mail)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
