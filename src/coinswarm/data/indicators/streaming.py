"""Streaming indicators for trading: one bar in, the current value out, in O(1).

Each class is the twin of a function in `coinswarm.data.indicators.vectorized`, follows the same
conventions (see those docstrings), and gives the same values to within a relative 1e-9 (the
tests prove it on random series and on years of real BTC bars). `update` returns NaN, or a
tuple of NaNs, while the indicator warms up; `value` repeats the last result and `ready` says
whether it is a real number yet.

The hot path is plain float arithmetic on slotted attributes: no numpy, and no loop over the
window except the exact recomputation of a variance described below. Inputs are assumed finite,
as the data layer quarantines bad bars before any strategy sees them; a NaN fed in anyway
poisons the indicator, as it would poison a numpy series.

Numerical care, because BTC trades near 50,000 with tiny variance on quiet hours:

* Window sums are compensated: each update applies the error-free TwoSum transformation, so a
  running sum carries no drift however many bars pass. Over the whole BTC hourly history the
  streaming SMA equals the correctly rounded window mean (`math.fsum`) on every bar.
* Window variances use the sliding Welford update from that compensated mean, and are
  recomputed exactly (two-pass, `math.fsum`) from the ring buffer once every `period` updates,
  which is O(1) amortised, and also at once when the variance collapses by orders of magnitude
  (a volatile bar leaving a quiet window), where the sliding update's rounding would show.
  Market data collapses like that rarely; only a contrived series of ever smaller outliers
  could force the recomputation on many consecutive bars.
"""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "BollingerBands",
    "BollingerValue",
    "MACDValue",
    "RollingVolatility",
]

_NAN = math.nan
# Recompute a variance exactly when it falls below this fraction (per bar of period) of the
# largest value it had since the last exact computation: rounding of the sliding update is
# bounded by a few ulps of that peak per update, so this keeps the relative error below 1e-10.
_COLLAPSE_PER_PERIOD = 1e-5


class BollingerValue(NamedTuple):
    """Bollinger bands at one bar: the SMA, and `k` population deviations either side."""

    middle: float
    upper: float
    lower: float


class MACDValue(NamedTuple):
    """MACD at one bar: the MACD line, its signal line, and their difference."""

    macd: float
    signal: float
    histogram: float


_BOLLINGER_WARMING = BollingerValue(_NAN, _NAN, _NAN)
_MACD_WARMING = MACDValue(_NAN, _NAN, _NAN)


def _check_period(period: int, name: str = "period", minimum: int = 1) -> int:
    if isinstance(period, bool) or not isinstance(period, int) or period < minimum:
        msg = f"expected '{name}' to be an integer >= {minimum}, found {period!r}"
        raise ValueError(msg)
    return period


class SMA:
    """Simple moving average of the last `period` values; the first value is on update `period`.

    The window sum is kept with TwoSum compensation (its rounding error is carried in a second
    float and added back), so it does not drift however many bars pass.
    """

    __slots__ = ("_buffer", "_comp", "_count", "_index", "_period", "_sum", "_value")

    def __init__(self, period: int) -> None:
        self._period = _check_period(period)
        self._buffer = [0.0] * period
        self._index = 0
        self._count = 0
        self._sum = 0.0
        self._comp = 0.0
        self._value = _NAN

    @property
    def value(self) -> float:
        """Return the last average, or NaN while warming up."""
        return self._value

    @property
    def ready(self) -> bool:
        """Return whether `period` values have been seen."""
        return self._count >= self._period

    def update(self, price: float) -> float:
        """Add one value and return the average of the last `period`, or NaN."""
        buffer = self._buffer
        index = self._index
        old = buffer[index]
        buffer[index] = price
        index += 1
        self._index = 0 if index == self._period else index
        # TwoSum twice: delta + delta_err == price - old, then total + total_err == sum + delta.
        delta = price - old
        virtual = delta - price
        delta_err = (price - (delta - virtual)) - (old + virtual)
        total = self._sum
        new_total = total + delta
        virtual = new_total - total
        total_err = (total - (new_total - virtual)) + (delta - virtual)
        self._sum = new_total
        comp = self._comp + (delta_err + total_err)
        self._comp = comp
        self._count += 1
        if self._count < self._period:
            return _NAN
        value = (new_total + comp) / self._period
        self._value = value
        return value


