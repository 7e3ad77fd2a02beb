"""Vectorised indicators for research: whole float64 series in, same-length series out.

Every function takes 1-D float64 arrays and returns float64 arrays of the same length, with NaN
where the indicator is still warming up. Inputs must be finite; a NaN or an infinity is refused
with its index, because in research a silent NaN would poison every later value.

Each function has a streaming twin in `coinswarm.data.indicators.streaming` that gives the same
values one bar at a time; the tests hold the two to within a relative 1e-9. Recursive indicators
(EMA, the Wilder averages) cannot be written as one numpy expression, so they go through
`_linear_recurrence`, which solves ``y[t] = d * y[t-1] + u[t]`` a block at a time in closed form.
"""

from __future__ import annotations

import math
import operator
from typing import NamedTuple, overload

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "BollingerSeries",
    "MACDSeries",
    "annualise",
    "atr",
    "bollinger_bands",
    "ema",
    "macd",
    "rolling_volatility",
    "rsi",
    "sma",
]

FloatArray = npt.NDArray[np.float64]

# Closed-form recurrence blocks stop before d**length drops below this, so that dividing by the
# decay powers cannot overflow for any input below about 1e240 in magnitude.
_MIN_DECAY_POWER = 1e-64
# Windowed standard deviations materialise at most about this many floats at once.
_CHUNK_ELEMENTS = 1 << 20


class BollingerSeries(NamedTuple):
    """Bollinger bands over a series: the middle SMA and the bands `k` deviations either side."""

    middle: FloatArray
    upper: FloatArray
    lower: FloatArray


class MACDSeries(NamedTuple):
    """The MACD line, its signal line, and their difference (the histogram)."""

    macd: FloatArray
    signal: FloatArray
    histogram: FloatArray


def sma(values: FloatArray, period: int) -> FloatArray:
    """Return the simple moving average over `period` values; first value at index period-1.

    Window sums come from block prefix and suffix sums: the series is cut into blocks of
    `period`, and every window is the suffix of one block plus the prefix of the next. This is
    O(n) like a global cumsum, but each sum runs over at most `period` values, so its error stays
    that of summing one window and does not grow along the series the way a cumsum's does
    (a 50,000-bar cumsum of BTC prices loses about seven digits to cancellation).
    """
    x = _as_series(values, "values")
    n = _check_period(period, "period")
    return _pad_front(_window_sums(x, n) / n, len(x))


def ema(values: FloatArray, period: int) -> FloatArray:
    """Return the exponential moving average with alpha = 2 / (period + 1).

    The EMA is seeded with the SMA of the first `period` values, so its first value is at index
    period-1; after that ``ema = alpha * value + (1 - alpha) * previous``.
    """
    x = _as_series(values, "values")
    n = _check_period(period, "period")
    return _seeded_ema(x, n)


def rsi(values: FloatArray, period: int = 14) -> FloatArray:
    """Return Wilder's relative strength index, between 0 and 100; first value at index period.

    The average gain and loss are seeded with the simple means of the first `period` changes,
    then smoothed as ``avg = (avg * (period - 1) + change) / period``. RSI is computed as
    ``100 * gain / (gain + loss)``, which equals ``100 - 100 / (1 + gain / loss)``: it is 100
    when the average loss is 0, and 50 (neutral) when both averages are 0, as on a flat series.
    """
    x = _as_series(values, "values")
    n = _check_period(period, "period")
    out = np.full(len(x), np.nan)
    if len(x) <= n:
        return out
    changes = np.diff(x)
    gains = np.maximum(changes, 0.0)
    losses = np.maximum(-changes, 0.0)
    avg_gain = _wilder(gains, n)
    avg_loss = _wilder(losses, n)
    total = avg_gain + avg_loss
    strength = np.divide(100.0 * avg_gain, total, out=np.full_like(total, 50.0), where=total > 0)
    out[n:] = strength
    return out


