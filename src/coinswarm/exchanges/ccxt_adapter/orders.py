"""Prepare an order for ccxt: round it to the market's increments, refuse what cannot go.

Rounding is in the safe direction (sizes down, buy prices down, sell prices up, quote amounts
down to the price tick, where ccxt's `cost_to_precision` would cut them anyway) and happens
here, in `Decimal`, so the amount the exchange receives is known exactly. ccxt takes amounts
as floats; one that no float holds exactly (more than about 15 significant digits) is refused
rather than sent as a neighbour of itself.

Some ccxt classes (Coinbase's among them, `createMarketBuyOrderRequiresPrice`) send every
market buy as a quote amount: given a base size they want a price to multiply it by, which
would make a different order. A base-sized market buy is refused for those; size it in quote.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderRequest, OrderSide, OrderType
from coinswarm.domain.order import TimeInForce as Tif
from coinswarm.exchanges.ccxt_adapter.numbers import exact_float

__all__ = ["Prepared", "prepare"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request rounded to the market's increments and the floats ccxt is given for it.

    `amount` is the base size (None for a quote-sized buy), `price` the limit price, `cost`
    the quote amount a market buy spends; each float is exactly the Decimal in `request`.
    """

    request: OrderRequest
    amount: float | None = None
    price: float | None = None
    cost: float | None = None


def prepare(
    request: OrderRequest, instrument: Instrument, *, market_buys_by_quote: bool = False
) -> Prepared | str:
    """Return the request ready for ccxt, or the reason it is refused before sending.

    `market_buys_by_quote`: the exchange's ccxt class sends market buys as quote amounts only.
    """
    if request.type not in (OrderType.MARKET, OrderType.LIMIT):
        return f"this adapter sends market and limit orders only, found {request.type}"
    if request.type is OrderType.LIMIT and request.time_in_force is not Tif.GTC:
        return f"this adapter sends limit GTC orders only, found {request.time_in_force}"
    base_sized_market_buy = (
        request.type is OrderType.MARKET
        and request.side is OrderSide.BUY
        and request.quantity is not None
    )
    if base_sized_market_buy and market_buys_by_quote:
        return (
            "this exchange's ccxt class sends market buys as a quote amount only; "
            f"a market buy of {request.quantity} {instrument.base} must be sized in quote"
        )
    if request.quote_quantity is not None:
        return _quote_sized(request, instrument)
    return _base_sized(request, instrument)


def _quote_sized(request: OrderRequest, instrument: Instrument) -> Prepared | str:
    assert request.quote_quantity is not None
    quote = request.quote_quantity.quantize(instrument.price_increment, rounding=ROUND_DOWN)
    if quote < instrument.min_notional or quote <= 0:
        return f"quote size {request.quote_quantity} is below the minimum {instrument.min_notional}"
    cost = exact_float(quote)
    if cost is None:
        return _inexact("quote size", quote)
    return Prepared(replace(request, quote_quantity=quote), cost=cost)


def _base_sized(request: OrderRequest, instrument: Instrument) -> Prepared | str:
    assert request.quantity is not None  # OrderRequest holds exactly one size
    size = instrument.round_size(request.quantity)
    if size <= 0 or size < instrument.min_size:
        return f"size {request.quantity} is below the minimum {instrument.min_size}"
    amount = exact_float(size)
    if amount is None:
        return _inexact("size", size)
    if request.limit_price is None:
        return Prepared(replace(request, quantity=size), amount=amount)
    limit = instrument.round_price(request.limit_price, request.side)
    price = exact_float(limit) if limit > 0 else None
    if price is None:
        return _inexact("limit price", limit) if limit > 0 else "limit price rounds to nothing"
    rounded = replace(request, quantity=size, limit_price=limit)
    return Prepared(rounded, amount=amount, price=price)


def _inexact(what: str, value: Decimal) -> str:
    return f"{what} {value} has no exact float, and ccxt sends amounts as floats"
