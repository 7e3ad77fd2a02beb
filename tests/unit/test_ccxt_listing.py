"""Following a fill listing's cursor: every page once, no loop, one page where there is none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from coinswarm.exchanges.ccxt_adapter import CcxtDataError
from coinswarm.exchanges.ccxt_adapter.listing import my_trades


class PagedTrades:
    """Trades served newest first in pages; a page's first trade carries the next cursor.

    That is how ccxt's coinbase class hands Coinbase's `cursor` back. `cursors` replaces the
    cursor each page hands out, to play an exchange that repeats itself.
    """

    def __init__(self, count: int, cursors: Sequence[str] | None = None) -> None:
        self.trades = [{"id": f"t-{n}", "info": {}} for n in reversed(range(count))]
        self.cursors = cursors
        self.asked: list[tuple[int | None, int | None, dict[str, Any]]] = []

    def fetch(
        self, since_ms: int | None, limit: int | None, params: dict[str, Any]
    ) -> list[Mapping[str, Any]]:
        self.asked.append((since_ms, limit, dict(params)))
        start = int(params.get("cursor", 0))
        size = limit or len(self.trades)
        page = [dict(t, info={}) for t in self.trades[start : start + size]]
        if page and start + size < len(self.trades):
            cursor = str(start + size)
            if self.cursors is not None:
                cursor = self.cursors[len(self.asked) - 1]
            page[0]["info"]["cursor"] = cursor
        return page


def test_every_page_is_followed_once_with_the_since_of_the_call() -> None:
    served = PagedTrades(7)
    trades = my_trades(served.fetch, since_ms=1_000, cursor_key="cursor", page_size=3)
    assert [t["id"] for t in trades] == [f"t-{n}" for n in reversed(range(7))]
    assert served.asked == [
        (1_000, 3, {}),
        (1_000, 3, {"cursor": "3"}),
        (1_000, 3, {"cursor": "6"}),
    ]


def test_an_exact_multiple_of_the_page_size_ends_on_the_last_page() -> None:
    served = PagedTrades(6)
    trades = my_trades(served.fetch, since_ms=None, cursor_key="cursor", page_size=3)
    assert len(trades) == 6
    assert len(served.asked) == 2


def test_an_exchange_without_a_cursor_is_asked_once_as_ccxt_answers() -> None:
    served = PagedTrades(7)
    trades = my_trades(served.fetch, since_ms=None, cursor_key=None, page_size=3)
    assert len(trades) == 7
    assert served.asked == [(None, None, {})]


def test_a_cursor_handed_back_twice_is_refused_rather_than_followed_forever() -> None:
    served = PagedTrades(9, cursors=["3", "3"])
    with pytest.raises(CcxtDataError, match="came back twice") as caught:
        my_trades(served.fetch, since_ms=None, cursor_key="cursor", page_size=3)
    assert caught.value.field == "info.cursor"
    assert len(served.asked) == 2
