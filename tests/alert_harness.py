"""Real local receivers for the alert channels, and live events to feed the alert engine.

`HttpReceiver` is one HTTP server on 127.0.0.1 that answers as a Slack/Discord webhook, as a
Twilio-compatible SMS API (`/2010-04-01/Accounts/<sid>/Messages.json`) and as Telegram's bot
API (`/bot<token>/sendMessage`), and records every request. It can be started late on a port
chosen first (a receiver that is down, then back) and told to fail. `SmtpReceiver` is an
aiosmtpd server on the test's own event loop.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = [
    "HttpReceiver",
    "Request",
    "SmtpReceiver",
    "free_port",
    "live",
    "until",
]

WAIT_S = 10.0
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Wait until `condition()` holds; fail the test after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def live(kind: str, run_id: str = "paper-1", ts_ns: int = START_NS, **fields: Any) -> dict:
    """Return a live event of the plan's contract."""
    return {"kind": kind, "run_id": run_id, "mode": "paper", "ts_ns": ts_ns, **fields}


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class HttpReceiver:
    """A local HTTP server recording every POST; `status` is what it answers (200 by default)."""

    port: int = 0
    status: int = 200
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(Request(self.path, dict(self.headers), body))
                status = receiver.status
                answer = b'{"ok": true, "result": {}}' if "/sendMessage" in self.path else b"{}"
                if status >= 400:
                    # Echo the path, as some servers do: it may hold a token to be redacted.
                    answer = json.dumps({"error": "down", "path": self.path}).encode()
                self.send_response(
                    201 if status == 200 and "/Messages.json" in self.path else status
                )
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, prefix: str) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Collect:
    def __init__(self, got: list[EmailMessage]) -> None:
        self.got = got

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        mail = message_from_bytes(content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.got.append(mail)
        return "250 OK"


@dataclass
class SmtpReceiver:
    """An aiosmtpd server on the running loop; `messages` holds every email it took."""

    messages: list[EmailMessage] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> SmtpReceiver:
        loop = asyncio.get_running_loop()
        handler = _Collect(self.messages)
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="localhost"), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
