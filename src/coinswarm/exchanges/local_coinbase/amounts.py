"""What a request's numbers and identifiers may look like before any route reads them.

A price, size or amount arrives as a string and must be a plain decimal number (an exponent is
allowed, as JSON writers emit one) whose value is below 10^15 with at most 18 decimal places:
far beyond any real order, far inside what `Decimal` arithmetic handles exactly. Anything else
(`1e999`, `10^20`, `NaN`, `abc`, thousands of digits) is an HTTP 400 naming the field; it never
reaches the matching engine. Whether a well-formed number makes a sensible order (positive, on
the increment, above the minimum, affordable) is the venue's business answer, HTTP 200 with
`success: false`, as on Coinbase.

Identifiers are bounded too: a `client_order_id` of at most 128 characters (Coinbase's are
UUIDs, 36), other ids and product names of at most 128.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

__all__ = [
    "MAX_AMOUNT",
    "MAX_FRACTION_DIGITS",
    "MAX_ID_LENGTH",
    "MAX_TEXT_LENGTH",
    "Amount",
    "Identifier",
    "check_amount",
]

MAX_AMOUNT = Decimal(10) ** 15
"""Every amount must be below this in magnitude (a quadrillion: no product comes close)."""

MAX_FRACTION_DIGITS = 18
"""The most decimal places an amount may carry (ether's 18 is the finest unit there is)."""

MAX_TEXT_LENGTH = 64
"""The longest text an amount may be, checked before it is parsed."""

MAX_ID_LENGTH = 128
"""The longest identifier (client order id, order id, product id) a request may carry."""

_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _fraction_digits(value: Decimal) -> int:
    """Return the decimal places `value` needs, trailing zeros not counted, without rounding."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    kept = len(digits)
    while kept > 1 and digits[kept - 1] == 0 and exponent < 0:
        kept -= 1
        exponent += 1
    return max(0, -exponent) if any(digits) else 0


def check_amount(text: str) -> str:
    """Return `text` if it is a decimal number within bounds; raise ValueError saying why."""
    if len(text) > MAX_TEXT_LENGTH or not _NUMBER.fullmatch(text):
        shown = text if len(text) <= MAX_TEXT_LENGTH else text[:MAX_TEXT_LENGTH] + "..."
        msg = f"expected a decimal number as a string, found {shown!r}"
        raise ValueError(msg)
    try:
        value = Decimal(text)
    except InvalidOperation:  # an exponent Decimal itself cannot hold
        msg = f"expected a decimal number below {MAX_AMOUNT:,}, found {text!r}"
        raise ValueError(msg) from None
    if value.copy_abs() >= MAX_AMOUNT:  # exact: abs() would round to 28 digits
        msg = f"expected a decimal number below {MAX_AMOUNT:,}, found {text!r}"
        raise ValueError(msg)
    if _fraction_digits(value) > MAX_FRACTION_DIGITS:
        msg = f"expected at most {MAX_FRACTION_DIGITS} decimal places, found {text!r}"
        raise ValueError(msg)
    return text


Amount = Annotated[str, AfterValidator(check_amount)]
"""A price, size or amount as sent: a string, checked by `check_amount`."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
"""A client order id, order id or product id: 1 to 128 characters."""
