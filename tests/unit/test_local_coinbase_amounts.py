"""The bounds on a request's numbers and identifiers (amounts.py), before any route reads them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from coinswarm.exchanges.local_coinbase.amounts import (
    MAX_AMOUNT,
    MAX_FRACTION_DIGITS,
    MAX_ID_LENGTH,
    Identifier,
    check_amount,
)

IDS: TypeAdapter[str] = TypeAdapter(Identifier)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1e999", "below"),
        ("1" + "0" * 20, "below"),
        ("1e30", "below"),
        ("-1e15", "below"),
        ("1e99999999999999999999", "below"),
        ("1e-999", "decimal places"),
        ("0." + "0" * 18 + "1", "decimal places"),
        ("NaN", "decimal number"),
        ("Infinity", "decimal number"),
        ("abc", "decimal number"),
        ("1_000", "decimal number"),
        (" 5", "decimal number"),
        ("\u0663", "decimal number"),  # an Arabic-Indic three: Decimal takes it, we do not
        ("", "decimal number"),
        ("9" * 10_000, "decimal number"),
    ],
)
def test_an_absurd_amount_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check_amount(text)


@pytest.mark.parametrize(
    "text",
    ["0", "-5", "0.00000001", "20000.00", "999999999999999.999999999999999999", "1e-8", "1.50E3"],
)
def test_a_plain_amount_passes_unchanged(text: str) -> None:
    assert check_amount(text) == text


def test_trailing_zeros_do_not_count_as_decimal_places() -> None:
    assert check_amount("1." + "0" * 30) == "1." + "0" * 30


@given(
    st.decimals(-MAX_AMOUNT + 1, MAX_AMOUNT - 1, places=MAX_FRACTION_DIGITS, allow_nan=False).map(
        lambda d: format(d, "f")
    )
)
def test_every_amount_within_the_bounds_passes(text: str) -> None:
    assert check_amount(text) == text


@given(st.integers(min_value=15, max_value=10_000), st.sampled_from(["", "-"]))
def test_every_power_of_ten_from_the_bound_up_is_refused(power: int, sign: str) -> None:
    with pytest.raises(ValueError, match="below"):
        check_amount(f"{sign}1e{power}")
    assert Decimal(f"1e{power}") >= MAX_AMOUNT


def test_an_identifier_is_one_to_128_characters() -> None:
    assert IDS.validate_python("x" * MAX_ID_LENGTH) == "x" * MAX_ID_LENGTH
    for bad in ("", "x" * (MAX_ID_LENGTH + 1), "x" * 10_000_000):
        with pytest.raises(ValidationError):
            IDS.validate_python(bad)
