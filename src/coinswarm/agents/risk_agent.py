"""The risk-management agent: veto new exposure when the market or the account looks unsafe.

It never votes to trade. On each bar it checks five rules for the bar's instrument and, when
any fires, votes HOLD with confidence 1 and ``veto=True``; the reason names every rule that
fired with its numbers. When no rule fires it abstains (returns None): silence means no
objection, and the committee's record is not filled with one empty vote per bar.

The rules:

* **volatility**: the sample standard deviation of the last `volatility_period` log returns
  is at or above the limit. `max_volatility` is stated per bar of `volatility_interval` (the
  default, 2% per hourly bar, where crypto usually moves well under 1% an hour); on bars of
  another interval the limit scales by the square root of the ratio, as the deviation of a
  random walk does (2% an hour is 4% on 4-hour bars, 9.8% on daily ones), so the agent does
  not veto every bar of a daily market. `volatility_interval` "bar" keeps the limit as given
  on any bars. The bar interval is `interval_ns` when given, else the market view's (the
  feed's timeframe), else the smallest step seen so far.
* **exposure**: the absolute exposure to the instrument (either side of flat) is at or above
  `max_exposure`, as a fraction of equity; at the maximum, any addition would exceed it.
* **gross exposure**: the account's gross exposure is at or above `max_gross_exposure`.
* **liquidity**: the bar's volume is below `min_volume_ratio` times the average volume of the
  `volume_period` bars before it. A drought that lasts longer than that window becomes its own
  average and stops firing; the rule catches sudden droughts, not permanently thin markets.
* **gap**: the step from the previous bar is more than `gap_multiple` times the interval; the
  veto holds for `gap_veto_bars` bars, counting the first bar after the gap, because
  indicators straddling missing data mislead for a while. The interval is `interval_ns` when
  given, else the smallest step seen so far on the instrument (so the very first step cannot
  be judged).

Market rules start once their indicator is warm; the exposure rules apply from the first bar.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coinswarm.agents.base import AgentContext, Direction, Vote
from coinswarm.data.indicators.streaming import SMA, RollingVolatility
from coinswarm.data.timefmt import parse_interval
from coinswarm.domain.bar import NS_PER_HOUR, NS_PER_SECOND, Bar

__all__ = ["PER_BAR", "RiskAgent", "RiskConfig"]

_NS_PER_MINUTE = 60 * NS_PER_SECOND
PER_BAR = "bar"
"""`volatility_interval` that keeps `max_volatility` as given on bars of any interval."""


class RiskConfig(BaseModel):
    """Limits of the risk-management agent; windows are in bars, exposures in equity shares."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    volatility_period: int = Field(
        default=24, ge=2, description="log returns in the realised-volatility window"
    )
    max_volatility: float = Field(
        default=0.02,
        ge=0.0,
        le=10.0,
        description="volatility of log returns per bar of `volatility_interval` at or above "
        "which the agent vetoes",
    )
    volatility_interval: str = Field(
        default="1h",
        description="bar interval `max_volatility` is stated for (1m ... 1d); on other bars the "
        "limit scales by the square root of the ratio; 'bar': never scaled",
    )
    max_exposure: float = Field(
        default=0.25,
        ge=0.0,
        le=100.0,
        description="absolute exposure to one instrument, a fraction of equity, that is vetoed",
    )
    max_gross_exposure: float = Field(
        default=1.0,
        ge=0.0,
        le=100.0,
        description="gross exposure of the account, a fraction of equity, that is vetoed",
    )
    volume_period: int = Field(default=24, ge=1, description="bars in the average volume")
    min_volume_ratio: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="share of the average volume under which a bar is too illiquid (0: off)",
    )
    gap_multiple: float = Field(
        default=1.5, gt=1.0, le=1000.0, description="step, in intervals, that counts as a gap"
    )
    gap_veto_bars: int = Field(
        default=3, ge=0, description="bars vetoed after a gap, the first bar after it included"
    )
    interval_ns: int | None = Field(
        default=None,
        gt=0,
        description="nominal bar interval in nanoseconds; None: the smallest step seen so far",
    )

    @field_validator("volatility_interval")
    @classmethod
    def _known_interval(cls, value: str) -> str:
        if value != PER_BAR:
            parse_interval(value)  # a ValueError names the intervals it knows
        return value

    def volatility_limit(self, interval_ns: int | None) -> float:
        """Return the per-bar volatility limit on bars of `interval_ns` (None: unknown)."""
        if not interval_ns or self.volatility_interval == PER_BAR:
            return self.max_volatility
        return self.max_volatility * math.sqrt(
            interval_ns / parse_interval(self.volatility_interval)
        )


