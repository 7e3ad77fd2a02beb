"""Window helpers shared by feature families, each in a vectorised and a streaming form.

Vectorised helpers take whole float64 arrays and return arrays of the same length, NaN where
the window is not yet full. Streaming helpers take one value at a time in O(1) (amortised for
the rolling extremes). Extremes and delays are exact, so the two forms agree to the bit.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from coinswarm.data.features.family import FloatArray

__all__ = [
    "Delay",
    "RollingExtreme",
    "RunLength",
    "delayed",
    "flat_windows",
    "rolling_max",
    "rolling_min",
]

_NAN = math.nan

BoolArray = npt.NDArray[np.bool_]


def delayed(values: FloatArray, lag: int) -> FloatArray:
    """Return `values` shifted `lag` places later: out[t] = values[t - lag], NaN before."""
    out = np.full(len(values), np.nan)
    if lag < len(values):
        out[lag:] = values[: len(values) - lag]
    return out


def rolling_max(values: FloatArray, window: int) -> FloatArray:
    """Return the maximum of values[t-window+1..t] at each t (NaN until the window is full)."""
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1 :] = sliding_window_view(values, window).max(axis=1)
    return out


def rolling_min(values: FloatArray, window: int) -> FloatArray:
    """Return the minimum of values[t-window+1..t] at each t (NaN until the window is full)."""
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1 :] = sliding_window_view(values, window).min(axis=1)
    return out


def flat_windows(values: FloatArray, window: int) -> BoolArray:
    """Return whether values[t-window+1..t] are all equal, at each t (False until full).

    Exact comparison, so a zero-width window is recognised as such rather than through a
    deviation that rounding may leave a few ulps above zero.
    """
    index = np.arange(len(values))
    run_start = np.zeros(len(values), dtype=np.int64)
    changed = np.flatnonzero(values[1:] != values[:-1]) + 1
    run_start[changed] = changed
    run_start = np.maximum.accumulate(run_start) if len(values) else run_start
    result: BoolArray = index - run_start + 1 >= window
    return result


class Delay:
    """The value pushed `lag` pushes ago (NaN for the first `lag` pushes)."""

    __slots__ = ("_buffer", "_index", "_lag")

    def __init__(self, lag: int) -> None:
        self._lag = lag
        self._buffer = [_NAN] * lag
        self._index = 0

    def push(self, value: float) -> float:
        """Add one value and return the one that came `lag` pushes before it."""
        index = self._index
        old = self._buffer[index]
        self._buffer[index] = value
        index += 1
        self._index = 0 if index == self._lag else index
        return old


class RollingExtreme:
    """Maximum (or minimum) of the last `window` values, by a monotonic queue.

    The queue holds the candidates still able to become the extreme, best first, so each value
    enters and leaves it once: O(1) amortised per push.
    """

    __slots__ = ("_count", "_queue", "_sign", "_value", "_window")

    def __init__(self, window: int, *, maximum: bool = True) -> None:
        self._window = window
        # Minima are maxima of negated values; negation is exact.
        self._sign = 1.0 if maximum else -1.0
        self._queue: deque[tuple[int, float]] = deque()
        self._count = 0
        self._value = _NAN

    @property
    def value(self) -> float:
        """Return the extreme of the last `window` values pushed, or NaN before that many."""
        return self._value

    def push(self, value: float) -> float:
        """Add one value and return the extreme of the last `window`, or NaN."""
        keyed = self._sign * value
        queue = self._queue
        while queue and queue[-1][1] <= keyed:
            queue.pop()
        index = self._count
        queue.append((index, keyed))
        if queue[0][0] <= index - self._window:
            queue.popleft()
        self._count = index + 1
        if self._count < self._window:
            return _NAN
        self._value = self._sign * queue[0][1]
        return self._value


class RunLength:
    """How many values in a row, ending with the latest, are equal to it."""

    __slots__ = ("_last", "_run")

    def __init__(self) -> None:
        self._last = _NAN
        self._run = 0

    def push(self, value: float) -> int:
        """Add one value and return the length of the run of equal values it ends."""
        self._run = self._run + 1 if value == self._last else 1
        self._last = value
        return self._run
