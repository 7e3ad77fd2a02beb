"""Turn ccxt's numbers (floats, ints, strings) into exact `Decimal` values, and back.

The adapter asks ccxt to keep the exchange's decimal text (`number = str`), which becomes
`Decimal` as it is. Where ccxt still hands back floats (markets loaded before the adapter
took the exchange), a float's shortest repr is the string it was parsed from whenever that
string had 15 significant digits or fewer, which covers every price, size and increment an
exchange sends, so `Decimal(repr(x))` gets the exchange's own text back; sizes and prices are
then snapped to the market's increment. Going out, ccxt takes floats: `exact_float` gives one
only when it is exactly the Decimal meant.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from coinswarm.exchanges.ccxt_adapter.errors import CcxtDataError

__all__ = [
    "DECIMAL_PLACES",
    "SIGNIFICANT_DIGITS",
    "TICK_SIZE",
    "exact_float",
    "increment",
    "number",
    "optional",
]

# ccxt's precision modes (ccxt.base.decimal_to_precision), copied so this module needs no ccxt.
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4


def optional(value: Any, *, call: str, field: str, step: Decimal | None = None) -> Decimal | None:
    """Return `value` as a finite Decimal (snapped to `step` if given), or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise CcxtDataError(call, field, f"expected a number, found {type(value).__name__}")
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise CcxtDataError(call, field, f"expected a number, found {value!r}") from None
    if not exact.is_finite():
        raise CcxtDataError(call, field, f"expected a finite number, found {value!r}")
    if step is not None:
        exact = (exact / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step
    return exact


def number(value: Any, *, call: str, field: str, step: Decimal | None = None) -> Decimal:
    """Return `value` as a finite Decimal; raise naming the field when it is missing."""
    found = optional(value, call=call, field=field, step=step)
    if found is None:
        raise CcxtDataError(call, field, "expected a number, found nothing")
    return found


def increment(value: Any, mode: int, *, call: str, field: str) -> Decimal:
    """Return a market's precision as an increment, whatever ccxt's precision mode."""
    found = number(value, call=call, field=field)
    if mode == TICK_SIZE:
        step = found
    elif mode == DECIMAL_PLACES:
        if found != found.to_integral_value():
            raise CcxtDataError(call, field, f"expected a whole number of places, found {value}")
        step = Decimal(1).scaleb(-int(found))
    else:
        raise CcxtDataError(
            call, field, f"precision mode {mode} (significant digits) has no fixed increment"
        )
    if step <= 0:
        raise CcxtDataError(call, field, f"expected a positive increment, found {value}")
    return step.normalize()


def exact_float(value: Decimal) -> float | None:
    """Return `value` as a float whose text is exactly `value`, or None when none is."""
    found = float(value)
    return found if Decimal(repr(found)) == value else None
