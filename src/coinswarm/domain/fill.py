"""Fills: the append-only facts the ledger is built from."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from coinswarm.domain.side import OrderSide

__all__ = ["Fill", "Liquidity"]


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of part or all of an order.

    `trade_id` is unique per exchange; `fee` is charged in `fee_currency`, which is the
    instrument's quote currency unless the exchange says otherwise.
    """

    trade_id: str
    order_id: str
    client_order_id: str
    instrument: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    ts: int
    liquidity: Liquidity = Liquidity.TAKER

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price
