"""Indicators: hand-computed values, and streaming equal to vectorised on random series."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.data import indicators as ind
from coinswarm.data.indicators import streaming, vectorized

NAN = math.nan
RTOL = 1e-9
# Absolute slack per unit of the series' own scale (its largest magnitude): values that cancel
# to near zero (a MACD line, a flat window's deviation) can only be right to a few ulps of the
# numbers they were computed from.
ATOL_PER_SCALE = 1e-12

common = settings(max_examples=150, deadline=None)


# --- strategies -------------------------------------------------------------------------------


@st.composite
def price_series(draw: st.DrawFn, min_size: int = 0) -> np.ndarray:
    """Draw positive prices: random walks, flat stretches and jumps at any magnitude."""
    scale = 10.0 ** draw(st.integers(-6, 9))
    price = draw(st.floats(1.0, 10.0)) * scale
    tick = scale * 10.0 ** -draw(st.integers(2, 8)) if draw(st.booleans()) else 0.0
    kinds = st.sampled_from(["walk", "flat", "jump"])
    pieces = draw(st.lists(st.tuples(kinds, st.integers(1, 60)), min_size=1, max_size=8))
    prices: list[float] = []
    for kind, length in pieces:
        if kind == "flat":
            prices.extend([price] * length)
            continue
        if kind == "jump":
            moves = [draw(st.floats(-1.5, 1.5))]
        else:
            moves = draw(st.lists(st.floats(-0.03, 0.03), min_size=length, max_size=length))
        for move in moves:
            price *= math.exp(move)
            quantised = round(price / tick) * tick if tick else price
            prices.append(quantised if quantised > 0 else price)
    while len(prices) < min_size:
        prices.extend(prices)
    return np.array(prices, dtype=np.float64)


wild_series = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False),
    max_size=200,
).map(lambda values: np.array(values, dtype=np.float64))

any_series = st.one_of(price_series(), wild_series)
periods = st.integers(1, 40)


@st.composite
def ohlc_bars(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw consistent high, low, close columns around a price series (gaps included)."""
    close = draw(price_series())
    size = len(close)
    spreads = st.lists(st.floats(0.0, 0.05), min_size=size, max_size=size)
    up = np.array(draw(spreads))
    down = np.array(draw(spreads))
    opens = np.concatenate([close[:1], close[:-1]]) * np.exp(draw(st.floats(-0.02, 0.02)))
    high = np.maximum(opens, close) * (1.0 + up)
    low = np.minimum(opens, close) * (1.0 - down)
    return high, low, close


# --- helpers ----------------------------------------------------------------------------------


def stream(indicator: Any, *columns: np.ndarray) -> np.ndarray:
    """Feed the columns bar by bar (as Python floats) and collect every `update` result."""
    update = indicator.update
    rows = zip(*(column.tolist() for column in columns), strict=True)
    return np.array([update(*row) for row in rows], dtype=np.float64)


def scale_of(values: np.ndarray) -> float:
    return float(np.max(np.abs(values))) if len(values) else 1.0


def assert_agree(actual: np.ndarray, expected: np.ndarray, scale: float) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL_PER_SCALE * scale)


def log_returns(close: np.ndarray) -> np.ndarray:
    return np.log(close[1:] / close[:-1])


# --- hand-computed values: a wrong formula fails here -----------------------------------------


def test_sma_known_values():
    np.testing.assert_allclose(ind.sma(np.array([1.0, 2, 3, 4, 5]), 3), [NAN, NAN, 2, 3, 4])


def test_ema_is_seeded_with_the_sma_then_smoothed_with_two_over_n_plus_one():
    # alpha = 0.5: seed (2 + 4 + 6) / 3 = 4, then 0.5 * 8 + 0.5 * 4 = 6, then 0.5 * 12 + 3 = 9.
    values = np.array([2.0, 4, 6, 8, 12])
    np.testing.assert_allclose(ind.ema(values, 3), [NAN, NAN, 4, 6, 9])
    np.testing.assert_allclose(stream(ind.EMA(3), values), [NAN, NAN, 4, 6, 9])


