from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from coinswarm.domain.errors import InvalidOrderError, UnknownMarkError
from coinswarm.domain.fill import Fill
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderSide
from generators import (
    BTC,
    ETH,
    FEE_IN_BASE,
    FEE_IN_QUOTE,
    INSTRUMENTS,
    START_NS,
    THIRD_FEE_CURRENCY,
    fill_sequences,
)

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


def closing_fills(ledger: Ledger, prices: dict[str, Decimal], after: int) -> list[Fill]:
    """Return the fills that bring every open position back to exactly flat."""
    closes = []
    for n, (symbol, position) in enumerate(sorted(ledger.positions.items()), start=after):
        side = OrderSide.SELL if position.quantity > 0 else OrderSide.BUY
        quantity = abs(position.quantity)
        closes.append(
            replace(
                fill(side, "1", "1", n=n, instrument=symbol),
                quantity=quantity,
                price=prices[symbol],
                fee=quantity * prices[symbol] / 1000,
            )
        )
    return closes


@given(fill_sequences(), marks_strategy)
def test_fees_and_realised_pnl_add_up(fills, prices):
    # Average costs divide, so trip-level splits are exact only to Decimal's 28 digits.
    tolerance = Decimal("1e-15")
    ledger = ledger_with([])
    paid: dict[str, Decimal] = dict.fromkeys(INSTRUMENTS, Decimal(0))
    for f in fills:  # at every point: each instrument's fees are the fees of its fills
        ledger.record(f)
        paid[f.instrument] += f.fee
        assert ledger.fees_paid() == sum(paid.values(), Decimal(0))
        assert all(ledger.position(s).fees == paid[s] for s in INSTRUMENTS)
    closes = closing_fills(ledger, prices, after=len(fills))
    for f in closes:  # then every position is closed out, so the trips hold everything
        ledger.record(f)
        paid[f.instrument] += f.fee
    event(f"positions closed out at the end: {len(closes)}")
    for symbol in INSTRUMENTS:
        position = ledger.position(symbol)
        assert position.is_flat
        trips = [t for t in ledger.round_trips if t.instrument == symbol]
        assert abs(sum((t.fees for t in trips), Decimal(0)) - paid[symbol]) < tolerance
        gains = sum((t.pnl + t.fees for t in trips), Decimal(0))
        assert abs(gains - position.realised_pnl) < tolerance
    assert ledger.equity({}) == ledger.cash()
    assert abs(ledger.cash() - (CASH + ledger.realised_pnl - ledger.fees_paid())) < tolerance


def test_the_trips_of_a_closed_position_carry_every_fee_and_gain():
    ledger = ledger_with(
        [
            fill(OrderSide.BUY, "2", "100", "0.2", 1),
            fill(OrderSide.SELL, "3", "120", "0.36", 2),  # closes 2 (+40), opens a short of 1
            fill(OrderSide.BUY, "1", "90", "0.09", 3),  # closes the short (+30)
        ]
    )
    assert ledger.position("BTC-USDT").is_flat
    first, second = ledger.round_trips
    assert (first.pnl + first.fees, second.pnl + second.fees) == (40, 30)
    assert first.fees + second.fees == Decimal("0.65")
    assert ledger.realised_pnl == 70


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


# -- fees charged in the coin bought, or in a third currency ---------------------------------


def test_a_fee_in_the_base_currency_shrinks_the_position_and_is_counted():
    ledger = ledger_with(
        [
            replace(fill(OrderSide.BUY, "1", "100", "0.001", 1), fee_currency="BTC"),
            replace(fill(OrderSide.SELL, "0.5", "120", "0.0005", 2), fee_currency="BTC"),
        ]
    )
    assert ledger.position("BTC-USDT").quantity == Decimal("0.4985")  # 1 - 0.001 - 0.5 - 0.0005
    assert ledger.cash() == CASH - 100 + 60  # the exchange kept coins, not dollars
    assert ledger.fees_paid("BTC") == Decimal("0.0015")
    assert ledger.fees_paid() == 0


def test_a_fee_in_a_third_currency_comes_out_of_that_currencys_balance_and_is_counted():
    ledger = ledger_with([])
    ledger.deposit("BNB", Decimal(1), START_NS)
    ledger.record(replace(fill(OrderSide.BUY, "1", "100", "0.01", 1), fee_currency="BNB"))
    assert ledger.cash("BNB") == Decimal("0.99")
    assert ledger.fees_paid("BNB") == Decimal("0.01")
    assert ledger.position("BTC-USDT").quantity == 1
    assert ledger.cash() == CASH - 100
    assert ledger.fees_paid() == 0
    ledger.record(replace(fill(OrderSide.SELL, "1", "130", "0.01", 2), fee_currency="BNB"))
    (trip,) = ledger.round_trips
    assert (trip.pnl, trip.fees) == (30, 0)  # BNB units are not dollars: kept apart
    assert ledger.position("BTC-USDT").fees == 0
    assert ledger.fees_paid("BNB") == Decimal("0.02")


@given(fill_sequences(fee_in=(FEE_IN_QUOTE, FEE_IN_BASE, THIRD_FEE_CURRENCY)))
def test_every_currencys_balance_is_its_deposits_and_flows_less_the_fees_charged_in_it(fills):
    ledger = ledger_with(fills)
    flows: dict[str, Decimal] = {"USDT": CASH}
    fees: dict[str, Decimal] = {}
    held = dict.fromkeys(INSTRUMENTS, Decimal(0))
    in_quote = dict.fromkeys(INSTRUMENTS, Decimal(0))  # each position's fees, in the quote
    for f in fills:
        instrument = INSTRUMENTS[f.instrument]
        signed = f.quantity * f.side.sign
        flows["USDT"] -= signed * f.price
        fees[f.fee_currency] = fees.get(f.fee_currency, Decimal(0)) + f.fee
        if f.fee_currency == instrument.base:
            held[f.instrument] += signed - f.fee
            in_quote[f.instrument] += f.fee * f.price
            continue
        held[f.instrument] += signed
        flows[f.fee_currency] = flows.get(f.fee_currency, Decimal(0)) - f.fee
        if f.fee_currency == instrument.quote:
            in_quote[f.instrument] += f.fee
    for symbol, quantity in held.items():
        assert ledger.position(symbol).quantity == quantity
        assert ledger.position(symbol).fees == in_quote[symbol]
    for currency, balance in flows.items():
        assert ledger.cash(currency) == balance
    for currency, paid in fees.items():
        assert ledger.fees_paid(currency) == paid
    event("fees in the base currency" if any(c in ("BTC", "ETH") for c in fees) else "none in base")
    event("fees in a third currency" if THIRD_FEE_CURRENCY in fees else "none in a third")


def test_a_position_without_a_mark_is_refused_by_name_not_valued_at_nothing():
    ledger = ledger_with(
        [
            fill(OrderSide.BUY, "1", "20000"),
            fill(OrderSide.BUY, "2", "1500", n=1, instrument=ETH.symbol),
        ]
    )
    marks = {BTC.symbol: Decimal(21000)}
    with pytest.raises(UnknownMarkError, match=f"no mark for {ETH.symbol}: a position of 2"):
        ledger.equity(marks)
    with pytest.raises(UnknownMarkError, match=ETH.symbol):
        ledger.unrealised_pnl(marks)
    assert ledger.equity({**marks, ETH.symbol: Decimal(1500)}) == CASH - 20000 + 21000
