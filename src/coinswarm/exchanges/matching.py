"""Where an order executes on a bar: the price rules of the simulated matching engine.

Bars say only where the price opened, how far it ranged and where it closed, so the rules are
the conservative ones: a market order takes the open; a stop that the open jumped past fills
at the open, worse for us; a limit order fills at its own price, never better, except an order
that was already marketable when the bar opened, which takes the open like a market order.
"""

from __future__ import annotations

from decimal import Decimal

from coinswarm.domain.bar import Bar
from coinswarm.domain.fill import Liquidity
from coinswarm.domain.order import Order, OrderSide, OrderType

__all__ = ["execution_price"]

Execution = tuple[Decimal, Liquidity]


def execution_price(order: Order, bar: Bar, *, first_bar: bool) -> Execution | None:
    """Return the price and liquidity at which `order` executes on `bar`, or None.

    `first_bar` says this is the first bar the order meets, when a marketable order is still
    an aggressive one. A stop order that triggers is marked `triggered` as a side effect.
    """
    request = order.request
    if request.type is OrderType.MARKET:
        return _price(bar.open), Liquidity.TAKER
    if request.type is OrderType.LIMIT:
        return _limit(order, bar, first_bar=first_bar)
    return _stop(order, bar)


def _price(value: float) -> Decimal:
    return Decimal(repr(value))


def _within(price: Decimal, limit: Decimal, side: OrderSide) -> bool:
    return price <= limit if side is OrderSide.BUY else price >= limit


def _stop(order: Order, bar: Bar) -> Execution | None:
    if order.triggered:
        return _limit(order, bar, first_bar=False)
    trigger = _trigger_price(order, bar)
    if trigger is None:
        return None
    order.triggered = True
    if order.request.type is OrderType.STOP:
        return trigger, Liquidity.TAKER
    limit = order.request.limit_price
    assert limit is not None  # a stop-limit always has one: OrderRequest checks it
    if _within(trigger, limit, order.side):
        return trigger, Liquidity.TAKER
    return None  # triggered beyond its limit: it rests as a limit order from the next bar


def _limit(order: Order, bar: Bar, *, first_bar: bool) -> Execution | None:
    limit = order.request.limit_price
    assert limit is not None
    opened = _price(bar.open)
    if first_bar and _within(opened, limit, order.side):
        return opened, Liquidity.TAKER
    touched = bar.low <= limit if order.side is OrderSide.BUY else bar.high >= limit
    return (limit, Liquidity.MAKER) if touched else None


def _trigger_price(order: Order, bar: Bar) -> Decimal | None:
    stop = order.request.stop_price
    assert stop is not None
    opened = _price(bar.open)
    if order.side is OrderSide.BUY:
        return max(opened, stop) if bar.high >= stop else None
    return min(opened, stop) if bar.low <= stop else None
