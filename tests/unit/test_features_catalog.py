"""The feature catalogue: names parse to one family each, and every family is honest.

The family checks loop over `feature_families()`, so a family added later (the chart
detectors included) is held to the same contract without a new test: its stream equals its
vectorised form, and its value at bar t does not change when the bars after t are cut off.
A planted peeking family, defined here and never registered, proves the look-ahead check bites.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.data import MarketModel, load_bars, synthetic_market
from coinswarm.data.features import (
    DEFAULT_FEATURES,
    Family,
    FeatureCache,
    FeatureError,
    basic,
    catalog,
    chart,
    feature_families,
    feature_stream,
    feature_values,
    parse_feature,
)
from coinswarm.data.timefmt import to_ns
from coinswarm.domain.bar import Bar
from coinswarm.domain.errors import CoinswarmError
from feature_checks import (
    assert_prefix_invariant,
    assert_stream_matches,
    example_params,
    head,
    small_params,
    stream_values,
    valid_params,
)
from generators import bar_series

FAMILIES = {family.name: family for family in feature_families()}
CASES = [(name, params) for name, family in FAMILIES.items() for params in example_params(family)]
CASE_IDS = [":".join([name, *map(str, params)]) for name, params in CASES]
NAMES = list(FAMILIES)


def params_for(family: Family) -> st.SearchStrategy[tuple[int, ...]]:
    """Draw small parameters, so that short series warm up; invalid draws take a valid default."""
    fallback = small_params(family)
    drawn = st.tuples(*[st.integers(1, 30)] * len(family.params))
    return drawn.map(lambda params: params if valid_params(family, params) else fallback)


@pytest.fixture(scope="module")
def markets():
    calm = synthetic_market(bars=3000, seed=3)
    # Frequent flash crashes and jumps: wide ranges, breakouts and deep drawdowns.
    wild = MarketModel(crashes_per_bar=1 / 300, jump_probability=0.02, storm_to_calm=1 / 200)
    return calm, synthetic_market(bars=3000, seed=11, model=wild, start_price=3.0)


# --- names ------------------------------------------------------------------------------------


def test_every_default_feature_parses_to_itself_and_none_repeats():
    assert 20 <= len(DEFAULT_FEATURES) <= 30
    assert len(set(DEFAULT_FEATURES)) == len(DEFAULT_FEATURES)
    for name in DEFAULT_FEATURES:
        spec = parse_feature(name)
        assert spec.name == name
        assert ":".join([spec.family.name, *map(str, spec.params)]) == name


def test_a_parsed_name_carries_its_family_and_integer_parameters():
    spec = parse_feature("macd_hist:12:26:9")
    assert spec.family is basic.FAMILIES["macd_hist"]
    assert spec.params == (12, 26, 9)
    assert parse_feature("hour").params == ()
    assert parse_feature("rsi:14") == parse_feature("rsi:14")


BAD_NAMES = [
    ("nope:3", ["unknown family 'nope'", "expected one of:", "rsi", "sma_gap"]),
    ("", ["expected a feature name such as 'rsi:14', found ''"]),
    ("rsi", ["expected 1 parameter for rsi (period), found 0"]),
    ("rsi:14:2", ["expected 1 parameter for rsi (period), found 2"]),
    ("sma_gap:10", ["expected 2 parameters for sma_gap (fast, slow), found 1"]),
    ("hour:1", ["expected no parameters for hour, found 1"]),
    ("sma_gap:50:10", ["expected fast < slow, found fast=50 and slow=10"]),
    ("ema_gap:20:20", ["expected fast < slow, found fast=20 and slow=20"]),
    ("macd_hist:26:12:9", ["expected fast < slow, found fast=26 and slow=12"]),
    ("rsi:0", ["expected 'period' to be a positive integer", "found '0'"]),
    ("rsi:x", ["expected 'period' to be a positive integer", "found 'x'"]),
    ("rsi:-3", ["found '-3'"]),
    ("rsi:014", ["no leading zero", "found '014'"]),
    ("rsi:+14", ["found '+14'"]),
    ("rsi: 14", ["found ' 14'"]),
    ("rsi:", ["found ''"]),
    ("vol:1", ["at least 2", "found 1"]),
    ("bb_pctb:1", ["at least 2", "found 1"]),
]


@pytest.mark.parametrize(("name", "fragments"), BAD_NAMES, ids=[n for n, _ in BAD_NAMES])
def test_a_bad_name_raises_one_line_saying_what_was_expected_and_found(name, fragments):
    with pytest.raises(FeatureError) as caught:
        parse_feature(name)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert isinstance(caught.value, CoinswarmError)
    assert isinstance(caught.value, ValueError)


def test_feature_values_and_feature_stream_refuse_bad_names_too(markets):
    with pytest.raises(FeatureError, match="unknown family"):
        feature_values("rsl:14", markets[0])
    with pytest.raises(FeatureError, match="fast < slow"):
        feature_stream("sma_gap:50:10")


def test_the_catalogue_lists_basic_and_chart_families_with_their_docs():
    families = feature_families()
    names = [family.name for family in families]
    assert names == sorted(names)
    assert set(names) == set(basic.FAMILIES) | set(chart.FAMILIES)
    assert {"ret", "rsi", "sma_gap", "macd_hist", "hour", "weekday", "drawdown"} <= set(names)
    for family in families:
        assert ":" not in family.name
        assert family.doc
        assert "\n" not in family.doc
        assert all(family.params)
    assert FAMILIES["macd_hist"].params == ("fast", "slow", "signal")


def test_two_families_under_one_name_are_refused():
    rsi = basic.FAMILIES["rsi"]
    with pytest.raises(FeatureError, match="two families named 'rsi'"):
        catalog._merge(basic.FAMILIES, {"rsi": rsi})
    with pytest.raises(FeatureError, match="family 'rsi' filed under 'momentum'"):
        catalog._merge({"momentum": rsi})


# --- every family: stream equals vectorised, no look-ahead ------------------------------------


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_the_stream_gives_the_vectorised_values(name, params, markets):
    for series in markets:
        assert_stream_matches(FAMILIES[name], params, series)
    values = FAMILIES[name].vectorised(markets[1], params)
    # Not vacuous: the feature takes more than one value once warmed up.
    assert len(np.unique(values[~np.isnan(values)])) >= 2, name


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25)
@given(series=bar_series(max_bars=120), data=st.data())
def test_the_stream_gives_the_vectorised_values_on_generated_bars(name, series, data):
    family = FAMILIES[name]
    params = data.draw(params_for(family), label="params")
    assert_stream_matches(family, params, series)


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_values_on_a_prefix_equal_the_first_values_on_the_whole_series(name, params, markets):
    for series in markets:
        assert_prefix_invariant(FAMILIES[name], params, series, cuts=(0, 1, 57, 777, 2999))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25)
@given(series=bar_series(max_bars=120), data=st.data())
def test_prefix_invariance_holds_on_generated_bars(name, series, data):
    family = FAMILIES[name]
    params = data.draw(params_for(family), label="params")
    k = data.draw(st.integers(0, len(series)), label="k")
    assert_prefix_invariant(family, params, series, cuts=(k,))


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_short_series_give_values_of_the_right_length(name, params, markets):
    family = FAMILIES[name]
    for k in (0, 1, 2):
        values = family.vectorised(head(markets[0], k), params)
        assert values.shape == (k,)
        assert values.dtype == np.float64


def test_real_btc_through_the_march_2020_crash(btc_file):
    bars = load_bars(btc_file)
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 5, 1, tzinfo=UTC)
    series = bars.between(to_ns(start), to_ns(end))
    assert len(series) > 2800
    for name in DEFAULT_FEATURES:
        spec = parse_feature(name)
        assert_stream_matches(spec.family, spec.params, series)
        assert_prefix_invariant(spec.family, spec.params, series, cuts=(1700, 1750))


# --- the look-ahead check catches a peeking family --------------------------------------------


def _next_return(series, _params):
    close = series.close
    out = np.full(len(close), np.nan)
    out[:-1] = np.log(close[1:] / close[:-1])  # the bar after t: the future
    return out


def _against_the_whole_mean(series, _params):
    # Subtle: normalising by a statistic of the whole series leaks every later bar into bar t.
    return series.close / series.close.mean() - 1.0


def _peeking(vectorised) -> Family:
    return Family("peek", (), vectorised, lambda _params: None, "a family that sees the future")


@pytest.mark.parametrize("vectorised", [_next_return, _against_the_whole_mean])
def test_the_prefix_check_catches_a_family_that_peeks(vectorised, markets):
    with pytest.raises(AssertionError, match="on the first 777 of 3000 bars"):
        assert_prefix_invariant(_peeking(vectorised), (), markets[0], cuts=(777,))


# --- the cache --------------------------------------------------------------------------------


def test_the_cache_computes_each_feature_once_and_shares_it_read_only(markets):
    series = markets[0]
    cache = FeatureCache(series, ["rsi:14", "ret:24"])
    assert len(cache) == 2
    assert "rsi:14" in cache
    assert "vol:24" not in cache
    first = cache.values("rsi:14")
    assert cache.values("rsi:14") is first
    assert not first.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        first[100] = 0.0
    np.testing.assert_array_equal(first, feature_values("rsi:14", series))
    cache.values("vol:24")
    assert len(cache) == 3
    assert cache.series is series
    with pytest.raises(FeatureError, match="unknown family"):
        cache.values("rsl:14")


def test_streams_are_independent_objects():
    one, two = feature_stream("ret:1"), feature_stream("ret:1")
    bar = Bar("X", 0, 1.0, 1.0, 1.0, 1.0, 1.0)
    one.update(bar)
    assert one.update(Bar("X", 1, 2.0, 2.0, 2.0, 2.0, 1.0)) == pytest.approx(np.log(2.0))
    assert np.isnan(two.update(bar))


def test_stream_values_helper_feeds_every_bar(markets):
    family = FAMILIES["hour"]
    assert len(stream_values(family, (), head(markets[0], 30))) == 30
