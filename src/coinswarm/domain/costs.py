"""What a fill costs: fees, slippage and how much a bar can absorb.

These are the assumptions the simulated exchange prices its fills with, and that every report
states; they are plain values, so reports and the command line read them without reaching an
exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from coinswarm.domain.bar import Bar
from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.fill import Liquidity
from coinswarm.domain.order import OrderSide
from coinswarm.domain.slippage import Slippage, SlippageModel

__all__ = ["COINBASE_FEE_BPS", "FeeSchedule", "FillModel"]

BPS = Decimal("0.0001")

# The project roadmap budgets Coinbase Advanced Trade at 0.6% a trade.
COINBASE_FEE_BPS = Decimal(60)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeSchedule:
    """Maker and taker fees in basis points of the notional."""

    maker_bps: Decimal = COINBASE_FEE_BPS
    taker_bps: Decimal = COINBASE_FEE_BPS

    def __post_init__(self) -> None:
        for name in ("maker_bps", "taker_bps"):
            value: Decimal = getattr(self, name)
            if not value.is_finite() or value < 0:
                raise InvalidOrderError(f"{name}: expected 0 or more, found {value}")

    @classmethod
    def flat(cls, bps: Decimal) -> FeeSchedule:
        return cls(maker_bps=bps, taker_bps=bps)

    def rate(self, liquidity: Liquidity) -> Decimal:
        return (self.maker_bps if liquidity is Liquidity.MAKER else self.taker_bps) * BPS


@dataclass(frozen=True, slots=True, kw_only=True)
class FillModel:
    """Fees, an adverse slippage, and an optional cap on the share of a bar's volume.

    The slippage is by default `SlippageModel`: at least 10 bps, more on a turbulent bar and
    for an order that is a large share of the bar's volume. With `max_volume_share` set, one
    bar fills at most that share of its traded volume; the rest of the order stays open,
    partially filled, for the next bar.
    """

    fees: FeeSchedule = FeeSchedule()
    slippage: Slippage = field(default_factory=SlippageModel)
    max_volume_share: Decimal | None = None

    def __post_init__(self) -> None:
        share = self.max_volume_share
        if share is not None and not (0 < share <= 1):
            raise InvalidOrderError(f"max_volume_share: expected (0, 1], found {share}")

    def slipped(
        self, price: Decimal, side: OrderSide, liquidity: Liquidity, *, bps: Decimal | None = None
    ) -> Decimal:
        """Return `price` moved against us by `bps` (by default the least slippage there is).

        Resting maker orders do not slip: they fill at their own price or not at all.
        """
        slip = self.slippage.least_bps if bps is None else bps
        if liquidity is Liquidity.MAKER or not slip:
            return price
        return price * (1 + side.sign * slip * BPS)

    def slippage_bps(self, bar: Bar, quantity: Decimal) -> Decimal:
        """Return the slippage of a fill of `quantity` base units on `bar`, in basis points."""
        return self.slippage.bps_for(bar, quantity)

    def volume_cap(self, bar_volume: float) -> Decimal | None:
        """Return the most base units one bar can fill, or None when volume is no limit."""
        if self.max_volume_share is None:
            return None
        return Decimal(repr(bar_volume)) * self.max_volume_share

    def describe(self) -> list[str]:
        """Return the cost assumptions in words, one line each, for reports."""
        cap = self.max_volume_share
        return [
            f"fees: maker {self.fees.maker_bps} bps, taker {self.fees.taker_bps} bps",
            f"slippage (taker fills, always adverse): {self.slippage.describe()}",
            "volume cap: none" if cap is None else f"volume cap: {cap} of each bar's volume",
        ]

    def to_json(self) -> dict[str, Any]:
        """Return the cost assumptions as JSON-safe values."""
        cap = self.max_volume_share
        return {
            "maker_bps": str(self.fees.maker_bps),
            "taker_bps": str(self.fees.taker_bps),
            "slippage": self.slippage.to_json(),
            "max_volume_share": None if cap is None else str(cap),
        }