def bollinger_bands(values: FloatArray, period: int = 20, k: float = 2.0) -> BollingerSeries:
    """Return Bollinger bands: the SMA, and the SMA plus and minus `k` population deviations.

    The deviation uses ddof=0 over the same `period` values as the SMA; first values at index
    period-1. Deviations are computed per window in two passes (mean, then squared deviations
    from it, with the rounding of the mean corrected), which stays accurate on flat stretches
    where a sum-of-squares formula would cancel to noise.
    """
    x = _as_series(values, "values")
    n = _check_period(period, "period")
    width = _check_width(k)
    length = len(x)
    middle = _pad_front(_window_sums(x, n) / n, length)
    deviation = _pad_front(np.sqrt(_window_m2(x, n) / n), length)
    return BollingerSeries(middle, middle + width * deviation, middle - width * deviation)


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """Return Wilder's average true range; first value at index period-1.

    The true range is ``max(high - low, |high - previous close|, |low - previous close|)``, and
    simply ``high - low`` on the first bar. The ATR is seeded with the mean of the first
    `period` true ranges and then smoothed as ``atr = (atr * (period - 1) + tr) / period``.
    """
    h = _as_series(high, "high")
    lo = _as_series(low, "low")
    c = _as_series(close, "close")
    _check_same_length(h=h, lo=lo, c=c)
    n = _check_period(period, "period")
    out = np.full(len(h), np.nan)
    if len(h) < n:
        return out
    true_range = h - lo
    previous = c[:-1]
    true_range[1:] = np.maximum(
        true_range[1:], np.maximum(np.abs(h[1:] - previous), np.abs(lo[1:] - previous))
    )
    out[n - 1 :] = _wilder(true_range, n)
    return out


def macd(values: FloatArray, fast: int = 12, slow: int = 26, signal: int = 9) -> MACDSeries:
    """Return MACD: ``EMA(fast) - EMA(slow)``, its EMA(signal) and the histogram.

    The MACD line starts at index slow-1. The signal line is an EMA of the MACD line seeded with
    the SMA of its first `signal` values, so it and the histogram start at index
    slow + signal - 2 (33 for the default 12/26/9).
    """
    x = _as_series(values, "values")
    fast_n = _check_period(fast, "fast")
    slow_n = _check_period(slow, "slow")
    signal_n = _check_period(signal, "signal")
    if fast_n >= slow_n:
        msg = f"expected fast < slow, found fast={fast_n} and slow={slow_n}"
        raise ValueError(msg)
    line = _seeded_ema(x, fast_n) - _seeded_ema(x, slow_n)
    signal_line = np.full(len(x), np.nan)
    signal_line[slow_n - 1 :] = _seeded_ema(line[slow_n - 1 :], signal_n)
    return MACDSeries(line, signal_line, line - signal_line)


def rolling_volatility(close: FloatArray, period: int = 20) -> FloatArray:
    """Return the sample standard deviation (ddof=1) of the last `period` log returns.

    Log returns are ``log(close[t] / close[t-1])``, so the first value is at index period. The
    figure is per bar, not annualised (see `annualise`). Closes must be positive.
    """
    c = _as_series(close, "close")
    n = _check_period(period, "period", minimum=2)
    if len(c) and not np.all(c > 0):
        index = int(np.argmax(c <= 0))
        msg = f"expected positive closes, found {float(c[index])!r} at index {index}"
        raise ValueError(msg)
    out = np.full(len(c), np.nan)
    returns = np.log(c[1:] / c[:-1])
    if len(returns) >= n:
        out[n:] = np.sqrt(_window_m2(returns, n) / (n - 1))
    return out


@overload
def annualise(volatility: float, periods_per_year: float) -> float: ...


@overload
def annualise(volatility: FloatArray, periods_per_year: float) -> FloatArray: ...


def annualise(volatility: float | FloatArray, periods_per_year: float) -> float | FloatArray:
    """Scale a per-bar volatility to a yearly one by ``sqrt(periods_per_year)``.

    Crypto trades around the clock, so hourly bars have 24 * 365 = 8760 periods a year.
    """
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        msg = f"expected a positive, finite periods_per_year, found {periods_per_year!r}"
        raise ValueError(msg)
    return volatility * math.sqrt(periods_per_year)


