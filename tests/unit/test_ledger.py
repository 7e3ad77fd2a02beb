from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.fill import Fill
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderSide
from generators import BTC, ETH, INSTRUMENTS, START_NS, fill_sequences

CASH = Decimal(100_000)


def ledger_with(fills: list[Fill]) -> Ledger:
    ledger = Ledger(INSTRUMENTS, "USDT")
    ledger.deposit("USDT", CASH, START_NS)
    for fill in fills:
        ledger.record(fill)
    return ledger


def fill(
    side: OrderSide,
    quantity: str,
    price: str,
    fee: str = "0",
    n: int = 0,
    instrument: str = "BTC-USDT",
) -> Fill:
    return Fill(
        trade_id=f"T{n}",
        order_id=f"O{n}",
        client_order_id=f"C{n}",
        instrument=instrument,
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency="USDT",
        ts=START_NS + n,
    )


marks_strategy = st.fixed_dictionaries(
    {
        "BTC-USDT": st.decimals("1", "100000", places=2),
        "ETH-USDT": st.decimals("1", "9000", places=2),
    }
)


@given(fill_sequences(), marks_strategy)
def test_equity_is_the_starting_cash_plus_pnl_minus_fees(fills, marks):
    ledger = ledger_with(fills)
    expected = CASH + ledger.realised_pnl + ledger.unrealised_pnl(marks) - ledger.fees_paid()
    # Equity is exact; the split into realised and unrealised goes through an average cost,
    # a division carried to Decimal's 28 significant digits.
    assert abs(ledger.equity(marks) - expected) < Decimal("1e-15")


@given(fill_sequences(), marks_strategy)
def test_cash_plus_position_value_is_equity(fills, marks):
    ledger = ledger_with(fills)
    value = sum((p.quantity * marks[s] for s, p in ledger.positions.items()), Decimal(0))
    assert ledger.cash() + value == ledger.equity(marks)


@given(fill_sequences())
def test_fees_and_realised_pnl_add_up(fills):
    ledger = ledger_with(fills)
    assert ledger.fees_paid() == sum((f.fee for f in fills), Decimal(0))
    for symbol in INSTRUMENTS:
        position = ledger.position(symbol)
        trips = [t for t in ledger.round_trips if t.instrument == symbol]
        if position.is_flat:
            fees = sum((f.fee for f in fills if f.instrument == symbol), Decimal(0))
            assert abs(sum((t.fees for t in trips), Decimal(0)) - fees) < Decimal("1e-15")
            gains = sum((t.pnl + t.fees for t in trips), Decimal(0))
            assert abs(gains - position.realised_pnl) < Decimal("1e-15")


@given(fill_sequences())
def test_replaying_the_events_rebuilds_the_same_state(fills):
    ledger = ledger_with(fills)
    again = Ledger.replay(ledger.events, INSTRUMENTS, "USDT")
    assert again.state() == ledger.state()


@given(fill_sequences(max_size=10))
def test_a_repeated_fill_is_one_ledger_row(fills):
    ledger = ledger_with(fills)
    before = ledger.state()
    for f in fills:
        assert ledger.record(f) is False
    assert ledger.state() == before


def test_a_contradicting_repeat_is_refused():
    ledger = ledger_with([fill(OrderSide.BUY, "1", "100")])
    with pytest.raises(InvalidOrderError, match="different contents"):
        ledger.record(fill(OrderSide.BUY, "2", "100"))


def test_average_cost_realised_pnl_and_round_trip():
    ledger = ledger_with(
        [
            fill(OrderSide.BUY, "1", "100", "0.1", 1),
            fill(OrderSide.BUY, "1", "200", "0.2", 2),
            fill(OrderSide.SELL, "0.5", "300", "0.15", 3),
            fill(OrderSide.SELL, "1.5", "50", "0.075", 4),
        ]
    )
    position = ledger.position("BTC-USDT")
    assert position.is_flat
    # Average cost 150; sold 0.5 at 300 (+75) and 1.5 at 50 (-150).
    assert position.realised_pnl == Decimal(-75)
    assert ledger.cash() == CASH - 300 + 150 + 75 - Decimal("0.525")
    (trip,) = ledger.round_trips
    assert trip.quantity == 2
    assert trip.entry_price == 150
    assert trip.exit_price == Decimal("112.5")
    assert trip.pnl == Decimal("-75.525")


def test_a_fill_that_crosses_zero_closes_one_trip_and_opens_another():
    ledger = ledger_with(
        [
            fill(OrderSide.BUY, "1", "100", "1", 1),
            fill(OrderSide.SELL, "3", "110", "3", 2),
        ]
    )
    position = ledger.position("BTC-USDT")
    assert position.quantity == -2
    assert position.average_cost == 110
    (trip,) = ledger.round_trips
    assert trip.pnl == Decimal(10) - Decimal(1) - Decimal(1)  # entry fee and a third of the exit


def test_quantities_and_prices_are_rounded_to_the_increments():
    ledger = ledger_with([fill(OrderSide.BUY, "0.123456789", "100.004")])
    (recorded,) = ledger.fills
    assert recorded.quantity == Decimal("0.12345")  # BTC size increment 0.00001, rounded down
    assert recorded.price == Decimal("100.00")


def test_a_fill_that_rounds_to_nothing_is_refused():
    ledger = ledger_with([])
    with pytest.raises(InvalidOrderError, match="positive quantity"):
        ledger.record(fill(OrderSide.BUY, "0.000001", "100"))


def test_drawdown_follows_the_high_water_mark():
    ledger = ledger_with([fill(OrderSide.BUY, "1", "50000")])
    assert ledger.mark({"BTC-USDT": Decimal(60000)}).drawdown == 0
    valuation = ledger.mark({"BTC-USDT": Decimal(55000)})
    assert valuation.peak == CASH + 10_000
    assert valuation.drawdown == Decimal(5000) / (CASH + 10_000)


def test_a_ledger_refuses_instruments_in_another_currency():
    with pytest.raises(InvalidOrderError, match="quoted in USDT"):
        Ledger({"BTC-USDT": BTC, "ETH-USDT": ETH}, "USD")


def test_unknown_instrument_is_refused():
    ledger = ledger_with([])
    with pytest.raises(InvalidOrderError, match="no instrument"):
        ledger.record(replace(fill(OrderSide.BUY, "1", "1"), instrument="DOGE-USDT"))
