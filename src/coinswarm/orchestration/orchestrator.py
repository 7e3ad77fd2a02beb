"""The master orchestrator: turn verdicts into target positions, and targets into orders.

Capital is split across instruments by equal risk: each instrument's share of the strategy's
capital is proportional to the inverse of its recent volatility, so a calm market and a wild
one put the same risk on the book. A per-strategy cap bounds the whole. Orders only move a
position toward its target; the risk layer after this may shrink or refuse them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from coinswarm.agents.base import Direction
from coinswarm.agents.committee import Verdict
from coinswarm.data.indicators.streaming import RollingVolatility
from coinswarm.domain.order import OrderRequest, OrderSide

__all__ = ["MasterOrchestrator", "OrchestratorConfig", "Plan"]

ZERO = Decimal(0)


class OrchestratorConfig(BaseModel):
    """How much capital a strategy may use and how it is shared across instruments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy_cap: float = Field(
        default=1.0, gt=0, le=1, description="most of the equity this strategy may hold"
    )
    volatility_window: int = Field(
        default=168, ge=2, description="bars of returns behind each instrument's volatility"
    )
    rebalance_band: float = Field(
        default=0.25, ge=0, lt=1, description="ignore a buy smaller than this share of target"
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """The orchestrator's answer to a verdict: the target and the order that moves toward it."""

    target_value: Decimal
    current_value: Decimal
    request: OrderRequest | None
    reason: str


class MasterOrchestrator:
    """Size verdicts into orders under an equal-risk allocation."""

    def __init__(
        self, instruments: Sequence[str], config: OrchestratorConfig | None = None
    ) -> None:
        self.config = config or OrchestratorConfig()
        self._instruments = tuple(instruments)
        self._volatility = {
            s: RollingVolatility(self.config.volatility_window) for s in self._instruments
        }

    def observe(self, instrument: str, close: float) -> None:
        """Feed the close of each bar, so the allocation follows each market's volatility."""
        self._volatility[instrument].update(close)

    def allocation(self, instrument: str) -> float:
        """Return the instrument's share of the strategy's capital, by inverse volatility."""
        inverse = {}
        for symbol, volatility in self._volatility.items():
            value = volatility.value
            inverse[symbol] = 1.0 / value if value > 0 and math.isfinite(value) else math.nan
        known = [v for v in inverse.values() if math.isfinite(v)]
        if not known or not math.isfinite(inverse[instrument]):
            return 1.0 / len(self._instruments)
        # Instruments without an estimate yet take an equal share; the rest share by risk.
        unknown = len(inverse) - len(known)
        equal = 1.0 / len(self._instruments)
        return (1.0 - unknown * equal) * inverse[instrument] / sum(known)

    def plan(
        self,
        verdict: Verdict,
        *,
        equity: Decimal,
        position: Decimal,
        price: Decimal,
        cash: Decimal,
        client_order_id: str,
        position_limit: float | None = None,
    ) -> Plan:
        """Return the target for `verdict` and the order (if any) that moves toward it.

        `position_limit` is the risk profile's largest position as a share of equity: the plan
        stays inside it rather than leave the oversight manager to cut it down.
        """
        current = position * price
        if verdict.direction is Direction.SELL:
            if position <= 0:
                return Plan(ZERO, current, None, "sell verdict, nothing held")
            request = OrderRequest(
                client_order_id=client_order_id,
                instrument=verdict.instrument,
                side=OrderSide.SELL,
                quantity=position,
            )
            return Plan(ZERO, current, request, f"sell verdict: exit {position}")
        if verdict.direction is Direction.HOLD:
            return Plan(current, current, None, "hold verdict: keep the position")
        share = self.allocation(verdict.instrument) * self.config.strategy_cap * verdict.size
        if position_limit is not None:
            share = min(share, position_limit)
        target = equity * Decimal(repr(round(share, 6)))
        gap = target - current
        if gap <= target * Decimal(repr(self.config.rebalance_band)) or gap <= 0:
            return Plan(target, current, None, f"at target {target:.2f} within the band")
        spend = min(gap, cash)
        if spend <= 0:
            return Plan(target, current, None, "no cash to buy with")
        request = OrderRequest(
            client_order_id=client_order_id,
            instrument=verdict.instrument,
            side=OrderSide.BUY,
            quote_quantity=spend,
        )
        return Plan(
            target,
            current,
            request,
            f"buy verdict: allocation {share:.1%} of equity, target {target:.2f}, "
            f"holding {current:.2f}, spend {spend:.2f}",
        )

    @staticmethod
    def shutdown(
        positions: Mapping[str, Decimal], *, flatten: bool, client_order_id: str
    ) -> list[OrderRequest]:
        """Return the orders of an emergency shutdown: exits of every long, if asked to."""
        if not flatten:
            return []
        return [
            OrderRequest(
                client_order_id=f"{client_order_id}-{symbol}",
                instrument=symbol,
                side=OrderSide.SELL,
                quantity=quantity,
            )
            for symbol, quantity in sorted(positions.items())
            if quantity > 0
        ]
