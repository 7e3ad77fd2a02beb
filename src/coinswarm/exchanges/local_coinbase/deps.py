"""What routes depend on: the services of one app, and the auth and rate-limit gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from coinswarm.domain.clock import Clock
from coinswarm.exchanges.local_coinbase.auth import AuthError, JwtVerifier, KeyRing
from coinswarm.exchanges.local_coinbase.errors import ApiError
from coinswarm.exchanges.local_coinbase.faults import FaultPlan
from coinswarm.exchanges.local_coinbase.ratelimit import RateLimiter
from coinswarm.exchanges.local_coinbase.venue import Venue

__all__ = ["Address", "KeyName", "Services", "Svc", "private_caller", "public_caller"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """Everything one exchange app serves from; kept in `app.state.services`."""

    venue: Venue
    keys: KeyRing
    clock: Clock
    verifier: JwtVerifier
    private_limits: RateLimiter
    public_limits: RateLimiter
    faults: FaultPlan


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


Svc = Annotated[Services, Depends(services)]


def _charge(limiter: RateLimiter, caller: str, response: Response) -> None:
    decision = limiter.take(caller)
    if not decision.allowed:
        raise ApiError(429, "RATE_LIMIT_EXCEEDED", "Too many requests", decision.headers())
    response.headers.update(decision.headers())


async def private_caller(request: Request, response: Response, svc: Svc) -> str:
    """Return the key name a request's token proves, after charging that key's bucket."""
    try:
        key_name = svc.verifier.verify(
            request.headers.get("authorization"),
            method=request.method,
            host=request.url.netloc,
            path=request.url.path,
        )
    except AuthError as error:
        raise ApiError(401, "UNAUTHORIZED", str(error)) from None
    # Authentication comes first: anonymous noise must not drain a real key's bucket.
    _charge(svc.private_limits, key_name, response)
    return key_name


async def public_caller(request: Request, response: Response, svc: Svc) -> str:
    """Return the caller's address, after charging that address's bucket."""
    address = request.client.host if request.client else "unknown"
    _charge(svc.public_limits, address, response)
    return address


KeyName = Annotated[str, Depends(private_caller)]
Address = Annotated[str, Depends(public_caller)]
