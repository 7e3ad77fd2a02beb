"""What the read routes share: the server's `Reads` part and the query values they validate."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Response
from pydantic import BaseModel

from coinswarm.api.reads import Reads
from coinswarm.api.reads.trades import PageRequest
from coinswarm.api.services import Services, services

__all__ = [
    "MAX_ID",
    "MAX_LIMIT",
    "PageQuery",
    "ReadsPart",
    "RunPath",
    "json_of",
    "page_request",
    "reads",
]

MAX_LIMIT = 1000
MAX_ID = 2**63 - 1
"""The largest key a database holds: a larger `after` is refused, not sent to SQL."""


def reads(found: Annotated[Services, Depends(services)]) -> Reads:
    """Return the server's read part, made on first use if the server was built without it."""
    part = found.parts.get("reads")
    if not isinstance(part, Reads):
        part = found.parts.setdefault("reads", Reads(found.settings))
    assert isinstance(part, Reads)
    return part


def json_of(model: BaseModel) -> Response:
    """Answer with `model` serialised once. A route that returns a model has FastAPI check it
    against the route's response model again, field by field, before serialising it: a third
    of the time of a page of 1,000 orders. The route still declares its `response_model`, so
    the OpenAPI schema and the dashboards' contract are the same."""
    return Response(model.model_dump_json(), media_type="application/json")


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 100,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="the `next` of the previous page (an item's seq)"),
    ] = None,
    order: Annotated[
        Literal["newest", "oldest"], Query(description="newest first (default) or oldest first")
    ] = "newest",
) -> PageRequest:
    """Return the page a request asks for."""
    return PageRequest(limit=limit, after=after, order=order)


ReadsPart = Annotated[Reads, Depends(reads)]
PageQuery = Annotated[PageRequest, Depends(page_request)]
RunPath = Annotated[str, Path(min_length=1, max_length=128, description="a run id")]
