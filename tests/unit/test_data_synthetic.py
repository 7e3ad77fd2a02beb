"""The synthetic market: deterministic from its seed, crypto-like, and always valid."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.data import MarketModel, find_gaps, synthetic_market, synthetic_universe
from coinswarm.data.synthetic import DEFAULT_BARS
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries

COLUMNS = ("ts", "open", "high", "low", "close", "volume")


def flash_crashes(series: BarSeries) -> np.ndarray:
    """Return bars whose low is more than 10% under the open and whose close is above the low."""
    fall = series.low / series.open - 1.0
    return np.flatnonzero((fall < -0.10) & (series.close > series.low))


def assert_valid(series: BarSeries) -> None:
    for name in ("open", "high", "low", "close"):
        column = getattr(series, name)
        assert np.isfinite(column).all()
        assert (column > 0).all()
    assert (series.low <= np.minimum(series.open, series.close)).all()
    assert (series.high >= np.maximum(series.open, series.close)).all()
    assert (series.volume > 0).all()
    assert (np.diff(series.ts) == series.interval_ns).all()


@pytest.fixture(scope="module")
def default_market() -> BarSeries:
    return synthetic_market()


def test_same_seed_gives_identical_bytes():
    first, second = synthetic_market(seed=11, bars=3000), synthetic_market(seed=11, bars=3000)
    for name in COLUMNS:
        assert getattr(first, name).tobytes() == getattr(second, name).tobytes()


def test_different_seed_gives_different_bars():
    first, second = synthetic_market(seed=1, bars=500), synthetic_market(seed=2, bars=500)
    assert not np.array_equal(first.close, second.close)


def test_defaults_are_two_years_of_hourly_bars(default_market):
    assert len(default_market) == DEFAULT_BARS == 17_520
    assert default_market.interval_ns == NS_PER_HOUR
    assert default_market.instrument == "SYN-USDT"
    assert default_market.ts[0] == int(datetime(2022, 1, 1, tzinfo=UTC).timestamp()) * 10**9
    assert find_gaps(default_market) == ()


def test_defaults_are_valid_bars(default_market):
    assert_valid(default_market)


def test_defaults_contain_a_flash_crash(default_market):
    assert len(flash_crashes(default_market)) >= 1


def test_volatility_looks_like_crypto(default_market):
    returns = np.diff(np.log(default_market.close))
    annualised = returns.std() * np.sqrt(24 * 365)
    assert 0.3 < annualised < 1.5
    excess_kurtosis = ((returns - returns.mean()) ** 4).mean() / returns.var() ** 2 - 3
    assert excess_kurtosis > 3  # fat tails, as in real hourly crypto returns


def test_volume_rises_on_big_moves(default_market):
    size = np.abs(np.log(default_market.close / default_market.open))
    big = size > np.quantile(size, 0.95)
    assert np.median(default_market.volume[big]) > 1.5 * np.median(default_market.volume[~big])


def test_prices_are_ticks(default_market):
    for name in ("open", "high", "low", "close"):
        column = getattr(default_market, name)
        assert np.array_equal(np.round(column, 2), column)
        assert all(len(repr(value).split(".")[1]) <= 2 for value in column[:200].tolist())


def test_open_continues_from_previous_close(default_market):
    assert np.array_equal(default_market.open[1:], default_market.close[:-1])


def test_start_and_interval_are_honoured():
    series = synthetic_market(bars=10, start=1_000 * 4 * NS_PER_HOUR, interval_ns=4 * NS_PER_HOUR)
    assert series.ts[0] == 1_000 * 4 * NS_PER_HOUR
    assert (np.diff(series.ts) == 4 * NS_PER_HOUR).all()


def test_naive_start_is_refused():
    with pytest.raises(ValueError, match="naive"):
        synthetic_market(bars=5, start=datetime(2022, 1, 1))  # noqa: DTZ001


def test_model_can_switch_crashes_off_mostly():
    calm = MarketModel(jump_probability=0.0, storm_volatility=0.005, crashes_per_bar=0.0)
    series = synthetic_market(bars=2000, model=calm)
    assert len(flash_crashes(series)) == 1  # a series of two bars or more always holds one


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63), bars=st.integers(1, 400), price=st.floats(0.05, 1e5))
def test_any_seed_gives_valid_bars(seed: int, bars: int, price: float) -> None:
    series = synthetic_market(seed=seed, bars=bars, start_price=price)
    assert len(series) == bars
    assert_valid(series)


def test_universe_is_deterministic_and_correlated():
    names = {"AAA-USDT": 100.0, "BBB-USDT": 5.0, "CCC-USDT": 0.5}
    first = synthetic_universe(names, seed=4, bars=5000, correlation=0.8)
    again = synthetic_universe(names, seed=4, bars=5000, correlation=0.8)
    assert [s.instrument for s in first] == list(names)
    for a, b in zip(first, again, strict=True):
        assert a.close.tobytes() == b.close.tobytes()
        assert_valid(a)
    returns = [np.diff(np.log(s.close)) for s in first]
    assert np.corrcoef(returns[0], returns[1])[0, 1] > 0.5
    assert first[1].open[0] == 5.0


def test_universe_without_correlation_is_roughly_independent():
    names = {"AAA-USDT": 100.0, "BBB-USDT": 100.0}
    pair = synthetic_universe(names, seed=9, bars=8000, correlation=0.0)
    returns = [np.diff(np.log(s.close)) for s in pair]
    assert abs(np.corrcoef(returns[0], returns[1])[0, 1]) < 0.1
    assert not np.array_equal(pair[0].close, pair[1].close)


def test_universe_refuses_a_bad_correlation():
    with pytest.raises(ValueError, match="correlation"):
        synthetic_universe({"A-B": 1.0}, correlation=1.5)


def test_zero_bars_is_an_empty_series():
    assert len(synthetic_market(bars=0)) == 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="start_price"):
        synthetic_market(bars=5, start_price=0.0)
