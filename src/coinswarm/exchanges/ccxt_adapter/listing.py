"""List our trades through ccxt a page at a time, following the exchange's own cursor.

`fetch_my_trades` answers one page. ccxt's own `paginate` option stops quietly after ten
pages, needs a `since`, and retries away up to three errors, so a long session could lose
fills without a word. Here pages are followed until the exchange says there are no more, and
every failure reaches the caller.

Where the cursor travels is the exchange's business. Coinbase's class puts the response's
`cursor` into the `info` of the page's first trade and takes it back as the `cursor`
parameter; `FILL_CURSORS` names such exchanges. Any other exchange is asked for one page,
as ccxt answers it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from coinswarm.exchanges.ccxt_adapter.errors import CcxtDataError

__all__ = ["DEFAULT_PAGE_SIZE", "FILL_CURSORS", "my_trades"]

FILL_CURSORS: Mapping[str, str] = {"coinbase": "cursor", "coinbaseadvanced": "cursor"}
"""Exchanges whose fills page by a cursor: the `info` key it arrives in, and is sent back as."""

DEFAULT_PAGE_SIZE = 250
"""Trades asked for a page: what ccxt's own paging asks Coinbase for."""

Trades = Sequence[Mapping[str, Any]]
FetchPage = Callable[[int | None, int | None, dict[str, Any]], Trades]
"""`(since_ms, limit, params)` -> one page of ccxt trades."""


def my_trades(
    fetch: FetchPage, *, since_ms: int | None, cursor_key: str | None, page_size: int
) -> list[Mapping[str, Any]]:
    """Return every trade from `since_ms` on, page after page; one page without a cursor key.

    Raise `CcxtDataError` if the exchange hands a cursor back twice: following it would loop.
    """
    if cursor_key is None:
        return list(fetch(since_ms, None, {}))
    trades: list[Mapping[str, Any]] = []
    followed: set[str] = set()
    params: dict[str, Any] = {}
    while True:
        page = fetch(since_ms, page_size, params)
        trades.extend(page)
        cursor = _cursor(page, cursor_key)
        if cursor is None:
            return trades
        if cursor in followed:
            problem = f"cursor {cursor!r} came back twice; following it would never end"
            raise CcxtDataError("fetch_my_trades", f"info.{cursor_key}", problem)
        followed.add(cursor)
        params = {cursor_key: cursor}


def _cursor(page: Trades, key: str) -> str | None:
    """Return the next page's cursor carried in any trade's `info`, or None after the last."""
    for trade in page:
        info = trade.get("info")
        if isinstance(info, Mapping):
            value = info.get(key)
            if value not in (None, ""):
                return str(value)
    return None