def test_rsi_uses_wilder_smoothing():
    # changes +1, -0.5, +1, -0.5; seed gain 0.5, loss 0.25, then (avg * 1 + x) / 2.
    values = np.array([1.0, 2, 1.5, 2.5, 2])
    expected = [NAN, NAN, 100 * 0.5 / 0.75, 100 * 0.75 / 0.875, 100 * 0.375 / 0.6875]
    np.testing.assert_allclose(ind.rsi(values, 2), expected)
    np.testing.assert_allclose(stream(ind.RSI(2), values), expected)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([1.0, 2, 3, 4], 100.0, id="only-gains-is-100"),
        pytest.param([4.0, 3, 2, 1], 0.0, id="only-losses-is-0"),
        pytest.param([5.0, 5, 5, 5], 50.0, id="flat-is-50"),
    ],
)
def test_rsi_edge_cases(values, expected):
    series = np.array(values)
    assert ind.rsi(series, 3)[-1] == expected
    assert stream(ind.RSI(3), series)[-1] == expected


def test_bollinger_uses_the_population_deviation():
    # mean 2.5, population variance 1.25 (the sample variance would be 5/3).
    bands = ind.bollinger_bands(np.array([1.0, 2, 3, 4]), period=4, k=2.0)
    width = 2 * math.sqrt(1.25)
    np.testing.assert_allclose(bands.middle, [NAN, NAN, NAN, 2.5])
    np.testing.assert_allclose(bands.upper, [NAN, NAN, NAN, 2.5 + width])
    np.testing.assert_allclose(bands.lower, [NAN, NAN, NAN, 2.5 - width])
    live = ind.BollingerBands(4, 2.0)
    for price in (1.0, 2.0, 3.0):
        assert all(math.isnan(field) for field in live.update(price))
    assert live.update(4.0) == pytest.approx((2.5, 2.5 + width, 2.5 - width), rel=1e-15)


def test_atr_true_range_includes_gaps_from_the_previous_close():
    # TR: 2 (high - low on the first bar), 3, 4 (|7 - 11|), 7 (|15 - 8|, a gap up).
    high = np.array([10.0, 12, 11, 15])
    low = np.array([8.0, 9, 7, 13])
    close = np.array([9.0, 11, 8, 14])
    expected = [NAN, 2.5, (2.5 + 4) / 2, (3.25 + 7) / 2]
    np.testing.assert_allclose(ind.atr(high, low, close, 2), expected)
    np.testing.assert_allclose(stream(ind.ATR(2), high, low, close), expected)


