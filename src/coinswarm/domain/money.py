"""Money and quantities as `Decimal`, with NaN, infinities and mixed currencies refused."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from coinswarm.domain.errors import CoinswarmError, NonFiniteValueError

__all__ = ["Money", "display_amount", "to_decimal", "to_price", "to_quantity"]

DISPLAY_DIGITS = 6
"""Significant digits `display_amount` keeps: a fee of 59.6421 USDT, 0.0000359872 BTC."""


def to_decimal(value: str | Decimal | int | float, *, what: str = "value") -> Decimal:
    """Return `value` as a finite `Decimal`.

    A float goes through its shortest `repr`, so 13715.65 becomes Decimal('13715.65') and not
    the binary expansion of the nearest double.
    """
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        msg = f"{what}: expected a decimal number, found {value!r}"
        raise NonFiniteValueError(msg) from exc
    if not result.is_finite():
        msg = f"{what}: expected a finite number, found {value!r}"
        raise NonFiniteValueError(msg)
    return result


def to_price(value: str | Decimal | int | float) -> Decimal:
    """Return `value` as a price: finite and strictly positive."""
    price = to_decimal(value, what="price")
    if price <= 0:
        msg = f"price: expected a positive number, found {value!r}"
        raise NonFiniteValueError(msg)
    return price


def to_quantity(value: str | Decimal | int | float) -> Decimal:
    """Return `value` as a quantity: finite and not negative."""
    quantity = to_decimal(value, what="quantity")
    if quantity < 0:
        msg = f"quantity: expected zero or more, found {value!r}"
        raise NonFiniteValueError(msg)
    return quantity


def display_amount(value: Decimal) -> str:
    """Return `value` rounded for a person to read, for display only: never for the ledger.

    A fee is the product of a price, a quantity and a rate, so it carries their decimals added
    up (14 to 20 of them); a person needs six significant digits at most, and two decimals.
    """
    if not value.is_finite():
        return str(value)
    if value == 0:
        return "0"  # not 0E-8, which a fee with no fee rate can be
    places = max(2, DISPLAY_DIGITS - 1 - value.adjusted())
    text = f"{value.quantize(Decimal(1).scaleb(-places)):f}"
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.rstrip('0').ljust(2, '0')}"


class CurrencyMismatchError(CoinswarmError, TypeError):
    """Two amounts in different currencies were combined."""


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An amount of one currency. Arithmetic across currencies is refused."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_decimal(self.amount, what=f"{self.currency} amount"))

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            msg = f"expected an amount in {self.currency}, found one in {other.currency}"
            raise CurrencyMismatchError(msg)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        return Money(self.amount * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
