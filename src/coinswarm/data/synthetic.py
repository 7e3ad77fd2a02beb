"""A deterministic synthetic market: crypto-like bars from a seed, for tests and demos.

The model is a random walk in log price with fat-tailed (Student t) steps whose size follows a
two-state Markov chain, calm and stormy, plus rare jumps and rare flash crashes: a bar whose
low lies 12-30% under its open and whose close wins back part of the fall, followed by a day
of storm. Volume is log-normal, higher in storms and on big moves. Prices are rounded to a
tick so they print as short decimals, and every bar satisfies low <= open, close <= high.

The same arguments give byte-identical bars: all randomness comes from one
`numpy.random.Generator(PCG64(seed))`, drawn in a fixed order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from numpy.random import PCG64, Generator

from coinswarm.data.timefmt import to_ns
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries

__all__ = ["DEFAULT_BARS", "DEFAULT_START", "MarketModel", "synthetic_market", "synthetic_universe"]

DEFAULT_BARS = 2 * 365 * 24
"""Two years of hourly bars."""

DEFAULT_START = datetime(2022, 1, 1, tzinfo=UTC)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketModel:
    """Parameters of the synthetic market. Rates and probabilities are per bar.

    Volatilities are standard deviations of the log return of one hourly bar; for other
    intervals they are scaled by the square root of the interval in hours.
    """

    drift: float = 0.00002
    calm_volatility: float = 0.005
    storm_volatility: float = 0.016
    calm_to_storm: float = 1 / 600
    storm_to_calm: float = 1 / 60
    tail_df: float = 4.0
    jump_probability: float = 0.002
    jump_volatility: float = 0.03
    crashes_per_bar: float = 1 / 5000
    crash_depth: tuple[float, float] = (0.12, 0.30)
    crash_recovery: tuple[float, float] = (0.3, 0.8)
    storm_after_crash: int = 24
    base_volume: float = 800.0
    storm_volume_factor: float = 3.0
    crash_volume_factor: float = 8.0
    price_decimals: int = 2
    volume_decimals: int = 4


@dataclass(frozen=True, slots=True)
class _Spec:
    instrument: str
    bars: int
    start_ns: int
    interval_ns: int
    start_price: float
    model: MarketModel


def _generator(seed: int | tuple[int, ...]) -> Generator:
    return Generator(PCG64(list(seed) if isinstance(seed, tuple) else seed))


def _regimes(rng: Generator, bars: int, model: MarketModel) -> BoolArray:
    """Return True for stormy bars: alternating calm and storm spells of geometric length."""
    storm = np.zeros(bars, dtype=np.bool_)
    position, stormy = 0, False
    while position < bars:
        leave = model.storm_to_calm if stormy else model.calm_to_storm
        length = int(rng.geometric(leave))
        storm[position : position + length] = stormy
        position, stormy = position + length, not stormy
    return storm


def _unit_shocks(rng: Generator, bars: int, model: MarketModel) -> FloatArray:
    """Return fat-tailed shocks with unit variance."""
    df = model.tail_df
    shocks: FloatArray = rng.standard_t(df, bars) / math.sqrt(df / (df - 2))
    return shocks


def _crash_bars(rng: Generator, bars: int, model: MarketModel) -> IntArray:
    """Return the sorted bars that crash: Poisson many, but at least one in a series of 2+."""
    if bars < 2:
        return np.empty(0, dtype=np.int64)
    count = min(max(1, int(rng.poisson(bars * model.crashes_per_bar))), bars - 1)
    chosen = rng.choice(np.arange(1, bars, dtype=np.int64), size=count, replace=False)
    return np.sort(chosen)


def _volatility(storm: BoolArray, spec: _Spec) -> FloatArray:
    scale = math.sqrt(spec.interval_ns / NS_PER_HOUR)
    model = spec.model
    vol: FloatArray = np.where(storm, model.storm_volatility, model.calm_volatility) * scale
    return vol


def _log_returns(
    rng: Generator,
    vol: FloatArray,
    shocks: FloatArray,
    model: MarketModel,
) -> FloatArray:
    bars = len(vol)
    jumping = rng.random(bars) < model.jump_probability
    jumps = np.where(jumping, rng.normal(0.0, model.jump_volatility, bars), 0.0)
    returns: FloatArray = model.drift + vol * shocks + jumps
    return returns


def _round_prices(values: FloatArray, model: MarketModel) -> FloatArray:
    tick = 10.0**-model.price_decimals
    rounded: FloatArray = np.maximum(np.round(values, model.price_decimals), tick)
    return rounded


def _wicks(
    rng: Generator,
    open_: FloatArray,
    close: FloatArray,
    vol: FloatArray,
    model: MarketModel,
) -> tuple[FloatArray, FloatArray]:
    bars = len(vol)
    up = np.abs(rng.normal(0.0, 0.6, bars)) * vol
    down = np.abs(rng.normal(0.0, 0.6, bars)) * vol
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    high = np.maximum(_round_prices(top * np.exp(up), model), top)
    low = np.minimum(_round_prices(bottom * np.exp(-down), model), bottom)
    return high, low


def _volume(
    rng: Generator,
    storm: BoolArray,
    returns: FloatArray,
    vol: FloatArray,
    *,
    model: MarketModel,
    crashes: IntArray,
) -> FloatArray:
    noise = np.exp(rng.normal(0.0, 0.5, len(vol)))
    regime = np.where(storm, model.storm_volume_factor, 1.0)
    surprise = 1.0 + 0.5 * np.abs(returns) / vol  # big moves trade more, as in real markets
    volume = model.base_volume * noise * regime * surprise
    volume[crashes] *= model.crash_volume_factor
    floor = 10.0**-model.volume_decimals
    rounded: FloatArray = np.maximum(np.round(volume, model.volume_decimals), floor)
    return rounded


def _build(rng: Generator, spec: _Spec, storm: BoolArray, shocks: FloatArray) -> BarSeries:
    """Draw one instrument's bars given its regimes and directional shocks."""
    model = spec.model
    crashes = _crash_bars(rng, spec.bars, model)
    storm = storm.copy()
    for bar in crashes.tolist():
        storm[bar : bar + model.storm_after_crash] = True  # a crash leaves a nervous market
    vol = _volatility(storm, spec)
    returns = _log_returns(rng, vol, shocks, model)
    depth = rng.uniform(*model.crash_depth, len(crashes))
    recovery = rng.uniform(*model.crash_recovery, len(crashes))
    returns[crashes] = np.log1p(-depth * (1.0 - recovery))
    close = _round_prices(spec.start_price * np.exp(np.cumsum(returns)), model)
    open_ = np.r_[_round_prices(np.array([spec.start_price]), model), close[:-1]][: spec.bars]
    high, low = _wicks(rng, open_, close, vol, model)
    low[crashes] = np.minimum(_round_prices(open_[crashes] * (1.0 - depth), model), low[crashes])
    volume = _volume(rng, storm, returns, vol, model=model, crashes=crashes)
    ts = spec.start_ns + np.arange(spec.bars, dtype=np.int64) * spec.interval_ns
    return BarSeries(spec.instrument, spec.interval_ns, ts, open_, high, low, close, volume)


