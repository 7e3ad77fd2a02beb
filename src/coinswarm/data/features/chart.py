"""Classic chart patterns as feature families: 1.0 on the bar a pattern is confirmed, else 0.0.

The rules follow Lo, Mamaysky & Wang (2000), "Foundations of Technical Analysis" (J. Finance
55(4)), which define double tops and head-and-shoulders through sequences of local extrema with
equal-within-a-tolerance conditions, and Bulkowski's *Encyclopedia of Chart Patterns*, which
confirms a top on a close beyond its trough (the neckline) and a flag on a close beyond its
range. The local extrema here are swing points ("pivots"): bar i is a pivot high of width k
when its high beats the k highs before it and is not beaten by the k after it, so it is known
only at bar i + k, and a pattern resting on it is never reported before then.

"a is near b" means |a - b| <= tol * |a + b| / 2 (within tol of their mean, as in Lo et al.);
"a is clearly above b" means a > b and not near. `tol = tol_bps / 10_000`.

Every detector is window-local: its value at bar t depends on the last `window` bars only
(given per family), and is NaN for t < window - 1. The stream keeps those bars and runs the
same detector over them, O(window) per bar; the tests hold stream == vectorised bar for bar.
Spans count bars, not hours: a gap in the data is no bar.
Bearish and bullish twins are one rule: a double bottom is a double top of the chart turned
upside down (high -> -low, low -> -high, close -> -close), so the two are exact mirrors.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from coinswarm.data.features.family import Family, FeatureStream, FloatArray
from coinswarm.domain.bar import Bar, BarSeries

__all__ = ["DEFAULT_CHART_FEATURES", "FAMILIES"]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Params = tuple[int, ...]

_BPS = 10_000
# A flag is tight when its range (highest high to lowest low) is at most this share of the
# pole's height: a pullback of more than half the pole is a reversal, not a pause (Bulkowski).
_FLAG_RANGE_OF_POLE = 0.5


class _Prices(NamedTuple):
    high: FloatArray
    low: FloatArray
    close: FloatArray

    def upside_down(self) -> _Prices:
        """Return the chart mirrored in price, so a top rule finds bottoms."""
        return _Prices(-self.low, -self.high, -self.close)


Detector = Callable[[_Prices, Params], BoolArray]


# --- shared pieces ---------------------------------------------------------------------------


def _pivot_highs(high: FloatArray, k: int) -> IntArray:
    """Return the bars whose high beats the k highs before it and is not beaten by the k after.

    Strict on the left and loose on the right, so a flat top of equal highs counts once, at its
    first bar. A pivot at bar i needs bars i - k .. i + k, so it is known at bar i + k.
    """
    if len(high) < 2 * k + 1:
        return np.empty(0, dtype=np.int64)
    windows = sliding_window_view(high, 2 * k + 1)
    centre = windows[:, k]
    beats_left = centre > windows[:, :k].max(axis=1)
    holds_right = centre >= windows[:, k + 1 :].max(axis=1)
    return np.flatnonzero(beats_left & holds_right).astype(np.int64) + k


def _near(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * abs(a + b) / 2


def _clearly_above(a: float, b: float, tol: float) -> bool:
    return a > b and not _near(a, b, tol)


def _first_close_below(
    prices: _Prices, start: int, end: int, level: float, ceiling: float
) -> int | None:
    """Return the first bar in start..end closing below `level`, unless a high above `ceiling`
    comes first or on it (the top was exceeded, so the pattern failed).

    `start` is the last top's confirmation bar; the k bars before it are no higher than that
    top, so checking the ceiling from `start` is the same as checking it from the top itself.
    """
    below = np.flatnonzero(prices.close[start : end + 1] < level)
    if below.size == 0:
        return None
    bar = start + int(below[0])
    return None if prices.high[start : bar + 1].max() > ceiling else bar


def _rolling_max(x: FloatArray, n: int) -> FloatArray:
    """Return the max of every window of n bars; entry j covers bars j .. j + n - 1."""
    return np.asarray(sliding_window_view(x, n).max(axis=1), dtype=np.float64)


def _rolling_min(x: FloatArray, n: int) -> FloatArray:
    return np.asarray(sliding_window_view(x, n).min(axis=1), dtype=np.float64)


# --- the detectors: each finds one side; its twin is the same rule on the upside-down chart --


def _double_top(prices: _Prices, params: Params) -> BoolArray:
    """Two consecutive pivot highs near each other in price, the lowest low between them
    clearly below the lower one; confirmed at the first bar at or after the second top's
    confirmation (second top + k) that closes below that trough, provided no high since then
    exceeded the higher top and the whole pattern, first top to confirmation, spans at most n
    bars."""
    k, n, tol_bps = params
    tol = tol_bps / _BPS
    last = len(prices.close) - 1
    fired = np.zeros(len(prices.close), dtype=np.bool_)
    for first, second in pairwise(_pivot_highs(prices.high, k)):
        tops = float(prices.high[first]), float(prices.high[second])
        trough = float(prices.low[first + 1 : second].min())
        if not (_near(*tops, tol) and _clearly_above(min(tops), trough, tol)):
            continue
        bar = _first_close_below(prices, second + k, min(first + n, last), trough, max(tops))
        if bar is not None:
            fired[bar] = True
    return fired


def _head_shoulders(prices: _Prices, params: Params) -> BoolArray:
    """Three consecutive pivot highs, the middle (head) clearly above both others (shoulders),
    the shoulders near each other. The neckline is horizontal at the lower of the two troughs
    (the lowest low between each shoulder and the head) and must lie clearly below the lower
    shoulder. Confirmed at the first bar at or after the right shoulder's confirmation (right
    shoulder + k) that closes below the neckline, provided no high since then exceeded the
    head and the pattern, left shoulder to confirmation, spans at most n bars."""
    k, n, tol_bps = params
    tol = tol_bps / _BPS
    last = len(prices.close) - 1
    fired = np.zeros(len(prices.close), dtype=np.bool_)
    tops = _pivot_highs(prices.high, k)
    for left, head, right in zip(tops, tops[1:], tops[2:], strict=False):
        shoulders = float(prices.high[left]), float(prices.high[right])
        top = float(prices.high[head])
        neckline = float(min(prices.low[left + 1 : head].min(), prices.low[head + 1 : right].min()))
        if not (
            _near(*shoulders, tol)
            and _clearly_above(top, max(shoulders), tol)
            and _clearly_above(min(shoulders), neckline, tol)
        ):
            continue
        bar = _first_close_below(prices, right + k, min(left + n, last), neckline, top)
        if bar is not None:
            fired[bar] = True
    return fired


def _bull_flag(prices: _Prices, params: Params) -> BoolArray:
    """At bar t, with the flag the `flag` bars before t and the pole the `pole` bars before
    the flag (from close[s] to close[e], e = t - flag - 1, s = e - pole): the pole rose by at
    least min_pole_bps of close[s]; the flag's range (highest high to lowest low) is at most
    half the pole's rise; the flag drifted against the pole or sideways (close[t-1] <=
    close[e]); and close[t] breaks above the flag's highest high."""
    pole, flag, min_pole_bps = params
    close = prices.close
    fired = np.zeros(len(close), dtype=np.bool_)
    t = np.arange(pole + flag + 1, len(close))
    if t.size == 0:
        return fired
    end = t - flag - 1
    start = end - pole
    rise = close[end] - close[start]
    flag_high = _rolling_max(prices.high, flag)[t - flag]
    flag_low = _rolling_min(prices.low, flag)[t - flag]
    fired[t] = (
        (rise >= min_pole_bps / _BPS * np.abs(close[start]))
        & (flag_high - flag_low <= _FLAG_RANGE_OF_POLE * rise)
        & (close[t - 1] <= close[end])
        & (close[t] > flag_high)
    )
    return fired