class EMA:
    """Exponential moving average with alpha = 2 / (period + 1), seeded with an SMA.

    The first value, on update `period`, is the mean of the first `period` values; after it,
    ``ema = alpha * value + (1 - alpha) * previous``.
    """

    __slots__ = ("_alpha", "_comp", "_count", "_decay", "_period", "_ready", "_sum", "_value")

    def __init__(self, period: int) -> None:
        self._period = _check_period(period)
        self._alpha = 2.0 / (period + 1)
        self._decay = 1.0 - self._alpha
        self._count = 0
        self._sum = 0.0
        self._comp = 0.0
        self._ready = False
        self._value = _NAN

    @property
    def value(self) -> float:
        """Return the last average, or NaN while warming up."""
        return self._value

    @property
    def ready(self) -> bool:
        """Return whether `period` values have been seen."""
        return self._ready

    def update(self, price: float) -> float:
        """Add one value and return the current average, or NaN."""
        if self._ready:
            value = self._alpha * price + self._decay * self._value
            self._value = value
            return value
        return self._warm_up(price)

    def _warm_up(self, price: float) -> float:
        total = self._sum
        new_total = total + price
        virtual = new_total - total
        self._comp += (total - (new_total - virtual)) + (price - virtual)
        self._sum = new_total
        self._count += 1
        if self._count < self._period:
            return _NAN
        self._ready = True
        self._value = (new_total + self._comp) / self._period
        return self._value


class RSI:
    """Wilder's relative strength index (0 to 100); the first value is on update period + 1.

    The average gain and loss start as the simple means of the first `period` changes and are
    then smoothed as ``avg = (avg * (period - 1) + change) / period``. The RSI is
    ``100 * gain / (gain + loss)``: 100 when the average loss is 0, and 50 (neutral) when both
    averages are 0.
    """

    __slots__ = ("_changes", "_gain", "_loss", "_period", "_previous", "_smoothing", "_value")

    def __init__(self, period: int = 14) -> None:
        self._period = _check_period(period)
        self._smoothing = float(period - 1)
        self._previous = _NAN
        self._changes = -1
        self._gain = 0.0
        self._loss = 0.0
        self._value = _NAN

    @property
    def value(self) -> float:
        """Return the last RSI, or NaN while warming up."""
        return self._value

    @property
    def ready(self) -> bool:
        """Return whether `period` changes have been seen."""
        return self._changes >= self._period

    def update(self, price: float) -> float:
        """Add one price and return the current RSI, or NaN."""
        change = price - self._previous
        self._previous = price
        changes = self._changes + 1
        self._changes = changes
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        period = self._period
        if changes > period:
            avg_gain = (self._gain * self._smoothing + gain) / period
            avg_loss = (self._loss * self._smoothing + loss) / period
        elif changes == 0:
            return _NAN
        else:
            self._gain += gain
            self._loss += loss
            if changes < period:
                return _NAN
            avg_gain = self._gain / period
            avg_loss = self._loss / period
        self._gain = avg_gain
        self._loss = avg_loss
        total = avg_gain + avg_loss
        value = 100.0 * avg_gain / total if total > 0.0 else 50.0
        self._value = value
        return value


class _WindowMoments:
    """Base of the windowed-deviation indicators: mean and squared deviations in O(1).

    `_push` applies the sliding Welford step from a TwoSum-compensated mean. The sum of squared
    deviations `_m2` is then recomputed exactly from the ring buffer every `period` updates, and
    at once whenever it has fallen far below its peak since the last exact computation, so
    rounding never accumulates beyond one window's worth.
    """

    __slots__ = (
        "_buffer",
        "_collapse",
        "_comp",
        "_count",
        "_index",
        "_m2",
        "_peak",
        "_period",
        "_since",
        "_sum",
    )

    def __init__(self, period: int) -> None:
        self._period = period
        self._collapse = min(0.25, period * _COLLAPSE_PER_PERIOD)
        self._buffer = [0.0] * period
        self._index = 0
        self._count = 0
        self._since = 0
        self._sum = 0.0
        self._comp = 0.0
        self._m2 = 0.0
        self._peak = 0.0

    @property
    def ready(self) -> bool:
        """Return whether the window is full, so that the value is real."""
        return self._count >= self._period

    def _push(self, x: float) -> bool:
        """Add one value, dropping the oldest, and return whether the window is full."""
        period = self._period
        buffer = self._buffer
        index = self._index
        old = buffer[index]
        buffer[index] = x
        index += 1
        self._index = 0 if index == period else index
        self._count += 1
        if self._count <= period:
            if self._count < period:
                return False
            self._recompute()
            return True
        total = self._sum
        comp = self._comp
        mean_old = (total + comp) / period
        delta = x - old
        virtual = delta - x
        delta_err = (x - (delta - virtual)) - (old + virtual)
        new_total = total + delta
        virtual = new_total - total
        comp += delta_err + ((total - (new_total - virtual)) + (delta - virtual))
        self._sum = new_total
        self._comp = comp
        mean_new = (new_total + comp) / period
        m2 = self._m2 + delta * ((x - mean_new) + (old - mean_old))
        self._since += 1
        if self._since >= period or m2 < self._peak * self._collapse:
            self._recompute()
            return True
        self._m2 = m2
        self._peak = m2 if m2 > self._peak else self._peak
        return True

    def _recompute(self) -> None:
        buffer = self._buffer
        total = math.fsum(buffer)
        mean = total / self._period
        deviations = [value - mean for value in buffer]
        self._sum = total
        self._comp = 0.0
        self._m2 = self._peak = math.fsum(map(operator.mul, deviations, deviations))
        self._since = 0


