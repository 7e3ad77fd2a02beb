"""How far a taker's fill price moves against it: a fixed figure, or a model of the bar.

The default is `SlippageModel`, because the project's roadmap expects real fills to cost 0.1%
to 0.5% beyond the fee and a backtest that assumes less flatters every strategy. A fixed
figure (`FixedSlippage`, 0 allowed) stays for cross-checks against peers that assume none.

The model prices a fill on the bar it executes on. That bar's range is not known when the
order is decided (on the close of the bar before), and it is not shown to the strategy: it
only makes the cost of a fill larger in a turbulent hour, which is when real fills are worse.
The choice is the pessimistic one for costs and leaks nothing into decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from coinswarm.domain.errors import InvalidOrderError

if TYPE_CHECKING:  # a type only: bars bring numpy, which `--help` must not load
    from coinswarm.domain.bar import Bar

__all__ = ["MODEL", "FixedSlippage", "Slippage", "SlippageModel", "slippage_from_json"]

MODEL = "model"  # how the model is named on the command line and in a run's inputs
BPS_PER_UNIT = Decimal(10_000)
ZERO = Decimal(0)
ONE = Decimal(1)


def _check(name: str, value: Decimal) -> None:
    if not value.is_finite() or value < 0:
        raise InvalidOrderError(f"{name}: expected 0 or more, found {value}")


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedSlippage:
    """The same adverse slippage on every taker fill, in basis points (0: none)."""

    bps: Decimal = ZERO

    def __post_init__(self) -> None:
        _check("slippage_bps", self.bps)

    @property
    def least_bps(self) -> Decimal:
        """Return the smallest slippage any fill can get."""
        return self.bps

    def bps_for(self, bar: Bar, quantity: Decimal) -> Decimal:
        """Return the slippage of a fill of `quantity` on `bar`: always the same."""
        return self.bps

    def identity(self) -> str:
        """Return the text that makes this choice part of a run's id."""
        return str(self.bps)

    def describe(self) -> str:
        """Return the assumption in words, for reports."""
        return f"fixed {self.bps} bps"

    def to_json(self) -> dict[str, str]:
        """Return the choice as JSON-safe values (`slippage_from_json` reads them back)."""
        return {"kind": "fixed", "bps": str(self.bps)}


@dataclass(frozen=True, slots=True, kw_only=True)
class SlippageModel:
    """Slippage that grows with the bar's volatility and the order's share of its volume.

    In basis points: `floor_bps` + `range_share` x the bar's (high - low) / open in basis
    points + `impact_bps` x sqrt(quantity / the bar's volume), the square-root law of market
    impact, at most `ceiling_bps` (so a sale never prices at or below zero). A share of volume
    above 1, or a bar without volume, counts as 1.
    """

    floor_bps: Decimal = Decimal(10)
    range_share: Decimal = Decimal("0.1")
    impact_bps: Decimal = Decimal(100)
    ceiling_bps: Decimal = Decimal(1000)

    def __post_init__(self) -> None:
        for name in ("floor_bps", "range_share", "impact_bps", "ceiling_bps"):
            _check(name, getattr(self, name))
        if not self.floor_bps <= self.ceiling_bps < BPS_PER_UNIT:
            msg = f"ceiling_bps: expected {self.floor_bps} to below 10000, found {self.ceiling_bps}"
            raise InvalidOrderError(msg)

    @property
    def least_bps(self) -> Decimal:
        """Return the smallest slippage any fill can get: the floor."""
        return self.floor_bps

    def bps_for(self, bar: Bar, quantity: Decimal) -> Decimal:
        """Return the slippage of a fill of `quantity` base units on `bar`, in basis points."""
        opened = _exact(bar.open)
        spread = (_exact(bar.high) - _exact(bar.low)) / opened if opened > 0 else ZERO
        volume = _exact(bar.volume)
        share = ONE if volume <= 0 else min(ONE, max(ZERO, quantity) / volume)
        bps = self.floor_bps + self.range_share * spread * BPS_PER_UNIT
        bps += self.impact_bps * share.sqrt()
        return min(bps, self.ceiling_bps)

    def identity(self) -> str:
        """Return the text that makes this choice part of a run's id."""
        return (
            f"{MODEL}(floor={self.floor_bps},range={self.range_share},"
            f"impact={self.impact_bps},ceiling={self.ceiling_bps})"
        )

    def describe(self) -> str:
        """Return the assumption in words, for reports."""
        return (
            f"model: {self.floor_bps} bps + {self.range_share} x the bar's range (high-low)/open "
            f"+ {self.impact_bps} bps x sqrt(order / bar volume), at most {self.ceiling_bps} bps"
        )

    def to_json(self) -> dict[str, str]:
        """Return the model as JSON-safe values (`slippage_from_json` reads them back)."""
        return {
            "kind": MODEL,
            "floor_bps": str(self.floor_bps),
            "range_share": str(self.range_share),
            "impact_bps": str(self.impact_bps),
            "ceiling_bps": str(self.ceiling_bps),
        }


Slippage = FixedSlippage | SlippageModel


def slippage_from_json(values: Mapping[str, Any]) -> Slippage:
    """Rebuild a slippage choice written by `to_json`; refuse anything else, naming it."""
    if not isinstance(values, Mapping):
        msg = f"slippage: expected an object, found {values!r}"
        raise InvalidOrderError(msg)
    kind = values.get("kind")
    if kind == "fixed":
        return FixedSlippage(bps=_number(values, "bps"))
    if kind == MODEL:
        return SlippageModel(
            floor_bps=_number(values, "floor_bps"),
            range_share=_number(values, "range_share"),
            impact_bps=_number(values, "impact_bps"),
            ceiling_bps=_number(values, "ceiling_bps"),
        )
    msg = f"slippage: expected kind 'fixed' or {MODEL!r}, found {kind!r}"
    raise InvalidOrderError(msg)


def _number(values: Mapping[str, Any], name: str) -> Decimal:
    try:
        return Decimal(str(values[name]))
    except (KeyError, InvalidOperation):
        msg = f"slippage {name}: expected a number, found {values.get(name)!r}"
        raise InvalidOrderError(msg) from None
