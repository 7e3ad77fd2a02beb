"""Instruments: what can be traded, and the increments and minimums an exchange enforces."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.order import OrderSide

__all__ = ["Instrument", "instrument_from_symbol"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """A spot pair such as BTC-USDT: `base` is bought and sold, priced in `quote`."""

    symbol: str
    base: str
    quote: str
    price_increment: Decimal = Decimal("0.00000001")
    size_increment: Decimal = Decimal("0.00000001")
    min_size: Decimal = Decimal("0.00000001")
    min_notional: Decimal = Decimal("1")

    def __post_init__(self) -> None:
        for name in ("price_increment", "size_increment", "min_size", "min_notional"):
            value: Decimal = getattr(self, name)
            if not value.is_finite() or value < 0 or (name.endswith("increment") and value == 0):
                msg = f"instrument {self.symbol}: {name} must be positive, found {value}"
                raise InvalidOrderError(msg)

    def round_size(self, quantity: Decimal) -> Decimal:
        """Round a quantity down to the size increment: never trade more than was asked."""
        return quantity.quantize(self.size_increment, rounding=ROUND_DOWN)

    def round_price(self, price: Decimal, side: OrderSide) -> Decimal:
        """Round a price to the tick in the direction that is safe for `side`.

        A buy never pays more than asked (round down); a sell never accepts less (round up).
        """
        steps = price / self.price_increment
        rounding = ROUND_FLOOR if side is OrderSide.BUY else ROUND_CEILING
        return steps.to_integral_value(rounding=rounding) * self.price_increment

    def round_fill_price(self, price: Decimal, side: OrderSide) -> Decimal:
        """Round an execution price to the tick against the taker, as exchanges do."""
        opposite = OrderSide.SELL if side is OrderSide.BUY else OrderSide.BUY
        return self.round_price(price, opposite)

    def size_problem(self, quantity: Decimal, price: Decimal) -> str | None:
        """Return why an order of `quantity` at `price` is too small, or None if it is fine."""
        if quantity < self.min_size:
            return f"size {quantity} is below the minimum {self.min_size} {self.base}"
        notional = quantity * price
        if notional < self.min_notional:
            return (
                f"notional {notional:.8f} {self.quote} is below the minimum "
                f"{self.min_notional} {self.quote}"
            )
        return None


def instrument_from_symbol(symbol: str, **overrides: Decimal) -> Instrument:
    """Return an instrument for a symbol like "BTC-USDT" with default increments."""
    base, sep, quote = symbol.partition("-")
    if not sep or not base or not quote:
        msg = f"expected a symbol like BASE-QUOTE, found {symbol!r}"
        raise InvalidOrderError(msg)
    return Instrument(symbol=symbol, base=base, quote=quote, **overrides)
