"""Checks every feature family must pass, written once and looped over the whole catalogue.

`assert_prefix_invariant` is the look-ahead check: a feature computed on the first k bars must
give the first k values it gives on the whole series, or its value at some bar depended on a
later one. `assert_stream_matches` holds the streaming form to the vectorised one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np

from coinswarm.data.features import DEFAULT_FEATURES, Family, parse_feature
from coinswarm.data.features.catalog import FeatureError
from coinswarm.data.features.chart import DEFAULT_CHART_FEATURES
from coinswarm.domain.bar import BarSeries

# Stream and vectorised forms agree to a relative 1e-9. Features are scale-free, and gaps such
# as sma_gap cross zero, where no relative tolerance holds: there they may differ by 1e-12.
RTOL = 1e-9
ATOL = 1e-12
# A prefix recomputes the same arithmetic on fewer bars; allow only reduction-order rounding.
PREFIX_RTOL = 1e-12
PREFIX_ATOL = 1e-15
# Parameters tried for a family that DEFAULT_FEATURES does not use (chart families, later ones).
_CANDIDATES = (2, 3, 5, 8, 13, 21)


def head(series: BarSeries, k: int) -> BarSeries:
    """Return the first `k` bars of `series`."""
    return BarSeries(
        series.instrument,
        series.interval_ns,
        series.ts[:k],
        series.open[:k],
        series.high[:k],
        series.low[:k],
        series.close[:k],
        series.volume[:k],
    )


def example_params(family: Family) -> tuple[tuple[int, ...], ...]:
    """Return parameters to test `family` with: its default features, else small valid ones."""
    # Chart detectors with arbitrary small parameters (a 2 bps tolerance) may never fire on a
    # test market, which would make the checks vacuous; their defaults do fire.
    defaults = DEFAULT_FEATURES + DEFAULT_CHART_FEATURES
    chosen = [
        spec.params for spec in map(parse_feature, defaults) if spec.family.name == family.name
    ]
    if not chosen:
        valid = _small_valid(family)
        chosen = sorted({valid[0], valid[-1]})
    return tuple(chosen)


def small_params(family: Family) -> tuple[int, ...]:
    """Return the first valid parameters of `family` among small ones (warm on short series)."""
    return _small_valid(family)[0]


def _small_valid(family: Family) -> list[tuple[int, ...]]:
    candidates = itertools.product(_CANDIDATES, repeat=len(family.params))
    valid = [params for params in candidates if valid_params(family, params)]
    assert valid, f"no valid parameters found for family '{family.name}'"
    return valid


def valid_params(family: Family, params: tuple[int, ...]) -> bool:
    """Return whether the catalogue accepts `params` for `family`."""
    try:
        parse_feature(":".join([family.name, *map(str, params)]))
    except FeatureError:
        return False
    return True


def stream_values(family: Family, params: tuple[int, ...], series: BarSeries) -> np.ndarray:
    """Feed `series` bar by bar to a fresh stream and collect what `update` returns."""
    stream = family.stream(params)
    return np.array([stream.update(series.bar(i)) for i in range(len(series))], dtype=np.float64)


def _assert_same(got: np.ndarray, want: np.ndarray, rtol: float, atol: float, what: str) -> None:
    assert got.dtype == np.float64, f"{what}: dtype {got.dtype}, expected float64"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    if not np.array_equal(nan_got, nan_want):
        first = int(np.argmax(nan_got != nan_want))
        raise AssertionError(
            f"{what}: NaN differs first at bar {first}: {got[first]} vs {want[first]}"
        )
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def assert_stream_matches(family: Family, params: tuple[int, ...], series: BarSeries) -> None:
    """Fail unless the streaming form gives the vectorised values, NaN in the same places."""
    want = family.vectorised(series, params)
    got = stream_values(family, params, series)
    _assert_same(got, want, RTOL, ATOL, f"{family.name}{params} stream vs vectorised")


def assert_prefix_invariant(
    family: Family, params: tuple[int, ...], series: BarSeries, cuts: Iterable[int]
) -> None:
    """Fail if the vectorised values on the first k bars differ from the full run's first k."""
    whole = family.vectorised(series, params)
    assert len(whole) == len(series), f"{family.name}{params}: {len(whole)} values"
    for k in cuts:
        part = family.vectorised(head(series, k), params)
        what = f"{family.name}{params} on the first {k} of {len(series)} bars"
        _assert_same(part, whole[:k], PREFIX_RTOL, PREFIX_ATOL, what)