def test_macd_known_values():
    # EMA2 = 2, 2, 14/3, 38/9, 182/27 from index 1; EMA3 = 2, 4, 4, 6 from index 2.
    values = np.array([1.0, 3, 2, 6, 4, 8])
    line = [NAN, NAN, 0, 2 / 3, 2 / 9, 20 / 27]
    signal = [NAN, NAN, NAN, 1 / 3, 7 / 27, 47 / 81]
    histogram = [NAN, NAN, NAN, 1 / 3, -1 / 27, 13 / 81]
    result = ind.macd(values, fast=2, slow=3, signal=2)
    for got, want in zip(result, (line, signal, histogram), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    live = stream_rows(ind.MACD(2, 3, 2), values)
    np.testing.assert_allclose(live, np.array([line, signal, histogram]).T, rtol=1e-14, atol=1e-15)


def test_rolling_volatility_is_the_sample_deviation_of_log_returns():
    # log returns 1, 2, -1: std(ddof=1) of [1, 2] is sqrt(0.5), of [2, -1] is sqrt(4.5).
    close = np.array([1.0, math.e, math.e**3, math.e**2])
    expected = [NAN, NAN, math.sqrt(0.5), math.sqrt(4.5)]
    np.testing.assert_allclose(ind.rolling_volatility(close, 2), expected, rtol=1e-14)
    np.testing.assert_allclose(stream(ind.RollingVolatility(2), close), expected, rtol=1e-14)


def test_annualise_scales_by_the_square_root_of_periods():
    assert ind.annualise(0.01, 8760) == pytest.approx(0.01 * math.sqrt(8760))
    np.testing.assert_allclose(ind.annualise(np.array([0.02, NAN]), 4.0), [0.04, NAN])


def stream_rows(indicator: Any, values: np.ndarray) -> np.ndarray:
    """Feed values and collect tuple results as rows."""
    update = indicator.update
    rows = [tuple(update(value)) for value in values.tolist()]
    return np.array(rows, dtype=np.float64).reshape(len(rows), 3)


# --- vectorised against a direct, independent definition --------------------------------------


@common
@given(values=any_series, period=periods)
def test_vectorised_sma_equals_exactly_rounded_window_means(values, period):
    expected = np.full(len(values), NAN)
    for end in range(period - 1, len(values)):
        expected[end] = math.fsum(values[end - period + 1 : end + 1].tolist()) / period
    assert_agree(ind.sma(values, period), expected, scale_of(values))


@common
@given(values=any_series, period=periods, k=st.floats(0.0, 4.0))
def test_vectorised_bollinger_equals_numpy_std_per_window(values, period, k):
    bands = ind.bollinger_bands(values, period, k)
    deviation = np.full(len(values), NAN)
    for end in range(period - 1, len(values)):
        deviation[end] = np.std(values[end - period + 1 : end + 1])
    assert_agree(bands.upper - bands.middle, k * deviation, scale_of(values))
    assert_agree(bands.middle - bands.lower, k * deviation, scale_of(values))


@common
@given(close=price_series(), period=st.integers(2, 40))
def test_vectorised_volatility_equals_numpy_sample_std_of_log_returns(close, period):
    returns = log_returns(close)
    expected = np.full(len(close), NAN)
    for end in range(period, len(close)):
        expected[end] = np.std(returns[end - period : end], ddof=1)
    assert_agree(ind.rolling_volatility(close, period), expected, scale_of(returns))


@common
@given(values=any_series, period=periods)
def test_vectorised_ema_equals_the_plain_recursion(values, period):
    expected = np.full(len(values), NAN)
    if len(values) >= period:
        alpha = 2.0 / (period + 1)
        current = math.fsum(values[:period].tolist()) / period
        expected[period - 1] = current
        for index in range(period, len(values)):
            current = alpha * values[index] + (1.0 - alpha) * current
            expected[index] = current
    assert_agree(ind.ema(values, period), expected, scale_of(values))


# --- streaming equals vectorised --------------------------------------------------------------


@common
@given(values=any_series, period=periods)
def test_streaming_sma_equals_vectorised(values, period):
    assert_agree(stream(ind.SMA(period), values), ind.sma(values, period), scale_of(values))


@common
@given(values=any_series, period=periods)
def test_streaming_ema_equals_vectorised(values, period):
    assert_agree(stream(ind.EMA(period), values), ind.ema(values, period), scale_of(values))


@common
@given(values=any_series, period=periods)
def test_streaming_rsi_equals_vectorised(values, period):
    live = stream(ind.RSI(period), values)
    np.testing.assert_array_equal(np.isnan(live), np.isnan(ind.rsi(values, period)))
    np.testing.assert_allclose(live, ind.rsi(values, period), rtol=RTOL, atol=1e-9)


@common
@given(values=any_series, period=periods, k=st.floats(0.0, 4.0))
def test_streaming_bollinger_equals_vectorised(values, period, k):
    live = stream_rows(ind.BollingerBands(period, k), values)
    research = ind.bollinger_bands(values, period, k)
    scale = scale_of(values)
    for column, expected in enumerate(research):
        assert_agree(live[:, column], expected, scale)
    assert_agree(live[:, 1] - live[:, 0], research.upper - research.middle, scale)


@common
@given(bars=ohlc_bars(), period=periods)
def test_streaming_atr_equals_vectorised(bars, period):
    high, low, close = bars
    live = stream(ind.ATR(period), high, low, close)
    assert_agree(live, ind.atr(high, low, close, period), scale_of(high))


@common
@given(
    values=any_series,
    fast=st.integers(1, 15),
    extra=st.integers(1, 20),
    signal=st.integers(1, 12),
)
def test_streaming_macd_equals_vectorised(values, fast, extra, signal):
    live = stream_rows(ind.MACD(fast, fast + extra, signal), values)
    research = ind.macd(values, fast, fast + extra, signal)
    for column, expected in enumerate(research):
        assert_agree(live[:, column], expected, scale_of(values))


@common
@given(close=price_series(), period=st.integers(2, 40))
def test_streaming_volatility_equals_vectorised(close, period):
    live = stream(ind.RollingVolatility(period), close)
    research = ind.rolling_volatility(close, period)
    assert_agree(live, research, scale_of(log_returns(close)))


def test_streaming_equals_vectorised_across_many_recurrence_blocks():
    """Long series cross the vectorised EMA's block boundaries and the variance recomputes."""
    rng = np.random.default_rng(20240601)
    close = 50_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 20_000)))
    close[5_000:5_300] = close[5_000]
    scale = scale_of(close)
    for period in (2, 12, 26, 200):
        assert_agree(stream(ind.EMA(period), close), ind.ema(close, period), scale)
        assert_agree(stream(ind.SMA(period), close), ind.sma(close, period), scale)
    line = stream_rows(ind.MACD(), close)
    for column, expected in enumerate(ind.macd(close)):
        assert_agree(line[:, column], expected, scale)
    bands = stream_rows(ind.BollingerBands(), close)
    for column, expected in enumerate(ind.bollinger_bands(close)):
        assert_agree(bands[:, column], expected, scale)
    assert_agree(
        stream(ind.RollingVolatility(), close),
        ind.rolling_volatility(close),
        scale_of(log_returns(close)),
    )


