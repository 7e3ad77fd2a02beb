"""Bad input is a clear 4xx with one line saying what was wrong; nothing is ever a bare 500.

Every error body is `{"error": "<one line>"}`. A request the API cannot validate is 422 with
the field named; a run, order or pattern that does not exist is 404; anything of ours that
refuses the request (a CoinswarmError) is 400 or 409. An unexpected exception is logged with
its traceback and answered 500 with a generic line, never the exception's text (it may hold a
path, a URL or worse).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from coinswarm.domain.errors import CoinswarmError

__all__ = ["NotFoundError", "install_error_handlers", "problem"]

logger = logging.getLogger(__name__)


class NotFoundError(CoinswarmError, LookupError):
    """What the request names (a run, an order, a pattern) does not exist."""


def problem(status: int, message: str) -> JSONResponse:
    """Return the one-line error body every refusal uses."""
    return JSONResponse({"error": message}, status_code=status)


def _field(location: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in location if part not in ("body",)) or "request"


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    return problem(422, f"{_field(tuple(first.get('loc', ())))}: {first.get('msg', 'invalid')}")


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    status = 404 if isinstance(exc, LookupError) else 400
    return problem(status, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal error: the server's log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Make every failure of `app` answer with the one-line error body."""
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(CoinswarmError, _refused)
    app.add_exception_handler(Exception, _unexpected)
