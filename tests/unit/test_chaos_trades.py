"""Chaos trades: random, seeded, inside their window, and recording only what was known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.data.synthetic import synthetic_market
from coinswarm.domain.errors import DataError
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side
from coinswarm.evolution.chaos import ChaosBatch, chaos_trades
from coinswarm.evolution.dataset import NS_PER_DAY, Dataset
from coinswarm.evolution.evaluate import evaluate
from coinswarm.evolution.windows import Window

HOUR = NS_PER_DAY // 24
FEATURES = ("ret:24", "rsi:14", "vol:24", "drawdown:720", "hour", "breakout_up:20")


def series():
    btc = synthetic_market(instrument="BTC-USD", bars=3_000, seed=1)
    # ETH is listed 25 days later, so some windows hold only a few of its bars.
    eth = synthetic_market(
        instrument="ETH-USD", bars=2_400, seed=2, start=btc.ts[600].item(), start_price=1_500.0
    )
    return btc, eth


@pytest.fixture(scope="module")
def dataset():
    return Dataset(series(), ("1h", "4h"))


def middle(dataset):
    """Days 10 to 100: ends on a day boundary, so 4h bars are whole on both sides of it."""
    return Window(dataset.start_ns + 10 * NS_PER_DAY, dataset.start_ns + 100 * NS_PER_DAY)


def draw(dataset, window, seed, **options):
    options.setdefault("features", FEATURES)
    return chaos_trades(dataset, window, np.random.default_rng(seed), **options)


def located(dataset, batch, i):
    """Return trade i's market and the index of its signal bar."""
    market = next(
        m for m in dataset.markets(batch.timeframe) if m.series.instrument == batch.instrument[i]
    )
    s = int(np.searchsorted(market.series.ts, batch.signal_ns[i]))
    assert market.series.ts[s] == batch.signal_ns[i]
    return market, s


def test_a_seed_gives_one_batch_and_another_seed_another(dataset):
    window = middle(dataset)
    first = draw(dataset, window, 7, count=200)
    assert first.to_json() == draw(dataset, window, 7, count=200).to_json()
    assert first.to_json() != draw(dataset, window, 8, count=200).to_json()
    assert len(first) == 200
    # Every choice is drawn: both sides, every hold, both instruments.
    assert set(first.side.tolist()) == {-1, 1}
    assert set(first.hold.tolist()) == {6, 12, 24, 48, 96}
    assert set(first.instrument.tolist()) == {"BTC-USD", "ETH-USD"}


@pytest.mark.parametrize("timeframe", ["1h", "4h"])
def test_features_are_the_cached_values_at_the_signal_bar(dataset, timeframe):
    batch = draw(dataset, middle(dataset), 3, count=60, timeframe=timeframe, holds=(2, 5))
    assert batch.features == FEATURES
    assert batch.values.shape == (60, len(FEATURES))
    for i in range(len(batch)):
        market, s = located(dataset, batch, i)
        for j, name in enumerate(FEATURES):
            np.testing.assert_equal(batch.values[i, j], market.features.values(name)[s])
    # The window starts 10 days in: drawdown:720 (30 days) is still warming up for some trades.
    assert np.isnan(batch.column("drawdown:720")).any()
    assert not np.isnan(batch.column("hour")).any()


def test_each_outcome_is_the_evaluators_one_shot_trade(dataset):
    window = middle(dataset)
    batch = draw(dataset, window, 11, count=40)
    for i in range(len(batch)):
        market, s = located(dataset, batch, i)
        hold, side = int(batch.hold[i]), Side.LONG if batch.side[i] > 0 else Side.SHORT
        signal = np.zeros(len(market.series))
        signal[s] = 1.0
        once = Pattern((Condition("signal", ">", 0.5),), side, Exit(hold))
        a, b = market.bounds(window.start_ns, window.end_ns)
        lookup = {"signal": signal}.__getitem__
        result = evaluate(once, market.series.open, market.series.close, lookup, start=a, end=b)
        assert result.entries.tolist() == [s + 1]
        assert result.exits.tolist() == [s + 1 + hold]  # left at an open inside the window
        assert math.isclose(batch.net_return[i], result.trade_returns[0], rel_tol=1e-9)


