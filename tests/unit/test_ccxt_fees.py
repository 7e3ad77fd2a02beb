"""A ccxt trade's fee reaches the ledger in the currency it was charged in, whatever that is."""

from __future__ import annotations

from decimal import Decimal

import pytest

from coinswarm.domain.ledger import Ledger
from coinswarm.exchanges.ccxt_adapter.parse import fill
from generators import BTC, INSTRUMENTS, START_NS

CASH = Decimal(10_000)


def trade(fee: dict[str, str] | None) -> dict[str, object]:
    return {
        "id": "t-1",
        "order": "o-1",
        "side": "buy",
        "amount": "0.5",
        "price": "20000.00",
        "timestamp": START_NS // 1_000_000 + 3_600_000,
        "takerOrMaker": "taker",
        "fee": fee,
    }


def booked(fee: dict[str, str] | None) -> Ledger:
    ledger = Ledger(INSTRUMENTS, "USDT")
    ledger.deposit("USDT", CASH, START_NS)
    ledger.deposit("BNB", Decimal(2), START_NS)
    parsed = fill(trade(fee), client_order_id="c-1", instrument=BTC, call="fetch_my_trades")
    assert ledger.record(parsed)
    return ledger


@pytest.mark.parametrize(
    ("fee", "position", "cash", "bnb", "paid"),
    [
        ({"cost": "10", "currency": "USDT"}, "0.5", "-10", "2", ("USDT", "10")),
        ({"cost": "0.0005", "currency": "BTC"}, "0.4995", "0", "2", ("BTC", "0.0005")),
        ({"cost": "0.03", "currency": "BNB"}, "0.5", "0", "1.97", ("BNB", "0.03")),
        (None, "0.5", "0", "2", ("USDT", "0")),
    ],
    ids=["quote", "base", "third", "none"],
)
def test_the_fee_comes_out_of_the_currency_ccxt_names(fee, position, cash, bnb, paid):
    ledger = booked(fee)
    assert ledger.position("BTC-USDT").quantity == Decimal(position)
    assert ledger.cash() == CASH - 10_000 + Decimal(cash)
    assert ledger.cash("BNB") == Decimal(bnb)
    currency, amount = paid
    assert ledger.fees_paid(currency) == Decimal(amount)


def test_a_fee_without_a_currency_is_charged_in_the_quote():
    ledger = booked({"cost": "10"})
    assert ledger.fees_paid("USDT") == 10
    assert ledger.cash() == CASH - 10_010
