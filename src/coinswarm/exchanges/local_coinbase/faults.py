"""A fault plan: what the exchange does wrong, to which route, before or after it commits.

Faults are ASGI middleware around the brokerage routes. "before" faults answer without
running the route, so nothing happens at the exchange; "after" faults run the route (an
order is placed, a cancel done) and then spoil the answer: the situation a client must treat
as ambiguous.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Fault", "FaultMiddleware", "FaultPlan"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MALFORMED_BODY = b'{"success": tru'


class Fault(BaseModel):
    """One fault on one route: `path` is exact, `times` counts uses (None: forever)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    path: str
    kind: Literal["delay", "status", "malformed", "drop"]
    when: Literal["before", "after"] = "before"
    delay_s: float = Field(default=0.0, ge=0.0, le=30.0)
    status_code: int = Field(default=503, ge=100, le=599)
    body: dict[str, Any] | None = None
    times: int | None = Field(default=1, ge=1)


class FaultPlan:
    """The faults in force; thread-safe, since tests set it from outside the server's loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._uses: list[int] = []

    def set(self, faults: list[Fault]) -> None:
        """Replace the plan."""
        with self._lock:
            self._faults = list(faults)
            self._uses = [0] * len(faults)

    def clear(self) -> None:
        self.set([])

    def take(self, method: str, path: str) -> Fault | None:
        """Return the first fault for this request and count its use, or None."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.method.upper() != method.upper() or fault.path != path:
                    continue
                if fault.times is not None and self._uses[index] >= fault.times:
                    continue
                self._uses[index] += 1
                return fault
        return None


class _Captured:
    """The response a route produced, held back so an "after" fault can replace it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def send(self, message: Message) -> None:
        self.messages.append(message)


class FaultMiddleware:
    """Apply a `FaultPlan` to the requests under `prefix`."""

    def __init__(self, app: ASGIApp, plan: FaultPlan, *, prefix: str) -> None:
        self._app = app
        self._plan = plan
        self._prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = None
        if scope["type"] == "http" and str(scope["path"]).startswith(self._prefix):
            fault = self._plan.take(str(scope["method"]), str(scope["path"]))
        if fault is None:
            await self._app(scope, receive, send)
            return
        if fault.when == "after":
            captured = _Captured()
            await self._app(scope, receive, captured.send)
            await _spoil(fault, send, captured.messages)
        else:
            await _spoil(fault, send, None)
            if fault.kind == "delay":
                await self._app(scope, receive, send)


async def _spoil(fault: Fault, send: Send, produced: list[Message] | None) -> None:
    """Send what `fault` says instead of (or, for a delay, after) the real answer."""
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay_s)
        for message in produced or []:
            await send(message)
    elif fault.kind == "status":
        await _send_json(send, fault.status_code, fault.body or {"error": "INJECTED_FAULT"})
    elif fault.kind == "malformed":
        await _send_raw(send, 200, MALFORMED_BODY)
    else:
        await _drop(send)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    await _send_raw(send, status, json.dumps(body).encode())


async def _send_raw(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _drop(send: Send) -> None:
    # ASGI has no "abort". Promising a body and returning without it makes the server close
    # the connection mid-response, which the client sees as a dropped connection.
    headers = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"succ', "more_body": True})
