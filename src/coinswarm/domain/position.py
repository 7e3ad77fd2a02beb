"""Positions and closed round trips, both derived from the ledger's fills."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Position", "RoundTrip"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Position:
    """The holding of one instrument: signed quantity at an average cost, in the quote currency."""

    instrument: str
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    def unrealised_pnl(self, mark: Decimal) -> Decimal:
        """Return the gain of the open quantity if it were closed at `mark`, before fees."""
        return (mark - self.average_cost) * self.quantity

    def value(self, mark: Decimal) -> Decimal:
        """Return the market value of the open quantity at `mark`."""
        return self.quantity * mark


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One trade from flat to flat: what went in, what came out, and what it earned net of fees.

    `entry_price` and `exit_price` are volume-weighted over the fills that opened and closed
    it; `pnl` is realised profit minus every fee paid on the way in and out.
    """

    instrument: str
    entry_ts: int
    exit_ts: int
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    fees: Decimal

    @property
    def is_long(self) -> bool:
        return self.quantity > 0

    @property
    def cost_basis(self) -> Decimal:
        return abs(self.quantity) * self.entry_price

    @property
    def return_fraction(self) -> float:
        """Return the net P&L as a fraction of the cost of entry."""
        basis = self.cost_basis
        return float(self.pnl / basis) if basis else 0.0
