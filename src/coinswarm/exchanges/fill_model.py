"""How the simulated exchange prices a fill: fees, slippage and how much a bar can absorb."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.fill import Liquidity
from coinswarm.domain.order import OrderSide

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
    """Fees, a fixed adverse slippage, and an optional cap on the share of a bar's volume.

    With `max_volume_share` set, one bar fills at most that share of its traded volume; the
    rest of the order stays open, partially filled, for the next bar.
    """

    fees: FeeSchedule = FeeSchedule()
    slippage_bps: Decimal = Decimal(0)
    max_volume_share: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.slippage_bps.is_finite() or self.slippage_bps < 0:
            raise InvalidOrderError(f"slippage_bps: expected 0 or more, found {self.slippage_bps}")
        share = self.max_volume_share
        if share is not None and not (0 < share <= 1):
            raise InvalidOrderError(f"max_volume_share: expected (0, 1], found {share}")

    def slipped(self, price: Decimal, side: OrderSide, liquidity: Liquidity) -> Decimal:
        """Return `price` moved against us by the slippage; resting maker orders do not slip."""
        if liquidity is Liquidity.MAKER or not self.slippage_bps:
            return price
        return price * (1 + side.sign * self.slippage_bps * BPS)

    def volume_cap(self, bar_volume: float) -> Decimal | None:
        """Return the most base units one bar can fill, or None when volume is no limit."""
        if self.max_volume_share is None:
            return None
        return Decimal(repr(bar_volume)) * self.max_volume_share
