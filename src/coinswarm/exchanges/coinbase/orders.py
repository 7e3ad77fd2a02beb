"""Prepare an order for Coinbase: round it to the product's increments, refuse what is too small.

Rounding is in the safe direction (sizes down, buy prices down, sell prices up) and the
refusal happens here, before any request, so an order the exchange would reject costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderRequest, OrderSide, OrderType, TimeInForce

__all__ = ["Prepared", "body_for", "prepare"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request rounded to the product's increments, or the reason it cannot be sent."""

    request: OrderRequest
    refusal: str | None = None


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _unsupported(request: OrderRequest) -> str | None:
    if request.type is OrderType.MARKET:
        return None
    if request.type is OrderType.LIMIT and request.time_in_force is TimeInForce.GTC:
        return None
    return (
        "this adapter sends market (IOC) and limit GTC orders only, found "
        f"{request.type} {request.time_in_force}"
    )


def _quote_problem(quote: Decimal, instrument: Instrument) -> str | None:
    if quote < instrument.min_notional:
        return (
            f"quote size {quote} {instrument.quote} is below the minimum {instrument.min_notional}"
        )
    return None


def prepare(request: OrderRequest, instrument: Instrument) -> Prepared:
    """Return the request rounded to `instrument`'s increments, with a refusal if too small."""
    problem = _unsupported(request)
    if problem:
        return Prepared(request, problem)
    if request.quote_quantity is not None:
        # Quote sizes are amounts of the quote currency, so they move on the price tick.
        quote = request.quote_quantity.quantize(instrument.price_increment, rounding=ROUND_DOWN)
        if quote <= 0:
            return Prepared(request, f"quote size {request.quote_quantity} rounds to nothing")
        return Prepared(replace(request, quote_quantity=quote), _quote_problem(quote, instrument))
    return _prepare_base_sized(request, instrument)


def _prepare_base_sized(request: OrderRequest, instrument: Instrument) -> Prepared:
    assert request.quantity is not None  # OrderRequest guarantees one of the two sizes
    size = instrument.round_size(request.quantity)
    if size <= 0 or size < instrument.min_size:
        return Prepared(request, f"size {size} is below the minimum {instrument.min_size}")
    if request.limit_price is None:
        return Prepared(replace(request, quantity=size))
    price = instrument.round_price(request.limit_price, request.side)
    if price <= 0:
        return Prepared(request, f"limit price {request.limit_price} rounds to nothing")
    rounded = replace(request, quantity=size, limit_price=price)
    return Prepared(rounded, instrument.size_problem(size, price))


def body_for(request: OrderRequest) -> dict[str, Any]:
    """Return the `POST /orders` body for a prepared request."""
    if request.type is OrderType.LIMIT:
        assert request.quantity is not None
        assert request.limit_price is not None
        config: dict[str, Any] = {
            "limit_limit_gtc": {
                "base_size": _text(request.quantity),
                "limit_price": _text(request.limit_price),
            }
        }
    elif request.quote_quantity is not None:
        config = {"market_market_ioc": {"quote_size": _text(request.quote_quantity)}}
    else:
        assert request.quantity is not None
        config = {"market_market_ioc": {"base_size": _text(request.quantity)}}
    return {
        "client_order_id": request.client_order_id,
        "product_id": request.instrument,
        "side": OrderSide(request.side).value,
        "order_configuration": config,
    }
