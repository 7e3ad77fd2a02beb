"""The trend-following agent: ride moving-average crossovers that momentum confirms.

Per instrument it keeps a fast and a slow simple moving average of close, the rate of change
of close over `momentum_period` bars (from a ring buffer of closes), Wilder's RSI and the ATR,
all streaming, so each bar costs O(1).

* BUY while the fast average is above the slow one and momentum is above `min_momentum`,
  unless the RSI is above `overbought` (buying the top of a spike is what trend followers
  regret most; that case is a HOLD).
* SELL while the fast average is below the slow one and momentum is below -`min_momentum`,
  unless the RSI is below `oversold` (selling into capitulation is the mirror mistake).
* HOLD otherwise; abstain (None) until every indicator is warm.

Confidence is the gap between the averages measured in ATRs, divided by `full_confidence_gap`
and clipped to [0, 1]: a gap is only meaningful against how far the price usually moves in a
bar. The size hint equals the confidence. HOLD votes carry confidence 0 and size hint 0: they
are on record for their reason, not for weight.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coinswarm.agents.base import AgentContext, Direction, Vote
from coinswarm.data.indicators.streaming import ATR, RSI, SMA
from coinswarm.domain.bar import Bar

__all__ = ["TrendAgent", "TrendConfig"]


class TrendConfig(BaseModel):
    """Parameters of the trend-following agent; windows are in bars."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    fast: int = Field(default=20, ge=1, description="window of the fast simple moving average")
    slow: int = Field(default=50, ge=2, description="window of the slow simple moving average")
    momentum_period: int = Field(
        default=10, ge=1, description="bars over which momentum (rate of change of close) runs"
    )
    min_momentum: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="rate of change (a fraction, 0.01 = 1%) momentum must exceed to confirm",
    )
    rsi_period: int = Field(default=14, ge=1, description="window of Wilder's RSI filter")
    overbought: float = Field(
        default=70.0, gt=0.0, lt=100.0, description="RSI above which the agent does not buy"
    )
    oversold: float = Field(
        default=30.0, gt=0.0, lt=100.0, description="RSI below which the agent does not sell"
    )
    atr_period: int = Field(default=14, ge=1, description="window of the ATR scaling confidence")
    full_confidence_gap: float = Field(
        default=2.0,
        gt=0.0,
        le=1000.0,
        description="gap between the averages, in ATRs, at which confidence reaches 1",
    )

    @model_validator(mode="after")
    def _check_order(self) -> TrendConfig:
        if self.fast >= self.slow:
            msg = f"expected fast < slow, found fast={self.fast} and slow={self.slow}"
            raise ValueError(msg)
        if self.oversold >= self.overbought:
            msg = (
                f"expected oversold < overbought, found oversold={self.oversold} "
                f"and overbought={self.overbought}"
            )
            raise ValueError(msg)
        return self


class _Reading(NamedTuple):
    """The indicators of one instrument at one bar, once all are warm."""

    fast: float
    slow: float
    crossed: bool
    momentum: float
    rsi: float
    atr: float


class _Momentum:
    """Rate of change of close over `period` bars, from a ring buffer of the last closes."""

    __slots__ = ("_buffer", "_count", "_index", "_period")

    def __init__(self, period: int) -> None:
        self._period = period
        self._buffer = [0.0] * period
        self._index = 0
        self._count = 0

    def update(self, close: float) -> float:
        """Add one close and return close / close `period` bars ago - 1, or NaN."""
        index = self._index
        old = self._buffer[index]
        self._buffer[index] = close
        index += 1
        self._index = 0 if index == self._period else index
        self._count += 1
        if self._count <= self._period:
            return math.nan
        return close / old - 1.0


class _TrendState:
    """The streaming indicators of one instrument."""

    __slots__ = ("_atr", "_fast", "_momentum", "_previous_gap", "_rsi", "_slow")

    def __init__(self, config: TrendConfig) -> None:
        self._fast = SMA(config.fast)
        self._slow = SMA(config.slow)
        self._momentum = _Momentum(config.momentum_period)
        self._rsi = RSI(config.rsi_period)
        self._atr = ATR(config.atr_period)
        self._previous_gap = math.nan

    def update(self, bar: Bar) -> _Reading | None:
        """Feed one bar to every indicator; return their values, or None while warming."""
        close = bar.close
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        momentum = self._momentum.update(close)
        rsi = self._rsi.update(close)
        atr = self._atr.update(bar.high, bar.low, close)
        gap = fast - slow
        previous, self._previous_gap = self._previous_gap, gap
        # One NaN among the five means some indicator is still warming up.
        if math.isnan(gap + momentum + rsi + atr):
            return None
        crossed = (gap > 0.0 and previous <= 0.0) or (gap < 0.0 and previous >= 0.0)
        return _Reading(fast, slow, crossed, momentum, rsi, atr)


class TrendAgent:
    """Vote with the trend: crossover state, confirmed by momentum, filtered by RSI."""

    def __init__(self, config: TrendConfig | None = None, *, name: str = "trend") -> None:
        self.name = name
        self.config = config or TrendConfig()
        self._states: dict[str, _TrendState] = {}

    def observe(self, bar: Bar, context: AgentContext) -> Vote | None:
        """Update the instrument's indicators with `bar` and vote, or None while warming up."""
        state = self._states.get(bar.instrument)
        if state is None:
            state = self._states[bar.instrument] = _TrendState(self.config)
        reading = state.update(bar)
        if reading is None:
            return None
        return self._decide(bar.instrument, reading)

    def _decide(self, instrument: str, r: _Reading) -> Vote:
        config = self.config
        gap = r.fast - r.slow
        if gap > 0.0 and r.momentum > config.min_momentum:
            if r.rsi > config.overbought:
                why = f"uptrend but RSI {r.rsi:.1f} above overbought {config.overbought:g}"
                return self._hold(instrument, f"{why}; not chasing: {_summary(r)}")
            return self._trade(instrument, Direction.BUY, r)
        if gap < 0.0 and r.momentum < -config.min_momentum:
            if r.rsi < config.oversold:
                why = f"downtrend but RSI {r.rsi:.1f} below oversold {config.oversold:g}"
                return self._hold(instrument, f"{why}; not selling into weakness: {_summary(r)}")
            return self._trade(instrument, Direction.SELL, r)
        return self._hold(instrument, f"no confirmed trend: {_summary(r)}")

    def _trade(self, instrument: str, direction: Direction, r: _Reading) -> Vote:
        gap = abs(r.fast - r.slow)
        # A flat ATR with a nonzero gap cannot happen on real bars; treat it as a clear trend.
        strength = gap / (self.config.full_confidence_gap * r.atr) if r.atr > 0.0 else 1.0
        confidence = min(1.0, strength)
        reason = f"{_summary(r)}; gap {gap / r.atr if r.atr > 0.0 else math.inf:.2f} ATR"
        return Vote(self.name, instrument, direction, confidence, confidence, reason)

    def _hold(self, instrument: str, reason: str) -> Vote:
        return Vote(self.name, instrument, Direction.HOLD, 0.0, 0.0, reason)


def _summary(r: _Reading) -> str:
    """Say where the averages stand, with momentum and RSI, in one clause."""
    if r.fast > r.slow:
        relation = "crossed above" if r.crossed else "above"
    elif r.fast < r.slow:
        relation = "crossed below" if r.crossed else "below"
    else:
        relation = "level with"
    return (
        f"fast SMA {r.fast:.6g} {relation} slow SMA {r.slow:.6g}; "
        f"momentum {r.momentum:+.2%}; RSI {r.rsi:.1f}"
    )