class BollingerBands(_WindowMoments):
    """Bollinger bands: the SMA and `k` population (ddof=0) deviations either side.

    The first value is on update `period`; before that, `update` returns a tuple of NaNs.
    """

    __slots__ = ("_k", "_value")

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        super().__init__(_check_period(period))
        width = float(k)
        if not (math.isfinite(width) and width >= 0.0):
            msg = f"expected a finite band width k >= 0, found {k!r}"
            raise ValueError(msg)
        self._k = width
        self._value = _BOLLINGER_WARMING

    @property
    def value(self) -> BollingerValue:
        """Return the last bands, or NaNs while warming up."""
        return self._value

    def update(self, price: float) -> BollingerValue:
        """Add one price and return the current bands, or NaNs."""
        if not self._push(price):
            return _BOLLINGER_WARMING
        period = self._period
        middle = (self._sum + self._comp) / period
        width = self._k * math.sqrt(self._m2 / period)
        value = BollingerValue(middle, middle + width, middle - width)
        self._value = value
        return value


class ATR:
    """Wilder's average true range; the first value is on update `period`.

    The true range is ``max(high - low, |high - previous close|, |low - previous close|)``, and
    ``high - low`` on the first bar. The ATR starts as the mean of the first `period` true
    ranges and is then smoothed as ``atr = (atr * (period - 1) + tr) / period``.
    """

    __slots__ = ("_count", "_period", "_previous_close", "_smoothing", "_sum", "_value")

    def __init__(self, period: int = 14) -> None:
        self._period = _check_period(period)
        self._smoothing = float(period - 1)
        self._previous_close = _NAN
        self._count = 0
        self._sum = 0.0
        self._value = _NAN

    @property
    def value(self) -> float:
        """Return the last ATR, or NaN while warming up."""
        return self._value

    @property
    def ready(self) -> bool:
        """Return whether `period` bars have been seen."""
        return self._count >= self._period

    def update(self, high: float, low: float, close: float) -> float:
        """Add one bar and return the current ATR, or NaN."""
        true_range = high - low
        previous = self._previous_close
        self._previous_close = close
        if self._count:
            # Ternaries rather than max() and abs(): this runs on every bar of every backtest.
            up = high - previous
            up = -up if up < 0.0 else up
            down = low - previous
            down = -down if down < 0.0 else down
            true_range = up if up > true_range else true_range
            true_range = down if down > true_range else true_range
        self._count += 1
        period = self._period
        if self._count > period:
            value = (self._value * self._smoothing + true_range) / period
        else:
            self._sum += true_range
            if self._count < period:
                return _NAN
            value = self._sum / period
        self._value = value
        return value


class MACD:
    """MACD: ``EMA(fast) - EMA(slow)``, its EMA(signal) (seeded with an SMA) and the histogram.

    The MACD line is first real on update `slow`, the signal and histogram on update
    slow + signal - 1; until then those fields are NaN.
    """

    __slots__ = ("_fast", "_signal", "_slow", "_value")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        _check_period(fast, "fast")
        _check_period(slow, "slow")
        _check_period(signal, "signal")
        if fast >= slow:
            msg = f"expected fast < slow, found fast={fast} and slow={slow}"
            raise ValueError(msg)
        self._fast = EMA(fast)
        self._slow = EMA(slow)
        self._signal = EMA(signal)
        self._value = _MACD_WARMING

    @property
    def value(self) -> MACDValue:
        """Return the last MACD values, NaN where still warming up."""
        return self._value

    @property
    def ready(self) -> bool:
        """Return whether the signal line, and so every field, is real."""
        return self._signal.ready

    def update(self, price: float) -> MACDValue:
        """Add one price and return the MACD line, signal and histogram (NaN while warming)."""
        fast = self._fast.update(price)
        slow = self._slow.update(price)
        if not self._slow.ready:
            return _MACD_WARMING
        line = fast - slow
        signal = self._signal.update(line)
        value = MACDValue(line, signal, line - signal)
        self._value = value
        return value


class RollingVolatility(_WindowMoments):
    """Sample standard deviation (ddof=1) of the last `period` log returns, per bar.

    Log returns are ``log(close / previous close)``, so the first value is on update
    period + 1. Not annualised: multiply by ``sqrt(periods_per_year)`` (see `annualise`).
    Closes must be positive.
    """

    __slots__ = ("_denominator", "_previous", "_value")

    def __init__(self, period: int = 20) -> None:
        super().__init__(_check_period(period, minimum=2))
        self._denominator = float(period - 1)
        self._previous = _NAN
        self._value = _NAN

    @property
    def value(self) -> float:
        """Return the last volatility, or NaN while warming up."""
        return self._value

    def update(self, close: float) -> float:
        """Add one close and return the current volatility, or NaN."""
        if not close > 0.0:
            msg = f"expected a positive close, found {close!r}"
            raise ValueError(msg)
        previous = self._previous
        self._previous = close
        if math.isnan(previous) or not self._push(math.log(close / previous)):
            return _NAN
        value = math.sqrt(self._m2 / self._denominator)
        self._value = value
        return value
