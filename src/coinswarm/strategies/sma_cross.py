"""The reference strategy `sma-cross`, used to check the engine against other backtesters.

Long only. On the close of bar t, if the fast simple moving average of close crossed above
the slow one (fast_t > slow_t and fast_{t-1} <= slow_{t-1}) and the instrument is flat, buy
with all the cash at the next open; if it crossed below (fast_t < slow_t and
fast_{t-1} >= slow_{t-1}) and the instrument is held, sell all of it at the next open. The buy
is a market order sized in quote currency, fees included, so its quantity comes out as
cash / (open * (1 + fee)), exactly as the reference spec asks. With several instruments, the
cash is shared equally among those that are flat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coinswarm.data.indicators.streaming import SMA
from coinswarm.domain.bar import Bar
from coinswarm.domain.order import OrderRequest, OrderSide
from coinswarm.strategies.base import Intent, Rationale, StrategyContext

__all__ = ["SmaCross", "SmaCrossConfig"]


class SmaCrossConfig(BaseModel):
    """Parameters of `sma-cross`: the two moving-average windows, in bars."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fast: int = Field(default=20, ge=1, description="fast moving average window")
    slow: int = Field(default=50, ge=2, description="slow moving average window")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossConfig:
        if self.fast >= self.slow:
            msg = f"expected fast < slow, found fast={self.fast} slow={self.slow}"
            raise ValueError(msg)
        return self


class _Crossing:
    """The two averages of one instrument and the previous gap between them."""

    __slots__ = ("fast", "previous_gap", "slow")

    def __init__(self, config: SmaCrossConfig) -> None:
        self.fast = SMA(config.fast)
        self.slow = SMA(config.slow)
        self.previous_gap = math.nan

    def update(self, close: float) -> int:
        """Return +1 on a cross above, -1 on a cross below, 0 otherwise."""
        fast = self.fast.update(close)
        slow = self.slow.update(close)
        gap = fast - slow  # NaN until both averages are warm
        previous, self.previous_gap = self.previous_gap, gap
        if gap > 0 and previous <= 0:
            return 1
        if gap < 0 and previous >= 0:
            return -1
        return 0


def _rationale(crossing: _Crossing, config: SmaCrossConfig, signal: int, bar: Bar) -> Rationale:
    """Return why the cross just seen (`signal`, from `update`) asks for an order."""
    fast, slow = crossing.fast.value, crossing.slow.value
    direction, before = ("above", "at or below") if signal > 0 else ("below", "at or above")
    action = (
        "buy with the cash shared equally among the flat instruments, at the next open"
        if signal > 0
        else "sell the whole position at the next open"
    )
    return Rationale(
        summary=f"fast SMA({config.fast}) {fast:.8g} crossed {direction} slow "
        f"SMA({config.slow}) {slow:.8g} at the close {bar.close:.8g}",
        details=(f"on the bar before, the fast average was {before} the slow one", action),
    )


class SmaCross:
    """Trade the crossings of a fast and a slow simple moving average of close."""

    name = "sma-cross"

    def __init__(self, config: SmaCrossConfig | None = None) -> None:
        self.config = config or SmaCrossConfig()
        self._crossings: dict[str, _Crossing] = {}

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        crossing = self._crossings.get(bar.instrument)
        if crossing is None:
            crossing = self._crossings[bar.instrument] = _Crossing(self.config)
        signal = crossing.update(bar.close)
        if not signal or context.has_open_orders(bar.instrument):
            return ()
        held = context.position(bar.instrument)
        intents: tuple[OrderRequest, ...]
        if signal > 0 and not held:
            intents = self._buy(bar.instrument, context)
        elif signal < 0 and held > 0:
            intents = (
                OrderRequest(
                    client_order_id=context.next_client_order_id(bar.instrument),
                    instrument=bar.instrument,
                    side=OrderSide.SELL,
                    quantity=held,
                ),
            )
        else:
            return ()
        # Only on a cross that orders (a few hundred bars in 50,000): the hot path stays as is.
        for intent in intents:
            context.explain(intent.client_order_id, _rationale(crossing, self.config, signal, bar))
        return intents

    def _buy(self, instrument: str, context: StrategyContext) -> tuple[OrderRequest, ...]:
        flat = sum(1 for s in context.market.instruments if not context.position(s))
        cash = context.cash() / max(flat, 1)
        if cash <= 0:
            return ()
        return (
            OrderRequest(
                client_order_id=context.next_client_order_id(instrument),
                instrument=instrument,
                side=OrderSide.BUY,
                quote_quantity=cash,
            ),
        )
