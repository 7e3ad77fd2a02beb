"""The FastAPI application: Coinbase's REST surface, its auth, limits, errors and faults."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from coinswarm.domain.clock import Clock, WallClock
from coinswarm.exchanges.local_coinbase import (
    account_routes,
    control,
    market_routes,
    order_routes,
    routes,
    unsupported,
    v2,
    ws,
)
from coinswarm.exchanges.local_coinbase.auth import JwtVerifier, KeyRing
from coinswarm.exchanges.local_coinbase.bodylimit import MAX_BODY_BYTES, BodyLimitMiddleware
from coinswarm.exchanges.local_coinbase.deps import Services
from coinswarm.exchanges.local_coinbase.errors import ApiError
from coinswarm.exchanges.local_coinbase.faults import FaultMiddleware, FaultPlan
from coinswarm.exchanges.local_coinbase.ratelimit import (
    PRIVATE_PER_SECOND,
    PUBLIC_PER_SECOND,
    Monotonic,
    RateLimiter,
)
from coinswarm.exchanges.local_coinbase.stream import StreamSettings, StreamState
from coinswarm.exchanges.local_coinbase.venue import Venue

__all__ = ["create_app"]


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error.response()


SHOWN_PROBLEMS = 5
"""The most validation problems one 400 lists: enough to fix a request, never a flood."""


async def _invalid(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    details = "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in problems[:SHOWN_PROBLEMS]
    )
    if len(problems) > SHOWN_PROBLEMS:
        details += f"; and {len(problems) - SHOWN_PROBLEMS} more"
    return ApiError(400, "INVALID_ARGUMENT", details or "invalid request").response()


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = "NOT_FOUND" if error.status_code == 404 else "INVALID_ARGUMENT"
    return ApiError(error.status_code, code, str(error.detail)).response()


def create_app(
    venue: Venue,
    keys: KeyRing,
    *,
    clock: Clock | None = None,
    monotonic: Monotonic = time.monotonic,
    private_per_second: float = PRIVATE_PER_SECOND,
    public_per_second: float = PUBLIC_PER_SECOND,
    control_api: bool = False,
    stream: StreamSettings | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """Build the exchange's app; the test-only control API exists only with `control_api`.

    `clock` is the server's wall clock (token windows, `GET /time`); `monotonic` paces the
    rate limits. Both are injectable so skew and bursts can be tested without waiting.
    `stream` paces the websocket feed (heartbeats, polling); tests make it fast.
    A request body over `max_body_bytes` is refused with 413 before anything reads it.
    """
    wall = clock or WallClock()
    app = FastAPI(title="Coinswarm local Coinbase", docs_url=None, redoc_url=None)
    app.state.services = Services(
        venue=venue,
        keys=keys,
        clock=wall,
        verifier=JwtVerifier(keys, wall),
        private_limits=RateLimiter(private_per_second, monotonic=monotonic),
        public_limits=RateLimiter(public_per_second, monotonic=monotonic),
        faults=FaultPlan(),
    )
    # Every error is answered in the gateway's JSON shape, never FastAPI's `detail`.
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.state.stream = StreamState(settings=stream or StreamSettings())
    app.include_router(routes.router)
    app.include_router(order_routes.router)  # edit, edit preview, order preview
    app.include_router(market_routes.router)  # books, best bid and ask, market trades
    app.include_router(account_routes.router)  # one account, the one portfolio
    app.include_router(unsupported.router)  # futures, converts...: a clear 400, not a 404
    app.include_router(v2.router)  # the v2 reads ccxt makes before any v3 call
    app.include_router(ws.router)
    if control_api:
        app.include_router(control.router)
        app.include_router(ws.control_router)
    app.add_middleware(FaultMiddleware, plan=app.state.services.faults, prefix=routes.PREFIX)
    app.add_middleware(BodyLimitMiddleware, limit=max_body_bytes)  # outermost: first to look
    return app
