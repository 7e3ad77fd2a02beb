"""Follow a Coinbase listing's cursor to its end, one request (and one rate-limit slot) a page.

A listing is read to the end or not at all: stopping after some number of pages would hide
the oldest fills from reconciliation without a word. What guards against a server that never
ends is the cursor itself: a cursor seen before in the same walk would repeat pages forever,
so it is refused as untrustworthy data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from coinswarm.exchanges.coinbase.errors import ExchangeDataError
from coinswarm.exchanges.coinbase.rest import Reply

__all__ = ["after_has_next", "pages"]

M = TypeVar("M", bound=BaseModel)


class _Flagged(Protocol):
    @property
    def has_next(self) -> bool: ...
    @property
    def cursor(self) -> str: ...


def after_has_next(reply: Reply, page: _Flagged) -> str:
    """Return the next cursor of a listing that says `has_next` (orders, accounts), or ""."""
    if not page.has_next:
        return ""
    if not page.cursor:
        raise ExchangeDataError(reply.route, "cursor", "expected a cursor when has_next is true")
    return page.cursor


def pages(
    get: Callable[[dict[str, Any]], Reply],
    params: Mapping[str, Any],
    model: type[M],
    following: Callable[[Reply, M], str],
) -> Iterator[tuple[Reply, M]]:
    """Yield every page of a listing: ask, then ask again with the page's cursor until none."""
    seen: set[str] = set()
    cursor = ""
    while True:
        reply = get({**params, **({"cursor": cursor} if cursor else {})})
        page = reply.parse(model)
        yield reply, page
        cursor = following(reply, page)
        if not cursor:
            return
        if cursor in seen:
            problem = f"expected a new cursor, found {cursor!r} again: the listing would not end"
            raise ExchangeDataError(reply.route, "cursor", problem)
        seen.add(cursor)
