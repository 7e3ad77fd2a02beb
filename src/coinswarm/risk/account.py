"""What the risk layer knows about the account when it judges an order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["AccountSnapshot"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSnapshot:
    """The account at one moment, in the quote currency, as the ledger derives it.

    `day_start_equity` is the equity at the first mark of the current UTC day;
    `peak_equity` the highest equity marked so far; `trades_today` counts orders sent since
    the start of the UTC day; `open_positions` counts instruments with a non-zero position.
    """

    ts: int
    equity: Decimal
    cash: Decimal
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    marks: Mapping[str, Decimal] = field(default_factory=dict)
    day_start_equity: Decimal
    peak_equity: Decimal
    initial_equity: Decimal
    trades_today: int = 0
    open_orders: int = 0

    @property
    def open_positions(self) -> int:
        return sum(1 for quantity in self.positions.values() if quantity)

    def position_value(self, instrument: str) -> Decimal:
        return self.positions.get(instrument, Decimal(0)) * self.marks.get(instrument, Decimal(0))