def test_outcomes_follow_the_plans_fee_formulas(dataset):
    batch = draw(dataset, middle(dataset), 5, count=30, fee_rate=0.01)
    for i in range(len(batch)):
        market, s = located(dataset, batch, i)
        entry = market.series.open[s + 1]
        exit_ = market.series.open[s + 1 + batch.hold[i]]
        if batch.side[i] > 0:
            expected = exit_ * 0.99 / (entry * 1.01) - 1
        else:
            expected = entry * 0.99 / (exit_ * 1.01) - 1
        assert batch.net_return[i] == pytest.approx(expected, rel=1e-12, abs=1e-15)


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    start_day=st.integers(0, 100),
    days=st.integers(5, 20),
    timeframe=st.sampled_from(["1h", "4h"]),
)
def test_every_trade_lives_inside_its_window(dataset, seed, start_day, days, timeframe):
    window = Window(
        dataset.start_ns + start_day * NS_PER_DAY,
        dataset.start_ns + (start_day + days) * NS_PER_DAY,
    )
    batch = draw(dataset, window, seed, count=30, timeframe=timeframe, holds=(3, 12, 24))
    for i in range(len(batch)):
        market, s = located(dataset, batch, i)
        exit_bar = s + 1 + int(batch.hold[i])
        assert window.contains(int(market.series.ts[s]))
        assert window.contains(int(market.series.ts[exit_bar]))


@pytest.mark.parametrize("timeframe", ["1h", "4h"])
def test_bars_after_the_window_change_nothing(dataset, timeframe):
    window = middle(dataset)
    whole = draw(dataset, window, 13, count=300, timeframe=timeframe)
    cut = Dataset([s.between(None, window.end_ns) for s in series()], ("1h", "4h"))
    assert cut.end_ns == window.end_ns
    truncated = draw(cut, window, 13, count=300, timeframe=timeframe)
    assert truncated.to_json() == whole.to_json()


def test_a_window_too_short_for_the_longest_hold_is_refused(dataset):
    start = dataset.start_ns + 10 * NS_PER_DAY
    with pytest.raises(DataError, match=r"at most 97 1h bars.*expected at least 98"):
        draw(dataset, Window(start, start + 97 * HOUR), 1)
    assert len(draw(dataset, Window(start, start + 98 * HOUR), 1)) == 50


def test_an_instrument_without_room_for_the_longest_hold_is_left_out(dataset):
    eth_listed = int(dataset.markets("1h")[1].series.ts[0])
    window = Window(dataset.start_ns, eth_listed + 50 * HOUR)
    batch = draw(dataset, window, 2, count=100)
    assert set(batch.instrument.tolist()) == {"BTC-USD"}


def test_json_reads_back_exactly_and_batches_concatenate(dataset):
    window = middle(dataset)
    one, two = draw(dataset, window, 1, count=20), draw(dataset, window, 2, count=30)
    back = ChaosBatch.from_json(one.to_json())
    assert back.to_json() == one.to_json()
    np.testing.assert_array_equal(back.values, one.values)  # NaN where NaN, bit-equal floats
    assert back.net_return.tobytes() == one.net_return.tobytes()
    joined = ChaosBatch.concatenate([one, two])
    assert len(joined) == 50
    np.testing.assert_array_equal(joined.net_return, np.r_[one.net_return, two.net_return])
    assert joined.instrument[20:].tolist() == two.instrument.tolist()
    assert ChaosBatch.concatenate([one]).to_json() == one.to_json()


def test_batches_that_do_not_match_do_not_concatenate(dataset):
    window = middle(dataset)
    hourly = draw(dataset, window, 1, count=5)
    with pytest.raises(DataError, match="one timeframe"):
        ChaosBatch.concatenate([hourly, draw(dataset, window, 1, count=5, timeframe="4h")])
    with pytest.raises(DataError, match="one timeframe"):
        ChaosBatch.concatenate([hourly, draw(dataset, window, 1, count=5, fee_rate=0.001)])
    with pytest.raises(DataError, match="at least one"):
        ChaosBatch.concatenate([])


def test_json_with_unknown_or_missing_fields_is_refused(dataset):
    text = draw(dataset, middle(dataset), 1, count=3).to_json()
    with pytest.raises(DataError, match="expected fields"):
        ChaosBatch.from_json(text[:-1] + ',"extra":1}')
    with pytest.raises(DataError, match="expected fields"):
        ChaosBatch.from_json('{"timeframe":"1h"}')
    with pytest.raises(DataError, match="not JSON"):
        ChaosBatch.from_json("{")
