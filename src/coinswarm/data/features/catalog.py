"""The feature catalogue: parse a feature's name, then compute it over a series or as a stream.

A name is a family and its parameters joined by colons (`rsi:14`, `sma_gap:10:50`, `hour`).
Parameters are positive integers written plainly (no sign, no leading zero), so one feature
has exactly one name, and a pattern's id, which hashes its conditions' text, is one per rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from coinswarm.data.features import basic, chart
from coinswarm.data.features.family import Family, FeatureStream, FloatArray
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "DEFAULT_FEATURES",
    "FeatureCache",
    "FeatureError",
    "FeatureSpec",
    "feature_families",
    "feature_stream",
    "feature_values",
    "parse_feature",
]

_SEPARATOR = ":"
_PLAIN_POSITIVE = re.compile(r"[1-9][0-9]*")


class FeatureError(CoinswarmError, ValueError):
    """A feature name that names no family, or gives a family the wrong parameters."""


def _merge(*sources: Mapping[str, Family]) -> Mapping[str, Family]:
    merged: dict[str, Family] = {}
    for source in sources:
        for key, family in source.items():
            problem = None
            if key != family.name or _SEPARATOR in key:
                problem = f"family '{family.name}' filed under '{key}'"
            elif key in merged:
                problem = f"two families named '{key}'"
            if problem is not None:
                msg = f"expected one colon-free name per family, found {problem}"
                raise FeatureError(msg)
            merged[key] = family
    return MappingProxyType(dict(sorted(merged.items())))


_FAMILIES = _merge(basic.FAMILIES, chart.FAMILIES)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """A parsed feature: its family, its parameters and its canonical name."""

    family: Family
    params: tuple[int, ...]
    name: str

    def values(self, series: BarSeries) -> FloatArray:
        """Return the feature at every bar of `series` (NaN while warming up)."""
        return self.family.vectorised(series, self.params)

    def stream(self) -> FeatureStream:
        """Return a fresh stream of the feature, to be fed one closed bar at a time."""
        return self.family.stream(self.params)


def feature_families() -> tuple[Family, ...]:
    """Return every family a feature may name, basic and chart, in order of name."""
    return tuple(_FAMILIES.values())


def parse_feature(name: str) -> FeatureSpec:
    """Return the feature `name` names, or raise FeatureError saying what is wrong with it."""
    if not isinstance(name, str) or not name:
        msg = f"expected a feature name such as 'rsi:14', found {name!r}"
        raise FeatureError(msg)
    family_name, *texts = name.split(_SEPARATOR)
    family = _FAMILIES.get(family_name)
    if family is None:
        known = ", ".join(_FAMILIES)
        msg = f"feature '{name}': unknown family '{family_name}', expected one of: {known}"
        raise FeatureError(msg)
    if len(texts) != len(family.params):
        msg = f"feature '{name}': expected {_arity(family)}, found {len(texts)}"
        raise FeatureError(msg)
    params = tuple(
        _parameter(name, label, text) for label, text in zip(family.params, texts, strict=True)
    )
    problem = family.check(params) if family.check is not None else None
    if problem is not None:
        raise FeatureError(f"feature '{name}': {problem}")
    return FeatureSpec(family, params, name)


def _arity(family: Family) -> str:
    count = len(family.params)
    if not count:
        return f"no parameters for {family.name}"
    plural = "" if count == 1 else "s"
    return f"{count} parameter{plural} for {family.name} ({', '.join(family.params)})"


def _parameter(name: str, label: str, text: str) -> int:
    if _PLAIN_POSITIVE.fullmatch(text) is None:
        msg = (
            f"feature '{name}': expected '{label}' to be a positive integer written plainly "
            f"(digits, no leading zero), found '{text}'"
        )
        raise FeatureError(msg)
    return int(text)


def feature_values(name: str, series: BarSeries) -> FloatArray:
    """Return feature `name` at every bar of `series`, from bars 0..t at bar t."""
    return parse_feature(name).values(series)


def feature_stream(name: str) -> FeatureStream:
    """Return a fresh stream of feature `name`: `update(bar)` gives its value at that bar."""
    return parse_feature(name).stream()


class FeatureCache:
    """Features of one series, each computed once and then shared read-only.

    The discovery loop scores thousands of candidate patterns over the same few dozen
    features; this keeps one array per feature. Not thread-safe (workers are processes).
    """

    __slots__ = ("_series", "_values")

    def __init__(self, series: BarSeries, names: Iterable[str] = ()) -> None:
        self._series = series
        self._values: dict[str, FloatArray] = {}
        for name in names:
            self.values(name)

    @property
    def series(self) -> BarSeries:
        """Return the series the features are computed over."""
        return self._series

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def values(self, name: str) -> FloatArray:
        """Return feature `name` over the series (read-only), computing it on first use."""
        cached = self._values.get(name)
        if cached is None:
            cached = parse_feature(name).values(self._series)
            cached.flags.writeable = False
            self._values[name] = cached
        return cached


DEFAULT_FEATURES: tuple[str, ...] = (
    "ret:1",
    "ret:6",
    "ret:24",
    "ret:168",
    "vol:24",
    "vol:168",
    "volume_ratio:24",
    "volume_ratio:168",
    "rsi:2",
    "rsi:14",
    "sma_gap:10:50",
    "sma_gap:50:200",
    "close_sma:20",
    "close_sma:50",
    "close_sma:200",
    "ema_gap:12:26",
    "bb_pctb:20",
    "macd_hist:12:26:9",
    "donchian_pos:20",
    "donchian_pos:55",
    "breakout_up:20",
    "breakout_down:20",
    "breakout_up:55",
    "breakout_down:55",
    "atr_ratio:14",
    "hour",
    "weekday",
    "drawdown:168",
    "drawdown:720",
)
"""Features for hourly-to-daily crypto bars: a day, a week and a month of context."""
