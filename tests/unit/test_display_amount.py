"""Amounts shown to a person are rounded for reading; the ledger keeps every digit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.money import display_amount


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("59.64214688570590903800", "59.6421"),  # a fee: price x quantity x rate
        ("0.00003598721234", "0.0000359872"),  # a fee in BTC
        ("1234.5678", "1234.57"),
        ("123456.789", "123456.79"),
        ("0.5", "0.50"),
        ("59.6400001", "59.64"),
        ("-3.14159265", "-3.14159"),
        ("0E-8", "0"),
        ("0", "0"),
    ],
)
def test_display_amount(value, shown):
    assert display_amount(Decimal(value)) == shown


amounts = st.decimals(
    min_value=Decimal("1E-12"), max_value=Decimal("1E+9"), allow_nan=False, places=20
).filter(lambda d: d != 0)


@given(amounts)
def test_the_shown_amount_is_the_value_to_six_digits_and_never_long(value: Decimal) -> None:
    places = max(2, 5 - value.adjusted())  # six significant digits, at least two decimals
    shown = display_amount(value)
    assert "E" not in shown
    assert 2 <= len(shown.partition(".")[2]) <= places
    assert abs(Decimal(shown) - value) <= Decimal(1).scaleb(-places) / 2
