"""Faults spread through a lockstep session: armed at chosen bars, matched by route.

The local exchange's `FaultPlan` matches one exact path and fires on the first requests that
match. A long paper run needs more: faults on "any GET order" whatever its id, armed only
from a given bar so they land in the middle of the run, answers whose body is real except
for one field (an unknown status, a negative size, a product that is not listed), bursts of
requests from another holder of the same key that leave our next requests to meet genuine
429s with the exchange's own `x-ratelimit-*` headers, and a server-side log of every request
so a test can count what reached the exchange and when.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from coinswarm.exchanges.local_coinbase.faults import (
    ASGIApp,
    Fault,
    FaultPlan,
    Message,
    Receive,
    Scope,
    Send,
)
from coinswarm.exchanges.local_coinbase.ratelimit import RateLimiter

__all__ = [
    "ROUTES",
    "Burst",
    "EditMiddleware",
    "FaultSchedule",
    "LoggedRequest",
    "RequestLog",
    "RequestLogMiddleware",
    "Route",
    "RouteFault",
    "spend_tokens",
]

Route = Literal["create", "cancel", "get_order", "fills", "list_orders", "accounts", "products"]

_PREFIX = "/api/v3/brokerage"
BURST_TOKENS = 1_000_000  # more than any bucket holds: a burst empties it
ROUTES: dict[str, tuple[str, re.Pattern[str]]] = {
    "create": ("POST", re.compile(rf"^{_PREFIX}/orders$")),
    "cancel": ("POST", re.compile(rf"^{_PREFIX}/orders/batch_cancel$")),
    "get_order": ("GET", re.compile(rf"^{_PREFIX}/orders/historical/(?!batch$|fills$)[^/]+$")),
    "fills": ("GET", re.compile(rf"^{_PREFIX}/orders/historical/fills$")),
    "list_orders": ("GET", re.compile(rf"^{_PREFIX}/orders/historical/batch$")),
    "accounts": ("GET", re.compile(rf"^{_PREFIX}/accounts$")),
    "products": ("GET", re.compile(rf"^{_PREFIX}/products$")),
}
"""Each route a fault can name: its method and the paths it covers."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteFault:
    """A fault on every request to `route` from bar `step` on, `times` times.

    `kind` is one of the local exchange's fault kinds, or "edit": run the route, then set
    the answer's JSON field `edit_field` (dotted path, list indexes as numbers) to
    `edit_value`; an answer without that field passes unchanged and is not counted.
    """

    step: int
    route: Route
    kind: Literal["delay", "status", "malformed", "drop", "edit"]
    when: Literal["before", "after"] = "before"
    times: int = 1
    delay_s: float = 0.0
    status_code: int = 503
    body: dict[str, Any] | None = None
    edit_field: str = ""
    edit_value: object = None

    def matches(self, method: str, path: str) -> bool:
        wanted, pattern = ROUTES[self.route]
        return wanted == method.upper() and pattern.match(path) is not None

    def as_fault(self, method: str, path: str) -> Fault:
        return Fault(
            method=method,
            path=path,
            kind="status" if self.kind == "edit" else self.kind,
            when=self.when,
            delay_s=self.delay_s,
            status_code=self.status_code,
            body=self.body,
            times=self.times,
        )


