"""Advanced Trade routes the local exchange cannot mean anything by: a clear 400, not a 404.

The local exchange is one spot venue with one portfolio and no money outside it. Futures
(`/cfm/...`), perpetuals (`/intx/...`), closing a futures position, converts (`/convert/...`),
payment methods, and creating, editing, deleting or moving funds between portfolios are
therefore refused with HTTP 400 and error `UNSUPPORTED`, after the token is checked, so a
client learns at once what it asked for and why, instead of guessing at a 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request

from coinswarm.exchanges.local_coinbase.deps import KeyName
from coinswarm.exchanges.local_coinbase.errors import ApiError
from coinswarm.exchanges.local_coinbase.routes import PREFIX

__all__ = ["UNSUPPORTED", "router"]

router = APIRouter(prefix=PREFIX)

UNSUPPORTED: dict[str, tuple[tuple[str, ...], str]] = {
    "/cfm/{rest:path}": (("GET", "POST", "DELETE"), "futures (CFM)"),
    "/intx/{rest:path}": (("GET", "POST"), "perpetuals (INTX)"),
    "/orders/close_position": (("POST",), "closing a futures position"),
    "/convert/{rest:path}": (("GET", "POST"), "converts"),
    "/payment_methods": (("GET",), "payment methods"),
    "/payment_methods/{payment_method_id}": (("GET",), "payment methods"),
    "/portfolios": (("POST",), "creating portfolios"),
    "/portfolios/move_funds": (("POST",), "moving funds between portfolios"),
    "/portfolios/{portfolio_uuid}": (("PUT", "DELETE"), "editing or deleting portfolios"),
}
"""Each refused path, the methods refused there and what the caller asked for."""


def _refuser(feature: str) -> Callable[..., Awaitable[None]]:
    async def refuse(request: Request, _key: KeyName) -> None:
        msg = (
            f"{request.method} {request.url.path}: {feature} is not offered by the local "
            "exchange (one spot venue, one portfolio, no money outside it)"
        )
        raise ApiError(400, "UNSUPPORTED", msg)

    refuse.__doc__ = f"Refuse {feature}: the local exchange does not offer it."
    return refuse


for _path, (_methods, _feature) in UNSUPPORTED.items():
    for _method in _methods:  # one route a method, so each has its own operation id
        router.add_api_route(_path, _refuser(_feature), methods=[_method], response_model=None)