def _start_ns(start: datetime | int) -> int:
    return start if isinstance(start, int) else to_ns(start)


def synthetic_market(
    *,
    instrument: str = "SYN-USDT",
    bars: int = DEFAULT_BARS,
    seed: int = 0,
    start: datetime | int = DEFAULT_START,
    interval_ns: int = NS_PER_HOUR,
    start_price: float = 20_000.0,
    model: MarketModel | None = None,
) -> BarSeries:
    """Return a synthetic bar series, identical for identical arguments.

    `start` is the first bar's open time, an aware datetime or UTC nanoseconds. The defaults
    give two years of hourly bars from 2022-01-01 with at least one flash crash.
    """
    model = model or MarketModel()
    if bars < 0 or start_price <= 0:
        msg = f"expected bars >= 0 and start_price > 0, found {bars} and {start_price}"
        raise ValueError(msg)
    spec = _Spec(instrument, bars, _start_ns(start), interval_ns, start_price, model)
    rng = _generator(seed)
    storm = _regimes(rng, bars, spec.model)
    return _build(rng, spec, storm, _unit_shocks(rng, bars, spec.model))


def synthetic_universe(
    instruments: Mapping[str, float],
    *,
    correlation: float = 0.6,
    bars: int = DEFAULT_BARS,
    seed: int = 0,
    start: datetime | int = DEFAULT_START,
    interval_ns: int = NS_PER_HOUR,
    model: MarketModel | None = None,
) -> tuple[BarSeries, ...]:
    """Return one synthetic series per instrument (name -> start price), sharing one market.

    Storms hit all instruments together (as they do in crypto), and the everyday shocks of any
    two instruments have correlation `correlation` (0 for independent directions); measured
    return correlation comes out somewhat lower, because jumps and flash crashes are each
    instrument's own.
    Each instrument draws its own noise, jumps and flash crashes from a seed derived from
    `seed` and its position in `instruments`. For fully independent markets call
    `synthetic_market` with different seeds instead.
    """
    if not 0.0 <= correlation <= 1.0:
        msg = f"expected a correlation between 0 and 1, found {correlation}"
        raise ValueError(msg)
    model = model or MarketModel()
    market = _generator(seed)
    storm = _regimes(market, bars, model)
    common = _unit_shocks(market, bars, model)
    out = []
    for number, (name, price) in enumerate(instruments.items(), start=1):
        rng = _generator((seed, number))
        own = _unit_shocks(rng, bars, model)
        shocks = math.sqrt(correlation) * common + math.sqrt(1.0 - correlation) * own
        spec = _Spec(name, bars, _start_ns(start), interval_ns, price, model)
        out.append(_build(rng, spec, storm, shocks))
    return tuple(out)
