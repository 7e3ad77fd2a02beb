"""RELIABILITY scenario 16: prices and sizes off the increments, and orders below the minimum."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.errors import InvalidOrderError, NonFiniteValueError
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.money import CurrencyMismatchError, Money, to_decimal, to_price
from coinswarm.domain.order import OrderSide
from generators import BTC

prices = st.decimals("0.01", "1000000", places=6)


@given(prices)
def test_a_buy_price_never_rounds_up_and_a_sell_price_never_rounds_down(price):
    buy = BTC.round_price(price, OrderSide.BUY)
    sell = BTC.round_price(price, OrderSide.SELL)
    assert buy <= price <= sell
    assert sell - buy in (0, BTC.price_increment)
    assert buy % BTC.price_increment == 0
    assert sell % BTC.price_increment == 0


@given(st.decimals("0", "1000", places=10))
def test_sizes_round_down_to_the_increment(quantity):
    rounded = BTC.round_size(quantity)
    assert rounded <= quantity
    assert quantity - rounded < BTC.size_increment
    assert rounded % BTC.size_increment == 0


def test_sizes_and_notionals_below_the_minimum_are_named():
    assert BTC.size_problem(Decimal("0.000001"), Decimal(30000)) == (
        "size 0.000001 is below the minimum 0.00001 BTC"
    )
    problem = BTC.size_problem(Decimal("0.0001"), Decimal(30000))
    assert problem is not None
    assert "notional 3.00000000 USDT is below the minimum 5 USDT" in problem
    assert BTC.size_problem(Decimal("0.001"), Decimal(30000)) is None


def test_symbols_parse_into_base_and_quote():
    eth = instrument_from_symbol("ETH-USDT")
    assert (eth.base, eth.quote) == ("ETH", "USDT")
    with pytest.raises(InvalidOrderError, match="BASE-QUOTE"):
        instrument_from_symbol("ETHUSDT")


@pytest.mark.parametrize("bad", [float("nan"), "NaN", "inf", "-Infinity", "abc"])
def test_non_finite_money_is_refused(bad):
    with pytest.raises(NonFiniteValueError):
        to_decimal(bad)


def test_floats_become_their_shortest_decimal():
    assert to_decimal(13715.65) == Decimal("13715.65")
    with pytest.raises(NonFiniteValueError, match="positive"):
        to_price("0")


def test_money_refuses_mixed_currencies():
    assert Money(Decimal(1), "USD") + Money(Decimal(2), "USD") == Money(Decimal(3), "USD")
    with pytest.raises(CurrencyMismatchError, match="expected an amount in USD"):
        Money(Decimal(1), "USD") + Money(Decimal(1), "EUR")
