"""The basic feature families give known values on bars built by hand, in both forms.

Each case states the bars and the values worked out from the definition, so a family that
uses the wrong window (a channel including bar t, a ratio off by one bar) fails here by name.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from coinswarm.data import synthetic_market
from coinswarm.data.features import basic, feature_stream, feature_values, parse_feature
from coinswarm.data.indicators import macd
from coinswarm.data.timefmt import to_ns
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from feature_checks import small_params, stream_values

NAN = math.nan
START = to_ns(datetime(2024, 1, 1, tzinfo=UTC))  # a Monday


def bars(close, *, high=None, low=None, volume=None, ts=None) -> BarSeries:
    """Return a series with the given columns; high and low default to the close."""
    close = np.asarray(close, dtype=np.float64)
    n = len(close)
    stamps = START + np.arange(n, dtype=np.int64) * NS_PER_HOUR if ts is None else ts
    return BarSeries(
        "TEST-USDT",
        NS_PER_HOUR,
        np.asarray(stamps, dtype=np.int64),
        close.copy(),
        close.copy() if high is None else np.asarray(high, dtype=np.float64),
        close.copy() if low is None else np.asarray(low, dtype=np.float64),
        close,
        np.ones(n) if volume is None else np.asarray(volume, dtype=np.float64),
    )


def both_forms(name: str, series: BarSeries) -> np.ndarray:
    """Return the vectorised values of `name`, having checked the stream gives the same."""
    spec = parse_feature(name)
    vectorised = feature_values(name, series)
    streamed = stream_values(spec.family, spec.params, series)
    np.testing.assert_allclose(streamed, vectorised, rtol=1e-12, atol=1e-15)
    return vectorised


def expect(name: str, series: BarSeries, values: list[float]) -> None:
    np.testing.assert_allclose(both_forms(name, series), values, rtol=1e-12, atol=1e-15)


def test_ret_is_the_log_return_over_n_bars():
    series = bars([100.0, 110.0, 121.0, 133.1])
    expect("ret:1", series, [NAN, math.log(1.1), math.log(1.1), math.log(1.1)])
    expect("ret:2", series, [NAN, NAN, math.log(1.21), math.log(1.21)])
    expect("ret:4", series, [NAN] * 4)


def test_vol_is_the_sample_deviation_of_the_last_n_one_bar_log_returns():
    series = bars([100.0, 110.0, 99.0, 108.9])
    up, down = math.log(1.1), math.log(0.9)
    expect(
        "vol:2", series, [NAN, NAN, abs(up - down) / math.sqrt(2), abs(down - up) / math.sqrt(2)]
    )


def test_volume_ratio_is_against_the_mean_including_this_bar_and_nan_on_no_trading():
    series = bars([1.0] * 6, volume=[1.0, 3.0, 0.0, 0.0, 2.0, 0.0])
    expect("volume_ratio:2", series, [NAN, 1.5, 0.0, NAN, 2.0, 0.0])


def test_rsi_is_wilders():
    series = bars([1.0, 2.0, 3.0, 2.0])
    # Gains 1, 1 then a loss of 1: avg gain (1*1 + 0)/2, avg loss (0*1 + 1)/2.
    expect("rsi:2", series, [NAN, NAN, 100.0, 50.0])


def test_moving_average_gaps():
    series = bars([1.0, 2.0, 3.0, 4.0])
    expect("sma_gap:2:3", series, [NAN, NAN, 2.5 / 2 - 1, 3.5 / 3 - 1])
    expect("close_sma:2", series, [NAN, 2 / 1.5 - 1, 3 / 2.5 - 1, 4 / 3.5 - 1])
    # EMA(2) seeds at 1.5 then 2/3*3 + 1/3*1.5 = 2.5, 3.5; EMA(3) seeds at 2 then 3.
    expect("ema_gap:2:3", series, [NAN, NAN, 2.5 / 2 - 1, 3.5 / 3 - 1])


def test_bollinger_pctb_and_nan_on_a_flat_window():
    deviation = math.sqrt(2 / 3)
    expect(
        "bb_pctb:3", bars([1.0, 2.0, 3.0]), [NAN, NAN, (3 - (2 - 2 * deviation)) / (4 * deviation)]
    )
    flat_then_up = bars([5.0, 5.0, 5.0, 6.0])
    mean, deviation = 16 / 3, math.sqrt(2 / 9)
    expect("bb_pctb:3", flat_then_up, [NAN, NAN, NAN, 0.5 + (6 - mean) / (4 * deviation)])


def test_macd_hist_is_the_histogram_over_the_close():
    series = synthetic_market(bars=200, seed=1)
    want = macd(series.close, 3, 7, 4).histogram / series.close
    np.testing.assert_allclose(both_forms("macd_hist:3:7:4", series), want, rtol=1e-12)
    # The histogram starts at slow + signal - 2.
    assert np.isnan(want[:9]).all()
    assert not np.isnan(want[9:]).any()


def test_donchian_uses_the_previous_n_bars_not_this_one():
    high = [10.0, 12.0, 20.0, 13.0]
    low = [8.0, 9.0, 1.0, 10.0]
    close = [9.0, 11.0, 11.0, 13.0]
    series = bars(close, high=high, low=low)
    # Bar 2's channel is bars 0-1 (8 to 12), not its own 1-20; bar 3's is bars 1-2 (1 to 20).
    expect("donchian_pos:2", series, [NAN, NAN, 0.75, 12 / 19])
    # A channel of zero range gives NaN (bars 1 and 2); bar 3 sits at 7.5 in bar 2's 6 to 8.
    narrow = bars([5.0, 5.0, 7.0, 7.5], high=[5.0, 5.0, 8.0, 9.0], low=[5.0, 5.0, 6.0, 7.0])
    expect("donchian_pos:1", narrow, [NAN, NAN, NAN, 0.75])


def test_breakouts_compare_the_close_with_the_previous_n_bars_only():
    high = [30.0, 10.0, 12.0, 16.0, 13.0]
    low = [1.0, 8.0, 9.0, 14.0, 6.0]
    close = [2.0, 9.0, 11.0, 15.0, 7.0]
    series = bars(close, high=high, low=low)
    # Bar 3 closes at 15 above bars 1-2 (highs 10, 12) though bar 0's high of 30 is higher;
    # its own high of 16 does not count. Bar 4 closes at 7, under bars 2-3's lows (9, 14).
    expect("breakout_up:2", series, [NAN, NAN, 0.0, 1.0, 0.0])
    expect("breakout_down:2", series, [NAN, NAN, 0.0, 0.0, 1.0])
    equal = bars([10.0, 10.0, 10.0])
    expect("breakout_up:1", equal, [NAN, 0.0, 0.0])  # equal to the high is not above it
    expect("breakout_down:1", equal, [NAN, 0.0, 0.0])


def test_atr_ratio_is_wilders_atr_over_the_close():
    series = bars([10.0, 11.0, 13.0], high=[11.0, 12.0, 14.0], low=[9.0, 10.0, 12.5])
    # True ranges 2, 2, max(1.5, |14-11|, |12.5-11|) = 3; ATR(2) = 2, then (2*1 + 3)/2.
    expect("atr_ratio:2", series, [NAN, 2 / 11, 2.5 / 13])


def test_drawdown_is_from_the_highest_close_of_the_last_n_bars():
    series = bars([10.0, 12.0, 9.0, 6.0, 8.0])
    expect("drawdown:3", series, [NAN, NAN, -0.25, -0.5, 8 / 9 - 1])


def test_hour_and_weekday_come_from_the_open_time_in_utc():
    moments = [
        datetime(2024, 1, 1, 0, tzinfo=UTC),  # Monday
        datetime(2024, 1, 6, 13, tzinfo=UTC),  # Saturday
        datetime(2024, 1, 7, 23, tzinfo=UTC),  # Sunday
        datetime(1969, 12, 31, 23, tzinfo=UTC),  # Wednesday, before the epoch
    ]
    stamps = sorted(to_ns(moment) for moment in moments)
    series = bars([1.0] * 4, ts=stamps)
    expect("hour", series, [23.0, 0.0, 13.0, 23.0])
    expect("weekday", series, [2.0, 0.0, 5.0, 6.0])


@pytest.mark.parametrize("name", sorted(basic.FAMILIES))
def test_price_features_are_scale_free(name):
    """Prices times 1024 (exact in binary) leave every basic feature exactly as it was."""
    feature = ":".join([name, *map(str, small_params(basic.FAMILIES[name]))])
    series = synthetic_market(bars=300, seed=5)
    scaled = BarSeries(
        series.instrument,
        series.interval_ns,
        series.ts,
        series.open * 1024,
        series.high * 1024,
        series.low * 1024,
        series.close * 1024,
        series.volume,
    )
    np.testing.assert_array_equal(feature_values(feature, scaled), feature_values(feature, series))


def test_a_stream_warms_up_then_gives_numbers():
    stream = feature_stream("sma_gap:2:3")
    series = bars([1.0, 2.0, 3.0])
    values = [stream.update(series.bar(i)) for i in range(3)]
    assert math.isnan(values[0])
    assert math.isnan(values[1])
    assert values[2] == pytest.approx(0.25, rel=1e-15)
