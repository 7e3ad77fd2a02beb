"""The mean-reversion agent: buy oversold dips, exit when the price comes back or overshoots.

Per instrument it keeps Wilder's RSI and Bollinger bands of close, both streaming (O(1) a bar).

* BUY (entry) when the market is oversold: RSI below `oversold` and close below the lower band.
* SELL (exit) when it is overbought: RSI above `overbought` or close above the upper band;
  and, with `exit_at_middle`, when the close has come back to the middle band after an entry
  signal, which is where a reversion trade has earned what it set out to earn.
* HOLD otherwise; abstain (None) until both indicators are warm.

Confidence is the stronger of two readings, each in [0, 1]: how extreme the RSI is (its
distance past the threshold as a share of the way to 0 or 100) and how far the close lies
beyond the band, in standard deviations, divided by `full_confidence_excess`. An exit at the
middle band has the fixed `exit_confidence`. The size hint equals the confidence; HOLD votes
carry confidence 0 and size hint 0.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coinswarm.agents.base import AgentContext, Direction, Vote
from coinswarm.data.indicators.streaming import RSI, BollingerBands, BollingerValue
from coinswarm.domain.bar import Bar

__all__ = ["MeanReversionAgent", "MeanReversionConfig"]


class MeanReversionConfig(BaseModel):
    """Parameters of the mean-reversion agent; windows are in bars."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    rsi_period: int = Field(default=14, ge=1, description="window of Wilder's RSI")
    oversold: float = Field(
        default=30.0, gt=0.0, lt=100.0, description="RSI below which the market is oversold"
    )
    overbought: float = Field(
        default=70.0, gt=0.0, lt=100.0, description="RSI above which the market is overbought"
    )
    band_period: int = Field(default=20, ge=2, description="window of the Bollinger bands")
    band_width: float = Field(
        default=2.0, gt=0.0, le=10.0, description="band distance from the middle, in deviations"
    )
    full_confidence_excess: float = Field(
        default=1.0,
        gt=0.0,
        le=100.0,
        description="distance beyond a band, in deviations, at which confidence reaches 1",
    )
    exit_at_middle: bool = Field(
        default=True,
        description="vote SELL when the close reaches the middle band after an entry signal",
    )
    exit_confidence: float = Field(
        default=0.5, ge=0.0, le=1.0, description="confidence of an exit at the middle band"
    )

    @model_validator(mode="after")
    def _check_order(self) -> MeanReversionConfig:
        if self.oversold >= self.overbought:
            msg = (
                f"expected oversold < overbought, found oversold={self.oversold} "
                f"and overbought={self.overbought}"
            )
            raise ValueError(msg)
        return self


class _ReversionState:
    """The streaming indicators of one instrument, and whether an entry awaits its exit."""

    __slots__ = ("armed", "bands", "rsi")

    def __init__(self, config: MeanReversionConfig) -> None:
        self.rsi = RSI(config.rsi_period)
        self.bands = BollingerBands(config.band_period, config.band_width)
        self.armed = False


class MeanReversionAgent:
    """Vote for reversion to the mean: oversold entries, overbought or middle-band exits."""

    def __init__(
        self, config: MeanReversionConfig | None = None, *, name: str = "mean_reversion"
    ) -> None:
        self.name = name
        self.config = config or MeanReversionConfig()
        self._states: dict[str, _ReversionState] = {}

    def observe(self, bar: Bar, context: AgentContext) -> Vote | None:
        """Update the instrument's indicators with `bar` and vote, or None while warming up."""
        state = self._states.get(bar.instrument)
        if state is None:
            state = self._states[bar.instrument] = _ReversionState(self.config)
        close = bar.close
        rsi = state.rsi.update(close)
        bands = state.bands.update(close)
        if math.isnan(rsi + bands.middle):
            return None
        return self._decide(bar.instrument, state, close, rsi, bands)

    def _decide(
        self, instrument: str, state: _ReversionState, close: float, rsi: float, b: BollingerValue
    ) -> Vote:
        config = self.config
        where = (
            f"close {close:.6g}, bands {b.lower:.6g}/{b.middle:.6g}/{b.upper:.6g}, RSI {rsi:.1f}"
        )
        if rsi > config.overbought or close > b.upper:
            state.armed = False
            rsi_part = (rsi - config.overbought) / (100.0 - config.overbought)
            return self._vote(
                instrument,
                Direction.SELL,
                rsi_part=rsi_part,
                beyond=close - b.upper,
                bands=b,
                where=where,
            )
        if rsi < config.oversold and close < b.lower:
            state.armed = True
            rsi_part = (config.oversold - rsi) / config.oversold
            return self._vote(
                instrument,
                Direction.BUY,
                rsi_part=rsi_part,
                beyond=b.lower - close,
                bands=b,
                where=where,
            )
        if state.armed and config.exit_at_middle and close >= b.middle:
            state.armed = False
            confidence = config.exit_confidence
            reason = f"reverted to the middle band after an oversold entry: {where}"
            return Vote(self.name, instrument, Direction.SELL, confidence, confidence, reason)
        waiting = "; waiting for the middle band" if state.armed and config.exit_at_middle else ""
        reason = f"neither oversold nor overbought: {where}{waiting}"
        return Vote(self.name, instrument, Direction.HOLD, 0.0, 0.0, reason)

    def _vote(
        self,
        instrument: str,
        direction: Direction,
        *,
        rsi_part: float,
        beyond: float,
        bands: BollingerValue,
        where: str,
    ) -> Vote:
        deviation = (bands.upper - bands.middle) / self.config.band_width
        if beyond <= 0.0:
            excess = 0.0
        elif deviation > 0.0:
            excess = beyond / deviation
        else:
            excess = math.inf  # any distance beyond bands of zero width is unbounded
        band_part = excess / self.config.full_confidence_excess
        confidence = min(1.0, max(rsi_part, band_part, 0.0))
        label = "overbought" if direction is Direction.SELL else "oversold"
        beyond_text = f"{excess:.2f} deviations beyond the band" if excess else "inside the bands"
        reason = f"{label}: {where}; {beyond_text}"
        return Vote(self.name, instrument, direction, confidence, confidence, reason)