def test_moving_averages_do_not_drift_over_a_long_series():
    """After 60,000 bars the streaming SMA is still the exactly rounded window mean.

    A plain running sum would be off by about 1e-12 here, and a global-cumsum SMA by more;
    a crossover strategy compares two such averages bar by bar.
    """
    rng = np.random.default_rng(7)
    close = np.round(60_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, 60_000))), 2)
    period = 20
    exact = np.array(
        [
            math.fsum(close[end - period + 1 : end + 1].tolist()) / period
            for end in range(period - 1, len(close))
        ]
    )
    live = stream(ind.SMA(period), close)[period - 1 :]
    np.testing.assert_allclose(live, exact, rtol=2.3e-16, atol=0)
    np.testing.assert_allclose(ind.sma(close, period)[period - 1 :], exact, rtol=1e-14, atol=0)


def test_flat_window_after_a_volatile_one_has_zero_deviation():
    values = np.array([1e9, -1e9, 1e9, 3.0, 3.0, 3.0, 3.0])
    live = ind.BollingerBands(4, 2.0)
    results = [live.update(value) for value in values.tolist()]
    assert results[-1] == (3.0, 3.0, 3.0)
    assert ind.bollinger_bands(values, 4).upper[-1] == 3.0


# --- the streaming objects' surface -----------------------------------------------------------


def test_value_and_ready_follow_the_warm_up():
    sma = ind.SMA(2)
    assert not sma.ready
    assert math.isnan(sma.value)
    assert math.isnan(sma.update(1.0))
    assert sma.update(3.0) == 2.0
    assert sma.ready
    assert sma.value == 2.0


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: ind.SMA(3), id="sma"),
        pytest.param(lambda: ind.EMA(3), id="ema"),
        pytest.param(lambda: ind.RSI(3), id="rsi"),
        pytest.param(lambda: ind.ATR(3), id="atr"),
        pytest.param(lambda: ind.BollingerBands(3), id="bollinger"),
        pytest.param(lambda: ind.MACD(2, 3, 2), id="macd"),
        pytest.param(lambda: ind.RollingVolatility(3), id="volatility"),
    ],
)
def test_streaming_indicators_are_slotted(make):
    indicator = make()
    assert not hasattr(indicator, "__dict__")
    assert not indicator.ready