class _RiskState:
    """The market-side memory of one instrument: volatility, volume and the last step."""

    __slots__ = (
        "_config",
        "_gap_left",
        "_gap_step",
        "_last_ts",
        "_limit",
        "_min_step",
        "_volatility",
        "_volume",
    )

    def __init__(self, config: RiskConfig, interval_ns: int | None) -> None:
        self._config = config
        # Known from the feed, the limit is fixed; else it follows the smallest step seen.
        self._limit = None if interval_ns is None else config.volatility_limit(interval_ns)
        self._volatility = RollingVolatility(config.volatility_period)
        self._volume = SMA(config.volume_period)
        self._last_ts: int | None = None
        self._min_step = 0
        self._gap_left = 0
        self._gap_step = 0

    def findings(self, bar: Bar) -> list[str]:
        """Feed one bar and return a sentence for each market rule it breaks."""
        config = self._config
        found: list[str] = []
        gap = self._gap(bar.ts)
        if gap:
            found.append(gap)
        volatility = self._volatility.update(bar.close)
        limit = self._limit
        if limit is None:
            limit = config.volatility_limit(self._min_step or None)
        if volatility >= limit:  # False while warming up: NaN compares False
            found.append(f"volatility {volatility:.2%} per bar at or above max {limit:.2%}")
        average = self._volume.value  # the average before this bar, NaN while warming up
        self._volume.update(bar.volume)
        if bar.volume < config.min_volume_ratio * average:
            found.append(
                f"volume {bar.volume:.6g} below {config.min_volume_ratio:.0%} of its "
                f"{config.volume_period}-bar average {average:.6g}"
            )
        return found

    def _gap(self, ts: int) -> str:
        config = self._config
        last, self._last_ts = self._last_ts, ts
        if last is not None:
            step = ts - last
            interval = config.interval_ns or self._min_step
            if interval and step > config.gap_multiple * interval:
                self._gap_left = config.gap_veto_bars
                self._gap_step = step
            self._min_step = step if not self._min_step else min(self._min_step, step)
        if not self._gap_left:
            return ""
        self._gap_left -= 1
        ago = config.gap_veto_bars - self._gap_left - 1
        when = "on this bar" if not ago else f"{ago} bar{'s' if ago > 1 else ''} ago"
        interval = config.interval_ns or self._min_step
        return (
            f"data gap of {_duration(self._gap_step)} crossed {when} "
            f"(interval {_duration(interval)}, gap at {config.gap_multiple:g}x)"
        )


class RiskAgent:
    """Veto new exposure on volatility, exposure, liquidity and data gaps; else abstain."""

    def __init__(self, config: RiskConfig | None = None, *, name: str = "risk") -> None:
        self.name = name
        self.config = config or RiskConfig()
        self._states: dict[str, _RiskState] = {}

    def observe(self, bar: Bar, context: AgentContext) -> Vote | None:
        """Check `bar` and the account against every rule; veto if one fires, else None."""
        state = self._states.get(bar.instrument)
        if state is None:
            interval = self.config.interval_ns or context.market.interval_ns(bar.instrument)
            state = self._states[bar.instrument] = _RiskState(self.config, interval)
        found = state.findings(bar)
        self._check_exposure(bar.instrument, context, found)
        if not found:
            return None
        return Vote(
            self.name, bar.instrument, Direction.HOLD, 1.0, 0.0, "veto: " + "; ".join(found), True
        )

    def _check_exposure(self, instrument: str, context: AgentContext, found: list[str]) -> None:
        config = self.config
        exposure = context.exposure(instrument)
        if abs(exposure) >= config.max_exposure:
            found.append(
                f"exposure {exposure:+.1%} of equity at or above max {config.max_exposure:.1%}"
            )
        gross = context.gross_exposure()
        if gross >= config.max_gross_exposure:
            found.append(
                f"gross exposure {gross:.1%} of equity at or above max "
                f"{config.max_gross_exposure:.1%}"
            )


def _duration(ns: int) -> str:
    """Write a span of nanoseconds in the largest unit that keeps it readable."""
    if ns >= NS_PER_HOUR:
        return f"{ns / NS_PER_HOUR:g}h"
    if ns >= _NS_PER_MINUTE:
        return f"{ns / _NS_PER_MINUTE:g}m"
    return f"{ns / NS_PER_SECOND:g}s"
