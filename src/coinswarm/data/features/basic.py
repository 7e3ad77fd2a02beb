"""The basic feature families: returns, volatility, volume, trend, bands, channels, calendar.

Each family is a vectorised function over a whole series and a streaming class whose `update`
takes one closed bar in O(1); both give the value at bar t from bars 0..t only, NaN while
warming up, and the tests hold them to the same values. Features are scale-free (returns,
ratios, positions, clock fields), so a threshold learnt on one coin means the same on another.
Gaps and ratios are written as ``(a - b) / b`` rather than ``a / b - 1``: the same number,
without the cancellation that would cost digits when `a` is close to `b`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from coinswarm.data.features._rolling import (
    Delay,
    RollingExtreme,
    RunLength,
    delayed,
    flat_windows,
    rolling_max,
    rolling_min,
)
from coinswarm.data.features.family import Family, FeatureStream, FloatArray
from coinswarm.data.indicators import streaming, vectorized
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries

__all__ = ["FAMILIES"]

_NAN = math.nan
_NS_PER_DAY = 24 * NS_PER_HOUR
# 1970-01-01, day 0 of the epoch, was a Thursday (Monday is 0).
_EPOCH_WEEKDAY = 3
_BOLLINGER_K = 2.0


def _ratio_gap(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    result: FloatArray = (numerator - denominator) / denominator
    return result


# --- returns and volatility -------------------------------------------------------------------


def _ret(series: BarSeries, bars: int) -> FloatArray:
    close = series.close
    return np.log(close / delayed(close, bars))


class _Return:
    __slots__ = ("_closes",)

    def __init__(self, bars: int) -> None:
        self._closes = Delay(bars)

    def update(self, bar: Bar) -> float:
        before = self._closes.push(bar.close)
        return _NAN if math.isnan(before) else math.log(bar.close / before)


def _vol(series: BarSeries, bars: int) -> FloatArray:
    return vectorized.rolling_volatility(series.close, bars)


class _Volatility:
    __slots__ = ("_volatility",)

    def __init__(self, bars: int) -> None:
        self._volatility = streaming.RollingVolatility(bars)

    def update(self, bar: Bar) -> float:
        return self._volatility.update(bar.close)


def _volume_ratio(series: BarSeries, bars: int) -> FloatArray:
    volume = series.volume
    mean = vectorized.sma(volume, bars)
    # Volumes are never negative, so a window sum is exactly zero only when every volume is.
    result: FloatArray = np.divide(volume, mean, out=np.full(len(volume), np.nan), where=mean > 0.0)
    return result


class _VolumeRatio:
    __slots__ = ("_bars", "_mean", "_since_traded")

    def __init__(self, bars: int) -> None:
        self._bars = bars
        self._mean = streaming.SMA(bars)
        # Counted rather than read off the running mean: a compensated sum of a window that
        # has just emptied may keep a residue of a few ulps where the vectorised sum is zero.
        self._since_traded = bars

    def update(self, bar: Bar) -> float:
        mean = self._mean.update(bar.volume)
        self._since_traded = 0 if bar.volume > 0.0 else self._since_traded + 1
        if self._since_traded >= self._bars:
            return _NAN
        return bar.volume / mean


# --- momentum and trend -----------------------------------------------------------------------


def _rsi(series: BarSeries, period: int) -> FloatArray:
    return vectorized.rsi(series.close, period)


class _RSI:
    __slots__ = ("_rsi",)

    def __init__(self, period: int) -> None:
        self._rsi = streaming.RSI(period)

    def update(self, bar: Bar) -> float:
        return self._rsi.update(bar.close)


def _sma_gap(series: BarSeries, fast: int, slow: int) -> FloatArray:
    return _ratio_gap(vectorized.sma(series.close, fast), vectorized.sma(series.close, slow))


def _close_sma(series: BarSeries, period: int) -> FloatArray:
    return _ratio_gap(series.close, vectorized.sma(series.close, period))


def _ema_gap(series: BarSeries, fast: int, slow: int) -> FloatArray:
    return _ratio_gap(vectorized.ema(series.close, fast), vectorized.ema(series.close, slow))


class _AverageGap:
    """(fast - slow) / slow of two averages of the close; `fast` None means the close itself."""

    __slots__ = ("_fast", "_slow")

    def __init__(
        self, fast: streaming.SMA | streaming.EMA | None, slow: streaming.SMA | streaming.EMA
    ) -> None:
        self._fast = fast
        self._slow = slow

    def update(self, bar: Bar) -> float:
        fast = bar.close if self._fast is None else self._fast.update(bar.close)
        slow = self._slow.update(bar.close)
        return (fast - slow) / slow


def _macd_hist(series: BarSeries, fast: int, slow: int, signal: int) -> FloatArray:
    close = series.close
    result: FloatArray = vectorized.macd(close, fast, slow, signal).histogram / close
    return result


class _MACDHistogram:
    __slots__ = ("_macd",)

    def __init__(self, fast: int, slow: int, signal: int) -> None:
        self._macd = streaming.MACD(fast, slow, signal)

    def update(self, bar: Bar) -> float:
        return self._macd.update(bar.close).histogram / bar.close


# --- bands and ranges -------------------------------------------------------------------------


def _bb_pctb(series: BarSeries, period: int) -> FloatArray:
    close = series.close
    bands = vectorized.bollinger_bands(close, period, _BOLLINGER_K)
    width = bands.upper - bands.lower
    flat = flat_windows(close, period)
    result: FloatArray = np.divide(
        close - bands.lower, width, out=np.full(len(close), np.nan), where=~flat
    )
    return result


class _PercentB:
    __slots__ = ("_bands", "_period", "_run")

    def __init__(self, period: int) -> None:
        self._period = period
        self._bands = streaming.BollingerBands(period, _BOLLINGER_K)
        self._run = RunLength()

    def update(self, bar: Bar) -> float:
        _, upper, lower = self._bands.update(bar.close)
        if self._run.push(bar.close) >= self._period:
            return _NAN
        return (bar.close - lower) / (upper - lower)


def _atr_ratio(series: BarSeries, period: int) -> FloatArray:
    close = series.close
    result: FloatArray = vectorized.atr(series.high, series.low, close, period) / close
    return result


class _ATRRatio:
    __slots__ = ("_atr",)

    def __init__(self, period: int) -> None:
        self._atr = streaming.ATR(period)

    def update(self, bar: Bar) -> float:
        return self._atr.update(bar.high, bar.low, bar.close) / bar.close


# --- channels: the previous `bars` bars, not this one -----------------------------------------


def _channel(series: BarSeries, bars: int) -> tuple[FloatArray, FloatArray]:
    """Return the highest high and lowest low of bars t-bars..t-1, at each t."""
    return delayed(rolling_max(series.high, bars), 1), delayed(rolling_min(series.low, bars), 1)


def _donchian_pos(series: BarSeries, bars: int) -> FloatArray:
    top, bottom = _channel(series, bars)
    width = top - bottom
    out = np.full(len(series), np.nan)
    result: FloatArray = np.divide(series.close - bottom, width, out=out, where=width > 0.0)
    return result


def _breakout_up(series: BarSeries, bars: int) -> FloatArray:
    top, _ = _channel(series, bars)
    return np.where(np.isnan(top), np.nan, series.close > top)


def _breakout_down(series: BarSeries, bars: int) -> FloatArray:
    _, bottom = _channel(series, bars)
    return np.where(np.isnan(bottom), np.nan, series.close < bottom)


class _Channel:
    """A feature of this bar's close against the channel of the previous `bars` bars."""

    __slots__ = ("_bottom", "_position", "_top")

    def __init__(self, bars: int, position: Callable[[float, float, float], float]) -> None:
        self._top = RollingExtreme(bars, maximum=True)
        self._bottom = RollingExtreme(bars, maximum=False)
        self._position = position

    def update(self, bar: Bar) -> float:
        # Read the channel before this bar joins it.
        top, bottom = self._top.value, self._bottom.value
        self._top.push(bar.high)
        self._bottom.push(bar.low)
        if math.isnan(top):
            return _NAN
        return self._position(bar.close, top, bottom)