def test_public_surface_is_explicit():
    assert set(ind.__all__) == set(streaming.__all__) | set(vectorized.__all__)
    assert all(hasattr(ind, name) for name in ind.__all__)


# --- invalid arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("period", [0, -3, 2.5, True, "14"])
def test_bad_periods_are_refused(period):
    series = np.arange(1.0, 30.0)
    for build in (ind.SMA, ind.EMA, ind.RSI, ind.ATR, ind.BollingerBands):
        with pytest.raises(ValueError, match="expected 'period' to be an integer >= 1"):
            build(period)
    for compute in (ind.sma, ind.ema, ind.rsi, ind.bollinger_bands):
        with pytest.raises(ValueError, match="expected 'period' to be an integer >= 1"):
            compute(series, period)


def test_volatility_needs_two_returns():
    with pytest.raises(ValueError, match=r"integer >= 2, found 1"):
        ind.RollingVolatility(1)
    with pytest.raises(ValueError, match=r"integer >= 2, found 1"):
        ind.rolling_volatility(np.arange(1.0, 9.0), 1)


def test_non_positive_closes_are_refused_by_volatility():
    with pytest.raises(ValueError, match=r"expected positive closes, found 0.0 at index 2"):
        ind.rolling_volatility(np.array([1.0, 2.0, 0.0, 3.0]), 2)
    live = ind.RollingVolatility(2)
    live.update(1.0)
    with pytest.raises(ValueError, match=r"expected a positive close, found -1\.0"):
        live.update(-1.0)


def test_mismatched_ohlc_lengths_are_refused():
    with pytest.raises(ValueError, match="found h=3, lo=2, c=3"):
        ind.atr(np.ones(3), np.ones(2), np.ones(3), 2)


def test_non_finite_values_are_refused_by_the_vectorised_form():
    with pytest.raises(ValueError, match=r"expected finite 'values', found nan at index 1"):
        ind.sma(np.array([1.0, NAN, 3.0]), 2)
    with pytest.raises(ValueError, match="expected 'values' to be a 1-D array"):
        ind.ema(np.ones((2, 2)), 2)


@pytest.mark.parametrize(("fast", "slow"), [(26, 12), (12, 12)])
def test_macd_needs_fast_shorter_than_slow(fast, slow):
    with pytest.raises(ValueError, match=f"expected fast < slow, found fast={fast}"):
        ind.MACD(fast, slow)
    with pytest.raises(ValueError, match=f"expected fast < slow, found fast={fast}"):
        ind.macd(np.arange(1.0, 50.0), fast, slow)


@pytest.mark.parametrize("k", [-1.0, NAN, math.inf])
def test_bad_band_widths_are_refused(k):
    with pytest.raises(ValueError, match="expected a finite band width k >= 0"):
        ind.BollingerBands(20, k)
    with pytest.raises(ValueError, match="expected a finite band width k >= 0"):
        ind.bollinger_bands(np.arange(1.0, 30.0), 20, k)


def test_annualise_refuses_non_positive_periods():
    with pytest.raises(ValueError, match="expected a positive, finite periods_per_year"):
        ind.annualise(0.01, 0)


def test_short_series_are_all_nan():
    short = np.array([1.0, 2.0])
    for result in (
        ind.sma(short, 3),
        ind.ema(short, 3),
        ind.rsi(short, 2),
        ind.atr(short, short, short, 3),
        ind.rolling_volatility(short, 2),
        *ind.bollinger_bands(short, 3),
        *ind.macd(short),
    ):
        assert result.shape == (2,)
        assert np.isnan(result).all()
