"""Books, best bid and ask, and market trades: `/product_book`, `/best_bid_ask`, `.../ticker`.

Each exists twice, as on Coinbase: under the token (`/product_book`, `/products/{id}/ticker`)
and public (`/market/product_book`, `/market/products/{id}/ticker`). What the book and the
trades are made of at a replay venue is said in `book`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from coinswarm.domain.bar import NS_PER_SECOND
from coinswarm.exchanges.local_coinbase.amounts import MAX_ID_LENGTH
from coinswarm.exchanges.local_coinbase.book import Book, market_trades
from coinswarm.exchanges.local_coinbase.deps import Address, KeyName, Svc
from coinswarm.exchanges.local_coinbase.errors import ApiError
from coinswarm.exchanges.local_coinbase.routes import PREFIX

__all__ = ["MAX_BOOK_LEVELS", "MAX_TRADES", "router"]

MAX_BOOK_LEVELS = 500
"""The most levels a side `GET /product_book` returns; a larger `limit` is cut to it."""

MAX_TRADES = 1000
"""The most trades `GET /products/{id}/ticker` returns, Coinbase's own cap."""

MAX_UNIX_SECONDS = 10**11
"""A `start` or `end` beyond this (year 5138) cannot name a bar; it is refused."""

router = APIRouter(prefix=PREFIX)

ProductId = Annotated[str, Query(min_length=1, max_length=MAX_ID_LENGTH)]
Many = Annotated[list[str] | None, Query()]


def _book(svc: Svc, product_id: str) -> Book:
    book = svc.venue.book(product_id)
    if book is None:
        raise ApiError(404, "NOT_FOUND", f"product {product_id} not found")
    return book


def _depth(limit: int | None, cap: int) -> int:
    if limit is None:
        return cap
    if limit < 1:
        raise ApiError(400, "INVALID_ARGUMENT", f"limit: expected at least 1, found {limit}")
    return min(limit, cap)


def _product_book(svc: Svc, product_id: str, limit: int | None) -> dict[str, Any]:
    book = _book(svc, product_id).top(_depth(limit, MAX_BOOK_LEVELS))
    return {"pricebook": book.pricebook(), **book.summary()}


@router.get("/product_book")
async def product_book(
    svc: Svc, _key: KeyName, product_id: ProductId, limit: int | None = None
) -> dict[str, Any]:
    """Return a product's bids and asks, `limit` levels a side."""
    return _product_book(svc, product_id, limit)


@router.get("/market/product_book")
async def public_product_book(
    svc: Svc, _caller: Address, product_id: ProductId, limit: int | None = None
) -> dict[str, Any]:
    """Return a product's bids and asks without a token."""
    return _product_book(svc, product_id, limit)


@router.get("/best_bid_ask")
async def best_bid_ask(svc: Svc, _key: KeyName, product_ids: Many = None) -> dict[str, Any]:
    """Return the top of every product's book, or of the `product_ids` named."""
    venue = svc.venue
    wanted = product_ids or [i.symbol for i in venue.instruments()]
    books = [venue.book(product_id) for product_id in dict.fromkeys(wanted)]
    # As on Coinbase, a product that does not exist is left out rather than failing the rest.
    return {"pricebooks": [book.top(1).pricebook() for book in books if book is not None]}


def _seconds(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit() or int(text) > MAX_UNIX_SECONDS:
        msg = f"{name}: expected UNIX seconds up to {MAX_UNIX_SECONDS}, found {text[:40]!r}"
        raise ApiError(400, "INVALID_ARGUMENT", msg)
    return int(text) * NS_PER_SECOND


def _ticker(
    svc: Svc, product_id: str, limit: int | None, start: str | None, end: str | None
) -> dict[str, Any]:
    book = _book(svc, product_id)
    revealed = svc.venue.revealed(product_id)
    assert revealed is not None  # a listed product has a (possibly empty) replay
    trades = market_trades(
        revealed,
        limit=_depth(limit, MAX_TRADES),
        start_ns=_seconds(start, "start"),
        end_ns=_seconds(end, "end"),
    )
    best_bid = book.bids[0].json()["price"] if book.bids else ""
    best_ask = book.asks[0].json()["price"] if book.asks else ""
    return {"trades": trades, "best_bid": best_bid, "best_ask": best_ask}


@router.get("/products/{product_id}/ticker")
async def ticker(
    product_id: str,
    svc: Svc,
    _key: KeyName,
    limit: int | None = None,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """Return the latest market trades (the replay's bars) and the best bid and ask."""
    return _ticker(svc, product_id, limit, start, end)


@router.get("/market/products/{product_id}/ticker")
async def public_ticker(
    product_id: str,
    svc: Svc,
    _caller: Address,
    limit: int | None = None,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """Return the latest market trades and the best bid and ask, without a token."""
    return _ticker(svc, product_id, limit, start, end)
