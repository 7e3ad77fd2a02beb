"""Orders: what we ask an exchange to do, and the state machine every answer must respect."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from coinswarm.domain.errors import IllegalTransitionError, InvalidOrderError
from coinswarm.domain.side import OrderSide

if TYPE_CHECKING:
    from coinswarm.domain.fill import Fill

# OrderSide lives in `side` (fills need it too); it stays part of the order vocabulary here.
__all__ = [
    "Order",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "TimeInForce",
]

ZERO = Decimal(0)


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(StrEnum):
    GTC = "GTC"  # good till cancelled
    GTD = "GTD"  # good till a date (`expire_ts`)
    IOC = "IOC"  # immediate or cancel: whatever the first eligible bar cannot fill is cancelled
    FOK = "FOK"  # fill or kill: all on the first eligible bar, or nothing


class OrderStatus(StrEnum):
    NEW = "NEW"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)

_LIVE = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})

# Every legal move of the state machine. Anything else is a bug or a confused exchange, and is
# refused loudly rather than papered over.
_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.OPEN, OrderStatus.REJECTED, OrderStatus.CANCELLED}),
    OrderStatus.OPEN: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """An intent to trade, before any exchange has seen it.

    Exactly one of `quantity` (base units) and `quote_quantity` (quote units to spend, fees
    included; market buys only, as Coinbase's `quote_size`) is set. `client_order_id` is
    derived by the caller from the intent so that a repeated intent is recognised.
    """

    client_order_id: str
    instrument: str
    side: OrderSide
    type: OrderType = OrderType.MARKET
    quantity: Decimal | None = None
    quote_quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_ts: int | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise InvalidOrderError(f"order {self.client_order_id}: {problem}")

    def _problem(self) -> str | None:
        return self._size_problem() or self._price_problem() or self._expiry_problem()

    def _size_problem(self) -> str | None:
        if (self.quantity is None) == (self.quote_quantity is None):
            return "expected exactly one of quantity and quote_quantity"
        if self.quote_quantity is not None and (
            self.type is not OrderType.MARKET or self.side is not OrderSide.BUY
        ):
            return f"quote_quantity is for market buys only, found a {self.type} {self.side}"
        amount = self.quantity if self.quantity is not None else self.quote_quantity
        if amount is None or not amount.is_finite() or amount <= 0:
            return f"expected a positive finite size, found {amount}"
        return None

    def _price_problem(self) -> str | None:
        needs_limit = self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        for name, needed, value in (
            ("limit_price", needs_limit, self.limit_price),
            ("stop_price", needs_stop, self.stop_price),
        ):
            if needed and (value is None or not value.is_finite() or value <= 0):
                return f"a {self.type} order needs a positive {name}, found {value}"
            if not needed and value is not None:
                return f"a {self.type} order takes no {name}, found {value}"
        return None

    def _expiry_problem(self) -> str | None:
        if (self.time_in_force is TimeInForce.GTD) != (self.expire_ts is not None):
            return "expire_ts goes with time in force GTD and only with it"
        return None


class Order:
    """An order as an exchange holds it: the request plus its state and what has filled."""

    __slots__ = (
        "average_fill_price",
        "created_ts",
        "fees",
        "filled_quantity",
        "filled_quote",
        "order_id",
        "reject_reason",
        "request",
        "status",
        "triggered",
        "updated_ts",
    )

    def __init__(self, order_id: str, request: OrderRequest, created_ts: int) -> None:
        self.order_id = order_id
        self.request = request
        self.created_ts = created_ts
        self.updated_ts = created_ts
        self.status = OrderStatus.NEW
        self.filled_quantity = ZERO
        self.filled_quote = ZERO  # quote spent or received, fees included
        self.average_fill_price = ZERO
        self.fees = ZERO
        self.reject_reason: str | None = None
        self.triggered = False  # a stop order whose stop price has been reached

    def __repr__(self) -> str:
        r = self.request
        return (
            f"Order({self.order_id}, {r.side} {r.type} {r.instrument}, {self.status}, "
            f"filled {self.filled_quantity})"
        )

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def instrument(self) -> str:
        return self.request.instrument

    @property
    def side(self) -> OrderSide:
        return self.request.side

    @property
    def is_live(self) -> bool:
        """Return True while the order can still fill."""
        return self.status in _LIVE

    @property
    def remaining_quantity(self) -> Decimal | None:
        """Return base units still to fill, or None for a quote-sized order."""
        if self.request.quantity is None:
            return None
        return self.request.quantity - self.filled_quantity

    @property
    def remaining_quote(self) -> Decimal | None:
        """Return quote units still to spend, or None for a base-sized order."""
        if self.request.quote_quantity is None:
            return None
        return self.request.quote_quantity - self.filled_quote

    def snapshot(self) -> Order:
        """Return a copy that shares nothing mutable with this order."""
        copy = Order(self.order_id, self.request, self.created_ts)
        for name in Order.__slots__:
            setattr(copy, name, getattr(self, name))
        return copy

    def transition(self, status: OrderStatus, ts: int) -> None:
        """Move to `status`, refusing any move the state machine does not allow."""
        if status not in _TRANSITIONS[self.status]:
            msg = (
                f"order {self.order_id} ({self.client_order_id}): cannot go from "
                f"{self.status} to {status}"
            )
            raise IllegalTransitionError(msg)
        self.status = status
        self.updated_ts = ts

    def accept(self, ts: int) -> None:
        self.transition(OrderStatus.OPEN, ts)

    def reject(self, reason: str, ts: int) -> None:
        self.reject_reason = reason
        self.transition(OrderStatus.REJECTED, ts)

    def cancel(self, ts: int) -> None:
        self.transition(OrderStatus.CANCELLED, ts)

    def expire(self, ts: int) -> None:
        self.transition(OrderStatus.EXPIRED, ts)

    def complete(self, ts: int) -> None:
        """Mark a partially filled order done when what is left is too small to trade."""
        self.transition(OrderStatus.FILLED, ts)

    def apply_fill(self, fill: Fill) -> None:
        """Add `fill` to what has executed and move to partially filled or filled."""
        if fill.order_id != self.order_id:
            msg = f"fill {fill.trade_id} belongs to order {fill.order_id}, not {self.order_id}"
            raise InvalidOrderError(msg)
        quantity = self.filled_quantity + fill.quantity
        self.average_fill_price = (
            self.average_fill_price * self.filled_quantity + fill.price * fill.quantity
        ) / quantity
        self.filled_quantity = quantity
        self.fees += fill.fee
        self.filled_quote += fill.notional + fill.fee * self.side.sign
        self.transition(
            OrderStatus.FILLED if self._is_complete() else OrderStatus.PARTIALLY_FILLED, fill.ts
        )

    def _is_complete(self) -> bool:
        remaining = self.remaining_quantity
        if remaining is not None:
            return remaining <= 0
        quote_left = self.remaining_quote
        return quote_left is not None and quote_left <= 0