def _as_series(values: FloatArray, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        msg = f"expected '{name}' to be a 1-D array, found {array.ndim} dimensions"
        raise ValueError(msg)
    finite = np.isfinite(array)
    if not finite.all():
        index = int(np.argmin(finite))
        msg = f"expected finite '{name}', found {float(array[index])!r} at index {index}"
        raise ValueError(msg)
    return array


def _check_period(period: int, name: str, minimum: int = 1) -> int:
    try:
        value = operator.index(period)
    except TypeError:
        value = None
    if value is None or isinstance(period, bool) or value < minimum:
        msg = f"expected '{name}' to be an integer >= {minimum}, found {period!r}"
        raise ValueError(msg)
    return value


def _check_width(k: float) -> float:
    width = float(k)
    if not (math.isfinite(width) and width >= 0):
        msg = f"expected a finite band width k >= 0, found {k!r}"
        raise ValueError(msg)
    return width


def _check_same_length(**series: FloatArray) -> None:
    lengths = {name: len(array) for name, array in series.items()}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{name}={length}" for name, length in lengths.items())
        msg = f"expected high, low and close of equal length, found {found}"
        raise ValueError(msg)


def _pad_front(tail: FloatArray, length: int) -> FloatArray:
    """Place the values of complete windows at the end of a NaN array of `length`."""
    out = np.full(length, np.nan)
    if len(tail):
        out[length - len(tail) :] = tail
    return out


def _window_sums(x: FloatArray, n: int) -> FloatArray:
    """Return the sum of every complete window of `n` values (length len(x) - n + 1)."""
    if len(x) < n:
        return np.empty(0)
    blocks = np.concatenate([x, np.zeros(-len(x) % n)]).reshape(-1, n)
    prefix = np.cumsum(blocks, axis=1).ravel()
    suffix = np.cumsum(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    end = np.arange(n - 1, len(x))
    start = end - (n - 1)
    aligned = start % n == 0
    return np.where(aligned, prefix[end], suffix[start] + prefix[end])


def _window_m2(x: FloatArray, n: int) -> FloatArray:
    """Return the sum of squared deviations from the mean of every complete window of `n`."""
    if len(x) < n:
        return np.empty(0)
    windows = sliding_window_view(x, n)
    out = np.empty(len(windows))
    step = max(1, _CHUNK_ELEMENTS // n)
    for begin in range(0, len(windows), step):
        chunk = windows[begin : begin + step]
        deviations = chunk - chunk.mean(axis=1, keepdims=True)
        m2 = np.einsum("ij,ij->i", deviations, deviations)
        out[begin : begin + step] = m2 - deviations.sum(axis=1) ** 2 / n
    return np.maximum(out, 0.0)


def _seeded_ema(x: FloatArray, n: int) -> FloatArray:
    """Return the SMA-seeded EMA of `x` (which may be empty or shorter than `n`)."""
    out = np.full(len(x), np.nan)
    if len(x) < n:
        return out
    alpha = 2.0 / (n + 1)
    decay = 1.0 - alpha
    seed = math.fsum(x[:n].tolist()) / n
    out[n - 1] = seed
    out[n:] = _linear_recurrence(alpha * x[n:], decay, seed)
    return out


def _wilder(x: FloatArray, n: int) -> FloatArray:
    """Return Wilder's running mean of `x` from index n-1 on (length len(x) - n + 1)."""
    seed = math.fsum(x[:n].tolist()) / n
    rest = _linear_recurrence(x[n:] / n, (n - 1) / n, seed)
    return np.concatenate([[seed], rest])


def _linear_recurrence(u: FloatArray, decay: float, start: float) -> FloatArray:
    """Solve ``y[t] = decay * y[t-1] + u[t]`` with ``y[-1] = start``, for 0 <= decay < 1.

    Within a block, ``y[j] = d**(j+1) * (start + cumsum(u / d**(k+1))[j])``. Blocks are kept
    short enough that d**length stays above `_MIN_DECAY_POWER`, and the last value of each
    block carries into the next, so the work is O(n) with a loop over blocks only.
    """
    out = np.empty(len(u))
    if decay == 0.0:
        out[:] = u
        return out
    block = max(1, int(math.log(_MIN_DECAY_POWER) / math.log(decay)))
    powers = decay ** np.arange(1, min(block, len(u)) + 1, dtype=np.float64)
    carry = start
    for begin in range(0, len(u), block):
        part = u[begin : begin + block]
        scale = powers[: len(part)]
        values = scale * (carry + np.cumsum(part / scale))
        out[begin : begin + len(part)] = values
        carry = float(values[-1])
    return out
