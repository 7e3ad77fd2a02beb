"""The one error a route raises to answer with a non-200 status."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse

from coinswarm.domain.errors import CoinswarmError
from coinswarm.exchanges.local_coinbase.schemas import ErrorBody

__all__ = ["ApiError"]


class ApiError(CoinswarmError):
    """An HTTP error in Coinbase's shape: `error` code, `message` and optional headers."""

    def __init__(
        self, status: int, error: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.body = ErrorBody(error=error, message=message, error_details=message)
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return JSONResponse(self.body.model_dump(), status_code=self.status, headers=self.headers)