@dataclass(frozen=True, slots=True)
class Burst:
    """From bar `step`, another holder of our key spends every token just before each of our
    next `requests` requests, which so meet the exchange's own 429 and its headers."""

    step: int
    requests: int


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the exchange saw it: when (its monotonic clock), what, and the answer."""

    at: float
    method: str
    path: str
    status: int
    reset_s: float | None


class FaultSchedule(FaultPlan):
    """A fault plan armed bar by bar; the lockstep driver calls `arm` with each bar's step."""

    def __init__(self, faults: Sequence[RouteFault] = (), bursts: Sequence[Burst] = ()) -> None:
        super().__init__()
        self._scheduled = list(faults)
        self._bursts = list(bursts)
        self._used = [0] * len(self._scheduled)
        self._step = -1
        self._spend: Callable[[int], None] | None = None
        self._bursting = 0  # how many more of our requests find the bucket spent
        self.fired: list[tuple[int, str, str]] = []  # (step, route, kind) of each use

    def attach(self, spend: Callable[[int], None]) -> None:
        """Say how a burst spends tokens of our key at the exchange."""
        self._spend = spend

    def arm(self, step: int) -> None:
        """Move to bar `step`: faults scheduled up to it are armed, its bursts are spent."""
        with self._lock:
            self._step = step
        for burst in self._bursts:
            if burst.step == step:
                with self._lock:
                    self._bursting += burst.requests
                self.fired.append((step, "burst", str(burst.requests)))

    def take(self, method: str, path: str) -> Fault | None:
        """Return the first armed fault (not an edit) for this request and count its use."""
        self._burst()
        index = self._next(method, path, edits=False)
        if index is None:
            return None
        return self._scheduled[index].as_fault(method, path)

    def _burst(self) -> None:
        with self._lock:
            if not self._bursting or self._spend is None:
                return
            self._bursting -= 1
            spend = self._spend
        spend(BURST_TOKENS)

    def take_edit(self, method: str, path: str) -> RouteFault | None:
        """Return the first armed edit for this request, without counting it yet."""
        index = self._next(method, path, edits=True, count=False)
        return None if index is None else self._scheduled[index]

    def count_edit(self, fault: RouteFault) -> None:
        with self._lock:
            index = self._scheduled.index(fault)
            self._used[index] += 1
            self.fired.append((self._step, fault.route, fault.kind))

    def _next(self, method: str, path: str, *, edits: bool, count: bool = True) -> int | None:
        with self._lock:
            for index, fault in enumerate(self._scheduled):
                armed = fault.step <= self._step and self._used[index] < fault.times
                if armed and (fault.kind == "edit") == edits and fault.matches(method, path):
                    if count:
                        self._used[index] += 1
                        self.fired.append((self._step, fault.route, fault.kind))
                    return index
        return None


def spend_tokens(limiter: RateLimiter, key_name: str) -> Callable[[int], None]:
    """Return how a burst spends up to `n` tokens of `key_name`'s bucket, until it is empty."""

    def spend(requests: int) -> None:
        for _ in range(requests):
            if not limiter.take(key_name).allowed:
                return

    return spend


class EditMiddleware:
    """Run the route, then change one field of its JSON answer as the schedule says."""

    def __init__(self, app: ASGIApp, schedule: FaultSchedule) -> None:
        self._app = app
        self._schedule = schedule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        edit = None
        if scope["type"] == "http":
            edit = self._schedule.take_edit(str(scope["method"]), str(scope["path"]))
        if edit is None:
            await self._app(scope, receive, send)
            return
        produced: list[Message] = []

        async def capture(message: Message) -> None:
            produced.append(message)

        await self._app(scope, receive, capture)
        start = next(m for m in produced if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in produced if m["type"] == "http.response.body")
        edited = _edited(body, edit) if start["status"] == 200 else None
        if edited is not None:
            self._schedule.count_edit(edit)
            body = edited
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _edited(body: bytes, edit: RouteFault) -> bytes | None:
    """Return `body` with the edit applied, or None when it lacks the field."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    *parents, last = edit.edit_field.split(".")
    node: Any = document
    for part in parents:
        node = _child(node, part)
        if node is None:
            return None
    if isinstance(node, dict) and last in node:
        node[last] = edit.edit_value
        return json.dumps(document).encode()
    return None


def _child(node: Any, part: str) -> Any:
    if isinstance(node, list):
        return node[int(part)] if part.isdigit() and int(part) < len(node) else None
    return node.get(part) if isinstance(node, dict) else None


class RequestLog:
    """Every request under the brokerage prefix, as the exchange answered it."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    @property
    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def add(self, at: float, scope: Scope, start: Message) -> None:
        headers = {
            bytes(k).decode().lower(): bytes(v).decode() for k, v in start.get("headers", [])
        }
        reset = headers.get("x-ratelimit-reset")
        entry = LoggedRequest(
            at,
            str(scope["method"]),
            str(scope["path"]),
            int(start["status"]),
            float(reset) if reset is not None else None,
        )
        with self._lock:
            self._entries.append(entry)


class RequestLogMiddleware:
    """Log each request under the brokerage prefix with its status and reset header."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self._app = app
        self._log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(_PREFIX):
            await self._app(scope, receive, send)
            return
        at = self._log.monotonic()

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._log.add(at, scope, message)
            await send(message)

        await self._app(scope, receive, record)
