"""What an order or an edit would cost (`POST /orders/preview`, `/orders/edit_preview`).

A preview is priced at the order's limit price, or for a market order at the touch of the
book it would take (the ask for a buy, the bid for a sell), with the taker fee: an estimate,
as Coinbase's is. Problems are listed in `errs` (`errors` for edits) with Coinbase's preview
reason codes; nothing is placed or changed.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from coinswarm.domain.fill import Liquidity
from coinswarm.domain.order import OrderRequest, OrderSide
from coinswarm.exchanges.local_coinbase import convert
from coinswarm.exchanges.local_coinbase import schemas as s
from coinswarm.exchanges.local_coinbase.book import Book
from coinswarm.exchanges.local_coinbase.editing import EditRefusalError
from coinswarm.exchanges.local_coinbase.venue import Venue

__all__ = ["edit_preview", "order_preview"]

ZERO = Decimal(0)


def _touch(book: Book | None) -> tuple[str, str]:
    if book is None:
        return "", ""
    bid = convert.decimal_text(book.bids[0].price) if book.bids else ""
    ask = convert.decimal_text(book.asks[0].price) if book.asks else ""
    return bid, ask


def _figures(side: OrderSide, base: Decimal, price: Decimal, rate: Decimal) -> dict[str, str]:
    value = base * price
    commission = value * rate
    total = value + commission if side is OrderSide.BUY else value - commission
    return {
        "base_size": convert.decimal_text(base),
        "quote_size": convert.decimal_text(value),
        "commission_total": convert.decimal_text(commission),
        "order_total": convert.decimal_text(total),
    }


def _price(request: OrderRequest, bid: str, ask: str) -> Decimal | None:
    if request.limit_price is not None:
        return request.limit_price
    touch = ask if request.side is OrderSide.BUY else bid
    return Decimal(touch) if touch else None


def _short_of_funds(venue: Venue, request: OrderRequest, figures: dict[str, str]) -> bool:
    instrument = venue.instrument(request.instrument)
    assert instrument is not None
    buying = request.side is OrderSide.BUY
    currency = instrument.quote if buying else instrument.base
    total, hold = venue.balances().get(currency, (ZERO, ZERO))
    needed = Decimal(figures["order_total"] if buying else figures["base_size"])
    return needed > total - hold


def order_preview(venue: Venue, body: s.PreviewOrderRequest) -> dict[str, Any]:
    """Return the preview of an order: its estimated size, value, fee and any problems."""
    bid, ask = _touch(venue.book(body.product_id))
    answer: dict[str, Any] = {
        "errs": [],
        "warning": [],
        "best_bid": bid,
        "best_ask": ask,
        "is_max": False,
        "slippage": "0",
        "preview_id": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(body.model_dump()))),
        **_figures(OrderSide(body.side), ZERO, ZERO, ZERO),
    }
    create = s.CreateOrderRequest(client_order_id="preview", **body.model_dump())
    try:
        request = convert.order_request(create, venue.instrument(body.product_id))
    except convert.RejectError as refusal:
        return {**answer, "errs": [refusal.preview_reason]}
    price = _price(request, bid, ask)
    if price is None:
        return {**answer, "errs": ["PREVIEW_INVALID_NO_LIQUIDITY"]}
    rate = venue.fee_schedule().rate(Liquidity.TAKER)
    base = request.quantity
    if base is None:
        assert request.quote_quantity is not None
        instrument = venue.instrument(body.product_id)
        assert instrument is not None
        base = instrument.round_size(request.quote_quantity / (price * (1 + rate)))
    figures = _figures(request.side, base, price, rate)
    errs = ["PREVIEW_INSUFFICIENT_FUND"] if _short_of_funds(venue, request, figures) else []
    return {**answer, **figures, "errs": errs}


def edit_preview(venue: Venue, body: s.EditOrderRequest) -> dict[str, Any]:
    """Return the preview of an edit: the edited order's figures, or why it would fail."""
    try:
        order, terms = venue.edit(body.order_id, body.size, body.price, commit=False)
    except EditRefusalError as refusal:
        return {"errors": refusal.errors()}
    bid, ask = _touch(venue.book(order.instrument))
    rate = venue.fee_schedule().rate(Liquidity.TAKER)
    return {
        "errors": [],
        "slippage": "0",
        "best_bid": bid,
        "best_ask": ask,
        "average_filled_price": convert.decimal_text(order.average_fill_price),
        **_figures(order.side, terms.size, terms.price, rate),
    }