def _range_breakout_up(prices: _Prices, params: Params) -> BoolArray:
    """The n bars before t span a range (highest high minus lowest low) of at most
    max_range_bps of its midpoint, and close[t] is above that range's highest high."""
    n, max_range_bps = params
    close = prices.close
    fired = np.zeros(len(close), dtype=np.bool_)
    t = np.arange(n, len(close))
    if t.size == 0:
        return fired
    top = _rolling_max(prices.high, n)[t - n]
    bottom = _rolling_min(prices.low, n)[t - n]
    narrow = top - bottom <= max_range_bps / _BPS * np.abs(top + bottom) / 2
    fired[t] = narrow & (close[t] > top)
    return fired


# --- families: one detector, its window, and the two forms -----------------------------------


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    params: tuple[str, ...]
    detect: Detector
    window: Callable[[Params], int]
    upside_down: bool
    check: Callable[[Params], str | None] | None = None

    def prices(self, high: FloatArray, low: FloatArray, close: FloatArray) -> _Prices:
        prices = _Prices(high, low, close)
        return prices.upside_down() if self.upside_down else prices


class _WindowStream:
    """Keep the last `window` bars and run the detector over them on each new bar."""

    def __init__(self, spec: _Spec, params: Params) -> None:
        self._spec = spec
        self._params = params
        self._window = spec.window(params)
        self._bars: deque[tuple[float, float, float]] = deque(maxlen=self._window)

    def update(self, bar: Bar) -> float:
        self._bars.append((bar.high, bar.low, bar.close))
        if len(self._bars) < self._window:
            return math.nan
        high, low, close = np.array(self._bars, dtype=np.float64).T
        fired = self._spec.detect(self._spec.prices(high, low, close), self._params)
        return 1.0 if fired[-1] else 0.0


