"""Chart-pattern detectors: found on the bar they are confirmed, never earlier, in both forms.

Each pattern is drawn bar by bar from straight price legs, so the confirmation bar is known
by hand (the comments work it out); near misses change one thing and must not fire. The
stream must equal the vectorised form, a prefix must see what the whole series saw, and on a
synthetic market every default detector fires, but on well under 1% of bars.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.data import load_bars, synthetic_market
from coinswarm.data.features.chart import DEFAULT_CHART_FEATURES, FAMILIES
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries

SPREAD = 0.0005  # each bar's high and low sit 5 bps either side of its close


def series(closes):
    """Return hourly bars with these closes, opens equal to closes and a 5 bps high and low."""
    close = np.asarray(closes, dtype=np.float64)
    ts = np.arange(len(close), dtype=np.int64) * NS_PER_HOUR
    return BarSeries(
        "TEST-USDT",
        NS_PER_HOUR,
        ts,
        close.copy(),
        close * (1 + SPREAD),
        close * (1 - SPREAD),
        close.copy(),
        np.ones(len(close)),
    )


def legs(flat, *moves, start=100.0):
    """Return `flat` closes at `start`, then straight legs, each (target, bars to reach it)."""
    closes = [start] * flat
    for target, bars in moves:
        closes.extend(np.linspace(closes[-1], target, bars + 1)[1:].tolist())
    return closes


def upside_down(closes, around=100.0):
    return [2 * around - c for c in closes]


def parse(name):
    family, *params = name.split(":")
    return FAMILIES[family], tuple(int(p) for p in params)


def vectorised(name, bars):
    family, params = parse(name)
    return family.vectorised(bars, params)


def streamed(name, bars):
    family, params = parse(name)
    stream = family.stream(params)
    return np.array([stream.update(bars.bar(i)) for i in range(len(bars))])


def fired(values):
    return np.flatnonzero(values == 1.0).tolist()


def detect(name, closes):
    """Return the bars where `name` fires on `closes`, after checking both forms agree."""
    bars = series(closes)
    values = vectorised(name, bars)
    np.testing.assert_array_equal(streamed(name, bars), values)
    return fired(values)


# Double top, k=3: flat to bar 44, top 110 at 54, trough 104 at 60 (its low 103.948), top 110.5
# at 66 (confirmed at 69), then down 1.05 a bar: 110.5 - 7 * 1.05 = 103.15 at bar 73 is the
# first close under the trough's low. The pattern spans bars 54..73, 19 bars.
DOUBLE_TOP = legs(45, (110, 10), (104, 6), (110.5, 6), (100, 10), (100, 10))
DOUBLE_TOP_AT = 73


def test_double_top_fires_on_the_first_close_below_the_trough():
    assert detect("double_top:3:40:100", DOUBLE_TOP) == [DOUBLE_TOP_AT]


def test_double_bottom_is_the_mirror_and_fires_on_the_first_close_above_the_peak():
    assert detect("double_bottom:3:40:100", upside_down(DOUBLE_TOP)) == [DOUBLE_TOP_AT]
    assert detect("double_top:3:40:100", upside_down(DOUBLE_TOP)) == []
    assert detect("double_bottom:3:40:100", DOUBLE_TOP) == []


def test_a_break_before_the_second_top_is_confirmed_is_reported_at_its_confirmation():
    # The close falls under the trough at bar 67, one bar after the second top; the top is a
    # pivot only once bars 67..69 are in, so the pattern is reported at 69 and not before.
    sharp = legs(45, (110, 10), (104, 6), (110.5, 6), (103, 1), (100, 5), (100, 10))
    assert detect("double_top:3:40:100", sharp) == [69]
    assert detect("double_top:3:40:100", sharp[:69]) == []


def test_the_tops_must_lie_within_the_tolerance():
    # Highs 110.055 and 110.555 differ by 45.4 bps of their mean.
    assert detect("double_top:3:40:46", DOUBLE_TOP) == [DOUBLE_TOP_AT]
    assert detect("double_top:3:40:45", DOUBLE_TOP) == []
    far = legs(45, (110, 10), (104, 6), (112, 6), (100, 10), (100, 10))
    assert detect("double_top:3:40:100", far) == []


def test_the_whole_double_top_must_fit_in_n_bars():
    assert detect("double_top:3:19:100", DOUBLE_TOP) == [DOUBLE_TOP_AT]
    assert detect("double_top:3:18:100", DOUBLE_TOP) == []
    slow = legs(45, (110, 10), (104, 30), (110.5, 30), (100, 10), (100, 10))
    assert detect("double_top:3:40:100", slow) == []


def test_a_double_top_needs_a_neckline_break_and_no_new_high_first():
    no_break = legs(45, (110, 10), (104, 6), (110.5, 6), (104.5, 6), (104.5, 10))
    assert detect("double_top:3:40:100", no_break) == []
    new_high = legs(45, (110, 10), (104, 6), (110.5, 6), (108, 4), (112, 4), (100, 10))
    assert detect("double_top:3:40:100", new_high) == []


def test_a_double_top_needs_a_trough_clearly_below_the_tops():
    # The dip to 109.5 is within 1% of the tops: a flat top, not two.
    shallow = legs(45, (110, 10), (109.5, 6), (110.2, 6), (100, 10), (100, 10))
    assert detect("double_top:3:40:100", shallow) == []


# Head and shoulders, k=3: left shoulder 108 at 72, trough 102 at 77, head 114 at 83, trough
# 102.5 at 89, right shoulder 108.4 at 94 (confirmed at 97), then down 1.24 a bar: the neckline
# is the lower trough's low 101.949, first closed under at 108.4 - 6 * 1.24 = 100.96, bar 100.
HEAD_SHOULDERS = legs(65, (108, 8), (102, 5), (114, 6), (102.5, 6), (108.4, 5), (96, 10))
HEAD_SHOULDERS_AT = 100


def test_head_and_shoulders_fires_on_the_first_close_below_the_lower_trough():
    assert detect("head_shoulders:3:60:100", HEAD_SHOULDERS) == [HEAD_SHOULDERS_AT]
    # Not a double top: the head stands between the shoulders.
    assert detect("double_top:3:60:100", HEAD_SHOULDERS) == []


def test_inverse_head_and_shoulders_is_the_mirror():
    mirrored = upside_down(HEAD_SHOULDERS)
    assert detect("inverse_head_shoulders:3:60:100", mirrored) == [HEAD_SHOULDERS_AT]
    assert detect("head_shoulders:3:60:100", mirrored) == []


def test_head_and_shoulders_near_misses_do_not_fire():
    uneven = legs(65, (108, 8), (102, 5), (114, 6), (102.5, 6), (111, 5), (96, 10))
    low_head = legs(65, (108, 8), (102, 5), (108.6, 6), (102.5, 6), (108.4, 5), (96, 10))
    no_break = legs(65, (108, 8), (102, 5), (114, 6), (102.5, 6), (108.4, 5), (103, 10))
    assert detect("head_shoulders:3:60:100", uneven) == []
    assert detect("head_shoulders:3:60:100", low_head) == []
    assert detect("head_shoulders:3:60:100", no_break) == []
    # Left shoulder at 72, confirmed at 100: 28 bars.
    assert detect("head_shoulders:3:27:100", HEAD_SHOULDERS) == []
    assert detect("head_shoulders:3:28:100", HEAD_SHOULDERS) == [HEAD_SHOULDERS_AT]


def test_head_and_shoulders_is_not_reported_before_the_right_shoulder_is_confirmed():
    sharp = legs(65, (108, 8), (102, 5), (114, 6), (102.5, 6), (108.4, 5), (101, 1), (96, 5))
    # Under the neckline at bar 95, but the right shoulder is a pivot only at 97.
    assert detect("head_shoulders:3:60:100", sharp) == [97]
    assert detect("head_shoulders:3:60:100", sharp[:97]) == []


# Bull flag, pole 10, flag 5: flat at 100 to bar 19, pole up to 106 at bar 29 (+6%), flag down
# to 104.5 at bar 34 (range 105.753 - 104.448, well under half the pole), then 107 at bar 35
# closes above the flag's high.
BULL_FLAG = legs(20, (106, 10), (104.5, 5), (107, 1), (110, 5))
BULL_FLAG_AT = 35


def test_bull_flag_fires_on_the_close_above_the_flag():
    assert detect("bull_flag:10:5:300", BULL_FLAG) == [BULL_FLAG_AT]
    assert detect("bear_flag:10:5:300", BULL_FLAG) == []


def test_bear_flag_is_the_mirror():
    assert detect("bear_flag:10:5:300", upside_down(BULL_FLAG)) == [BULL_FLAG_AT]
    assert detect("bull_flag:10:5:300", upside_down(BULL_FLAG)) == []


def test_flag_near_misses_do_not_fire():
    weak_pole = legs(20, (102.5, 10), (101.9, 5), (103, 1), (104, 5))
    loose_flag = legs(20, (106, 10), (102, 5), (107, 1), (110, 5))  # range 3.3 > 3
    rising_flag = legs(20, (106, 10), (106.5, 5), (107, 1), (110, 5))
    no_breakout = legs(20, (106, 10), (104.5, 5), (105, 6))
    assert detect("bull_flag:10:5:300", BULL_FLAG) == [BULL_FLAG_AT]
    assert detect("bull_flag:10:5:601", BULL_FLAG) == []  # the pole rose 6%, not 6.01%
    for closes in (weak_pole, loose_flag, rising_flag, no_breakout):
        assert detect("bull_flag:10:5:300", closes) == []


# Range breakout, n=24: closes alternate 100 and 100.4 (highs and lows 99.95..100.45, 50 bps of
# the midpoint) to bar 39; bar 40 closes at 101.2 (or 99.0), outside the range.
CHOP = [100.0, 100.4] * 20


def test_range_breakouts_fire_on_the_close_outside_a_narrow_range():
    up = [*CHOP, 101.2, *[100.2] * 10]
    down = [*CHOP, 99.0, *[100.2] * 10]
    assert detect("range_breakout_up:24:100", up) == [40]
    assert detect("range_breakout_down:24:100", up) == []
    assert detect("range_breakout_down:24:100", down) == [40]
    assert detect("range_breakout_up:24:100", down) == []


def test_range_breakout_near_misses_do_not_fire():
    up = [*CHOP, 101.2, *[100.2] * 10]
    assert detect("range_breakout_up:24:49", up) == []  # the range is 50 bps wide
    assert detect("range_breakout_up:24:50", up) == [40]
    inside = [*CHOP, 100.42, *[100.2] * 10]  # below the range's high of 100.4502
    assert detect("range_breakout_up:24:100", inside) == []


@pytest.mark.parametrize(
    ("name", "window"),
    [
        ("double_top:3:40:100", 44),
        ("inverse_head_shoulders:3:60:100", 64),
        ("bear_flag:10:5:300", 17),
        ("range_breakout_up:24:100", 25),
    ],
)
def test_values_are_nan_while_warming_up_then_zero_or_one(name, window):
    values = vectorised(name, series(DOUBLE_TOP))
    assert np.isnan(values[: window - 1]).all()
    assert set(values[window - 1 :].tolist()) <= {0.0, 1.0}
    stream = parse(name)[0].stream(parse(name)[1])
    bars = series(DOUBLE_TOP)
    assert all(math.isnan(stream.update(bars.bar(i))) for i in range(window - 1))
    assert not math.isnan(stream.update(bars.bar(window - 1)))


def test_every_family_is_registered_with_its_parameters_and_checks():
    assert set(FAMILIES) == {
        "double_top",
        "double_bottom",
        "head_shoulders",
        "inverse_head_shoulders",
        "bull_flag",
        "bear_flag",
        "range_breakout_up",
        "range_breakout_down",
    }
    for name, family in FAMILIES.items():
        assert family.name == name
        assert family.doc
    check = FAMILIES["double_top"].check
    assert check is not None
    assert check((3, 7, 100)) is None
    assert check((3, 6, 100)) == "n must be at least 7 for k=3, found 6"
    shoulders = FAMILIES["inverse_head_shoulders"].check
    assert shoulders is not None
    assert shoulders((3, 11, 100)) is None
    assert shoulders((3, 10, 100)) is not None


def test_default_features_name_registered_families_with_valid_parameters():
    assert len(DEFAULT_CHART_FEATURES) == len(FAMILIES)
    for name in DEFAULT_CHART_FEATURES:
        family, params = parse(name)
        assert len(params) == len(family.params)
        assert all(p > 0 for p in params)
        assert family.check is None or family.check(params) is None


# Looser parameters than the defaults, so that every detector fires on a short market.
BUSY = (
    "double_top:3:48:100",
    "double_bottom:3:48:100",
    "head_shoulders:3:72:100",
    "inverse_head_shoulders:3:72:100",
    "bull_flag:8:4:120",
    "bear_flag:8:4:120",
    "range_breakout_up:12:200",
    "range_breakout_down:12:200",
)
MARKET = synthetic_market(bars=1500, seed=5)


@pytest.mark.parametrize("name", BUSY + DEFAULT_CHART_FEATURES)
def test_stream_equals_vectorised_on_a_synthetic_market(name):
    values = vectorised(name, MARKET)
    np.testing.assert_array_equal(streamed(name, MARKET), values)
    if name in BUSY:
        assert fired(values), name  # not vacuous


@pytest.mark.parametrize("name", BUSY)
@settings(max_examples=40)
@given(m=st.integers(min_value=1, max_value=len(MARKET) - 1))
def test_a_prefix_sees_the_first_values_of_the_whole_series(name, m):
    prefix = MARKET.between(end_ns=int(MARKET.ts[m]))
    np.testing.assert_array_equal(vectorised(name, prefix), vectorised(name, MARKET)[:m])


def rate_per_10k(name, bars):
    values = vectorised(name, bars)
    return 10_000 * np.nansum(values) / np.count_nonzero(~np.isnan(values))


@pytest.mark.parametrize("name", DEFAULT_CHART_FEATURES)
def test_default_detectors_fire_sometimes_but_rarely_on_a_synthetic_market(name):
    rate = rate_per_10k(name, synthetic_market(bars=30_000, seed=7))
    assert 0 < rate < 100, (name, rate)


@pytest.fixture(scope="module")
def btc(btc_file):
    return load_bars(btc_file)


@pytest.mark.parametrize("name", DEFAULT_CHART_FEATURES)
def test_default_detectors_fire_sometimes_but_rarely_on_real_btc(name, btc):
    assert 0 < rate_per_10k(name, btc) < 100
    # 2000 hours from 2021-05-14, through the crash of 2021-05-19.
    crash_week = btc.between(1_621_000_000 * 10**9, 1_621_000_000 * 10**9 + 2000 * NS_PER_HOUR)
    np.testing.assert_array_equal(streamed(name, crash_week), vectorised(name, crash_week))
