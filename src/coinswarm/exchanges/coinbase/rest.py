"""Send one signed request to Coinbase's brokerage REST API, backing off and retrying safely.

What may be retried depends on whether repeating the request could change anything: reads and
cancels may be repeated after a 5xx or a lost answer; an order creation may not, so those
outcomes surface as `AmbiguousRequestError` for the adapter to resolve. A 429 is repeated for
every kind of request, since the exchange refused it before doing anything.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from coinswarm.exchanges.coinbase.errors import (
    ExchangeAuthError,
    ExchangeDataError,
    ExchangeUnavailableError,
)
from coinswarm.exchanges.coinbase.ratelimit import Sleep, TokenBucket
from coinswarm.exchanges.coinbase.tokens import TokenSigner
from coinswarm.exchanges.network_errors import describe

__all__ = ["PREFIX", "AmbiguousRequestError", "Reply", "RestClient", "RetryPolicy"]

PREFIX = "/api/v3/brokerage"

M = TypeVar("M", bound=BaseModel)

# Errors raised before a single byte of the request left: repeating them is always safe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ServerTime(BaseModel):
    """The answer to public `GET /time`; only the milliseconds are read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    epochMillis: str  # noqa: N815 - Coinbase's own field name


class AmbiguousRequestError(Exception):
    """A request that may have changed state got no usable answer; the adapter resolves it."""

    def __init__(self, route: str, detail: str) -> None:
        self.route = route
        self.detail = detail
        super().__init__(f"{route}: {detail}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How many times and how long to wait; jitter comes from the client's seeded random."""

    retries: int = 3
    rate_limit_retries: int = 6
    backoff_base_s: float = 0.25
    backoff_cap_s: float = 8.0
    rate_limit_jitter_s: float = 0.25
    max_reset_wait_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, raw body, and the route it answers, for error messages."""

    route: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """Return the decoded body, or raise `ExchangeDataError` if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            problem = f"expected a JSON body, found {len(self.body)} bytes that do not parse"
            raise ExchangeDataError(self.route, "body", problem) from None

    def parse(self, model: type[M]) -> M:
        """Return the body as `model`, or raise `ExchangeDataError` naming the bad field."""
        try:
            return model.model_validate(self.json())
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            raise ExchangeDataError(self.route, field, str(first["msg"])) from None

    def error_text(self) -> str:
        """Return the exchange's error code and message, shortened, for exception messages."""
        try:
            body = self.json()
        except ExchangeDataError:
            return f"HTTP {self.status}"
        if not isinstance(body, dict):
            return f"HTTP {self.status}"
        text = f"HTTP {self.status} {body.get('error', '')}: {body.get('message', '')}"
        return text[:300]


class RestClient:
    """Sign, pace and send requests under `/api/v3/brokerage`; one token per request."""

    def __init__(
        self,
        http: httpx.Client,
        signer: TokenSigner,
        *,
        bucket: TokenBucket,
        rng: random.Random,
        sleep: Sleep,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self._signer = signer
        self._bucket = bucket
        self._rng = rng
        self._sleep = sleep
        self._policy = policy or RetryPolicy()
        self._host = http.base_url.netloc.decode()

    def close(self) -> None:
        """Close the HTTP client and its pooled connections."""
        self._http.close()

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, priority: bool = False
    ) -> Reply:
        """Read; retried after 5xx, timeouts and dropped connections."""
        return self.request("GET", path, params=params, retry_safe=True, priority=priority)

    def post(
        self, path: str, body: dict[str, Any], *, retry_safe: bool, priority: bool = False
    ) -> Reply:
        """Write; retried after a lost answer only when `retry_safe` (repeating changes nothing).

        `priority` requests (the kill switch's cancels) go before queued ordinary ones.
        """
        return self.request("POST", path, body=body, retry_safe=retry_safe, priority=priority)

    def server_time_ns(self) -> int:
        """Return the exchange's clock from public `GET /time`, sent without a token.

        It is asked when a token was refused, so it must not depend on a token being valid.
        """
        route = f"GET {PREFIX}/time"
        self._bucket.acquire(priority=True)
        try:
            response = self._http.get(PREFIX + "/time")
        except httpx.TransportError as error:
            msg = f"{route}: no answer ({self._why(error)})"
            raise ExchangeUnavailableError(msg) from None
        reply = Reply(route, response.status_code, response.content, dict(response.headers))
        if reply.status != 200:
            msg = f"{route}: expected HTTP 200, found {reply.error_text()}"
            raise ExchangeUnavailableError(msg)
        millis = reply.parse(ServerTime).epochMillis
        if not millis.isdigit():
            raise ExchangeDataError(route, "epochMillis", f"expected digits, found {millis!r}")
        return int(millis) * 1_000_000

    def wait_before_retry(self, failures: int) -> float:
        """Sleep an exponential backoff with jitter after `failures` failed tries; return it."""
        wait = self._backoff(failures)
        self._sleep(wait)
        return wait

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        retry_safe: bool,
        priority: bool = False,
    ) -> Reply:
        """Send until an answer that is not a 429 or a retryable failure; return it."""
        route = f"{method} {PREFIX}{path}"
        limited = failed = 0
        while True:
            reply, problem = self._attempt(
                method,
                path,
                params=params,
                body=body,
                route=route,
                retry_safe=retry_safe,
                priority=priority,
            )
            if reply is not None and reply.status == 429:
                limited += 1
                self._give_up_if(limited > self._policy.rate_limit_retries, route, "429")
                self._bucket.pause(self._reset_wait(reply))
                continue
            if reply is not None and reply.status < 500:
                return _checked_auth(reply)
            failed += 1
            detail = problem or (reply.error_text() if reply else "no answer")
            self._give_up_if(failed > self._policy.retries, route, detail)
            self._sleep(self._backoff(failed))

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        route: str,
        retry_safe: bool,
        priority: bool,
    ) -> tuple[Reply | None, str | None]:
        """Send once; return the reply, or None and what went wrong when it may be retried."""
        self._bucket.acquire(priority=priority)
        token = self._signer.token(method, self._host, PREFIX + path)
        try:
            response = self._http.request(
                method,
                PREFIX + path,
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            reply = Reply(route, response.status_code, response.content, dict(response.headers))
        except _NOT_SENT as error:
            return None, f"not sent: {self._why(error)}"
        except httpx.TransportError as error:
            if not retry_safe:
                raise AmbiguousRequestError(route, f"answer lost: {self._why(error)}") from None
            return None, f"answer lost: {self._why(error)}"
        if reply.status >= 500 and not retry_safe:
            raise AmbiguousRequestError(route, reply.error_text())
        return reply, None

    def _why(self, error: httpx.TransportError) -> str:
        """Return what failed, with its cause (DNS, refused, TLS), not only httpx's class."""
        return describe(error, self._host) or f"{type(error).__name__}: {error}"

    def _reset_wait(self, reply: Reply) -> float:
        """Return how long a 429 asks to wait, plus jitter so many clients do not stampede."""
        header = _headers_value(reply)
        wait = header if header is not None else self._policy.backoff_base_s
        wait = min(wait, self._policy.max_reset_wait_s)
        return wait + self._rng.uniform(0, self._policy.rate_limit_jitter_s)

    def _backoff(self, failures: int) -> float:
        """Return an exponential backoff with equal jitter: half fixed, half random."""
        ceiling = min(
            self._policy.backoff_cap_s, self._policy.backoff_base_s * 2.0 ** (failures - 1)
        )
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _give_up_if(self, condition: bool, route: str, detail: str) -> None:
        if condition:
            msg = f"{route}: the exchange could not be reached after retries ({detail})"
            raise ExchangeUnavailableError(msg)


def _headers_value(reply: Reply) -> float | None:
    """Return the seconds a 429 asks to wait, from `x-ratelimit-reset` or `Retry-After`."""
    for name in ("x-ratelimit-reset", "retry-after"):
        text = reply.headers.get(name)
        if text is None:
            continue
        try:
            seconds = float(text)
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


def _checked_auth(reply: Reply) -> Reply:
    """Return `reply` unless the exchange refused the key itself."""
    if reply.status in (401, 403):
        msg = (
            f"{reply.route}: the exchange refused the key ({reply.error_text()}); check the key's "
            "scopes, and the local clock against GET /time if the token was called expired"
        )
        raise ExchangeAuthError(msg, route=reply.route, detail=reply.error_text())
    return reply