def _family(spec: _Spec, doc: str) -> Family:
    def vectorised(bars: BarSeries, params: Params) -> FloatArray:
        fired = spec.detect(spec.prices(bars.high, bars.low, bars.close), params)
        values = fired.astype(np.float64)
        values[: spec.window(params) - 1] = math.nan
        return values

    def stream(params: Params) -> FeatureStream:
        return _WindowStream(spec, params)

    return Family(spec.name, spec.params, vectorised, stream, doc, spec.check)


def _doc(title: str, detector: Detector) -> str:
    return f"{title}: " + " ".join(str(detector.__doc__).split())


def _pivot_window(params: Params) -> int:
    # The first pivot lies at most n bars back and needs k bars before it.
    k, n, _ = params
    return n + k + 1


def _needs_span(pivots: int) -> Callable[[Params], str | None]:
    """Refuse an n too short for `pivots` pivots of width k and a confirmation k bars later."""

    def check(params: Params) -> str | None:
        k, n, _ = params
        shortest = pivots * (k + 1) - 1
        return None if n >= shortest else f"n must be at least {shortest} for k={k}, found {n}"

    return check


def _flag_window(params: Params) -> int:
    pole, flag, _ = params
    return pole + flag + 2


def _range_window(params: Params) -> int:
    return params[0] + 1


_PIVOT_PARAMS = ("k", "n", "tol_bps")
_FLAG_PARAMS = ("pole", "flag", "min_pole_bps")
_RANGE_PARAMS = ("n", "max_range_bps")

_FAMILIES = (
    _family(
        _Spec("double_top", _PIVOT_PARAMS, _double_top, _pivot_window, False, _needs_span(2)),
        _doc("Double top (bearish)", _double_top),
    ),
    _family(
        _Spec("double_bottom", _PIVOT_PARAMS, _double_top, _pivot_window, True, _needs_span(2)),
        "Double bottom (bullish), double_top on the chart turned upside down: two consecutive"
        " pivot lows near each other, the highest high between them clearly above the higher"
        " one; confirmed at the first bar from the second bottom + k closing above that peak, if"
        " no low since went under the lower bottom and the pattern spans at most n bars.",
    ),
    _family(
        _Spec(
            "head_shoulders", _PIVOT_PARAMS, _head_shoulders, _pivot_window, False, _needs_span(3)
        ),
        _doc("Head and shoulders top (bearish)", _head_shoulders),
    ),
    _family(
        _Spec(
            "inverse_head_shoulders",
            _PIVOT_PARAMS,
            _head_shoulders,
            _pivot_window,
            True,
            _needs_span(3),
        ),
        "Inverse head and shoulders (bullish), head_shoulders on the chart turned upside down:"
        " three consecutive pivot lows, the middle clearly below the other two, which are near"
        " each other; confirmed at the first bar from the right shoulder + k closing above the"
        " higher of the two peaks between them, if no low since went under the head and the"
        " pattern spans at most n bars.",
    ),
    _family(
        _Spec("bull_flag", _FLAG_PARAMS, _bull_flag, _flag_window, False),
        _doc("Bull flag", _bull_flag),
    ),
    _family(
        _Spec("bear_flag", _FLAG_PARAMS, _bull_flag, _flag_window, True),
        "Bear flag, bull_flag on the chart turned upside down: a fall of at least min_pole_bps"
        " over `pole` bars, then `flag` bars drifting up or sideways within a range of at most"
        " half the fall, confirmed on a close below the flag's lowest low.",
    ),
    _family(
        _Spec("range_breakout_up", _RANGE_PARAMS, _range_breakout_up, _range_window, False),
        _doc("Range breakout up", _range_breakout_up),
    ),
    _family(
        _Spec("range_breakout_down", _RANGE_PARAMS, _range_breakout_up, _range_window, True),
        "Range breakout down, range_breakout_up on the chart turned upside down: the n bars"
        " before t span at most max_range_bps of their midpoint, and close[t] is below their"
        " lowest low.",
    ),
)

FAMILIES: dict[str, Family] = {family.name: family for family in _FAMILIES}

# Hourly bars: swings of 8 hours either side, tops within 0.5% inside four days (a week for
# head and shoulders), a 4% pole in 12 hours with a 6-hour flag, a day inside 2.5%.
DEFAULT_CHART_FEATURES: tuple[str, ...] = (
    "double_top:8:96:50",
    "double_bottom:8:96:50",
    "head_shoulders:8:168:50",
    "inverse_head_shoulders:8:168:50",
    "bull_flag:12:6:400",
    "bear_flag:12:6:400",
    "range_breakout_up:24:250",
    "range_breakout_down:24:250",
)