def _position_in(close: float, top: float, bottom: float) -> float:
    return (close - bottom) / (top - bottom) if top > bottom else _NAN


def _above(close: float, top: float, _bottom: float) -> float:
    return 1.0 if close > top else 0.0


def _below(close: float, _top: float, bottom: float) -> float:
    return 1.0 if close < bottom else 0.0


def _drawdown(series: BarSeries, bars: int) -> FloatArray:
    return _ratio_gap(series.close, rolling_max(series.close, bars))


class _Drawdown:
    __slots__ = ("_peak",)

    def __init__(self, bars: int) -> None:
        self._peak = RollingExtreme(bars, maximum=True)

    def update(self, bar: Bar) -> float:
        peak = self._peak.push(bar.close)
        return (bar.close - peak) / peak


# --- calendar ---------------------------------------------------------------------------------


def _hour(series: BarSeries) -> FloatArray:
    return ((series.ts // NS_PER_HOUR) % 24).astype(np.float64)


def _weekday(series: BarSeries) -> FloatArray:
    return ((series.ts // _NS_PER_DAY + _EPOCH_WEEKDAY) % 7).astype(np.float64)


class _Hour:
    __slots__ = ()

    def update(self, bar: Bar) -> float:
        return float(bar.ts // NS_PER_HOUR % 24)


class _Weekday:
    __slots__ = ()

    def update(self, bar: Bar) -> float:
        return float((bar.ts // _NS_PER_DAY + _EPOCH_WEEKDAY) % 7)


# --- the catalogue ----------------------------------------------------------------------------


def _fast_below_slow(params: tuple[int, ...]) -> str | None:
    fast, slow = params[0], params[1]
    return None if fast < slow else f"expected fast < slow, found fast={fast} and slow={slow}"


def _at_least_two(params: tuple[int, ...]) -> str | None:
    if params[0] >= 2:
        return None
    return f"expected a window of at least 2 bars (a deviation needs two), found {params[0]}"


def _family(
    name: str,
    params: tuple[str, ...],
    vectorised: Callable[..., FloatArray],
    stream: Callable[..., FeatureStream],
    *,
    doc: str,
    check: Callable[[tuple[int, ...]], str | None] | None = None,
) -> Family:
    """Build a family from forms that take the parameters as separate arguments."""
    return Family(
        name,
        params,
        lambda series, values: vectorised(series, *values),
        lambda values: stream(*values),
        doc,
        check,
    )


def _sma_pair(fast: int, slow: int) -> _AverageGap:
    return _AverageGap(streaming.SMA(fast), streaming.SMA(slow))


def _ema_pair(fast: int, slow: int) -> _AverageGap:
    return _AverageGap(streaming.EMA(fast), streaming.EMA(slow))


def _close_over_sma(period: int) -> _AverageGap:
    return _AverageGap(None, streaming.SMA(period))


def _channel_stream(position: Callable[[float, float, float], float]) -> Callable[[int], _Channel]:
    return lambda bars: _Channel(bars, position)


_BARS = ("bars",)
_PERIOD = ("period",)
_PAIR = ("fast", "slow")

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        _family("ret", _BARS, _ret, _Return, doc="log(close / close `bars` bars before)"),
        _family(
            "vol",
            _BARS,
            _vol,
            _Volatility,
            doc="sample deviation of the last `bars` one-bar log returns (per bar)",
            check=_at_least_two,
        ),
        _family(
            "volume_ratio",
            _BARS,
            _volume_ratio,
            _VolumeRatio,
            doc="volume / mean volume of the last `bars` bars, this one included",
        ),
        _family("rsi", _PERIOD, _rsi, _RSI, doc="Wilder RSI of the close, 0 to 100"),
        _family(
            "sma_gap",
            _PAIR,
            _sma_gap,
            _sma_pair,
            doc="SMA(fast) / SMA(slow) - 1 of the close",
            check=_fast_below_slow,
        ),
        _family("close_sma", _PERIOD, _close_sma, _close_over_sma, doc="close / SMA(period) - 1"),
        _family(
            "ema_gap",
            _PAIR,
            _ema_gap,
            _ema_pair,
            doc="EMA(fast) / EMA(slow) - 1 of the close",
            check=_fast_below_slow,
        ),
        _family(
            "bb_pctb",
            _PERIOD,
            _bb_pctb,
            _PercentB,
            doc="Bollinger %b, k=2: (close - lower) / (upper - lower); NaN on a flat window",
            check=_at_least_two,
        ),
        _family(
            "macd_hist",
            ("fast", "slow", "signal"),
            _macd_hist,
            _MACDHistogram,
            doc="MACD histogram / close",
            check=_fast_below_slow,
        ),
        _family(
            "donchian_pos",
            _BARS,
            _donchian_pos,
            _channel_stream(_position_in),
            doc="where the close sits in the high-low channel of the previous `bars` bars, 0-1",
        ),
        _family(
            "breakout_up",
            _BARS,
            _breakout_up,
            _channel_stream(_above),
            doc="1 if the close is above the highest high of the previous `bars` bars, else 0",
        ),
        _family(
            "breakout_down",
            _BARS,
            _breakout_down,
            _channel_stream(_below),
            doc="1 if the close is below the lowest low of the previous `bars` bars, else 0",
        ),
        _family("atr_ratio", _PERIOD, _atr_ratio, _ATRRatio, doc="Wilder ATR(period) / close"),
        _family("hour", (), _hour, _Hour, doc="UTC hour of the bar's open time, 0 to 23"),
        _family("weekday", (), _weekday, _Weekday, doc="UTC weekday of the bar's open, 0=Monday"),
        _family(
            "drawdown",
            _BARS,
            _drawdown,
            _Drawdown,
            doc="close / highest close of the last `bars` bars (this one included) - 1",
        ),
    )
}
"""The basic families by name."""
