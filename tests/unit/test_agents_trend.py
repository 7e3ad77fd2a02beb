"""The trend-following agent on hand-made markets, checked against the vectorised indicators."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from agent_harness import series_from_closes, votes_of
from coinswarm.agents.base import Direction
from coinswarm.agents.trend import TrendAgent, TrendConfig
from coinswarm.data.indicators import vectorized as vec
from generators import bar_series


def zigzag(start, up, down, pairs):
    """Return closes that go up `up` then down `down`, `pairs` times: a trend with pullbacks."""
    closes = [start]
    for _ in range(pairs):
        closes.append(closes[-1] + up)
        closes.append(closes[-1] - down)
    return closes


def expected_confidence(series, config, i):
    close = np.asarray(series.close)
    gap = vec.sma(close, config.fast)[i] - vec.sma(close, config.slow)[i]
    atr = vec.atr(np.asarray(series.high), np.asarray(series.low), close, config.atr_period)[i]
    return min(1.0, abs(gap) / (config.full_confidence_gap * atr))


def test_abstains_until_every_indicator_is_warm():
    votes = votes_of(TrendAgent(), series_from_closes(zigzag(100.0, 1.2, 1.0, 40)))
    assert votes[:49] == [None] * 49  # the slow SMA of 50 bars is the last to warm up
    assert all(vote is not None for vote in votes[49:])


def test_buys_a_rise_with_pullbacks_with_confidence_from_the_gap_in_atrs():
    series = series_from_closes(zigzag(100.0, 1.2, 1.0, 60))
    config = TrendConfig()
    votes = votes_of(TrendAgent(config), series)
    for i in range(49, len(series)):
        vote = votes[i]
        assert vote is not None
        assert vote.direction is Direction.BUY
        assert vote.confidence == pytest.approx(expected_confidence(series, config, i), rel=1e-9)
        assert vote.size_hint == vote.confidence
        assert 0.3 < vote.confidence < 1.0  # a slope of 0.1 a bar against an ATR near 1.1
    assert re.fullmatch(
        r"fast SMA [\d.]+ above slow SMA [\d.]+; momentum \+\d+\.\d\d%; RSI \d+\.\d; "
        r"gap \d+\.\d\d ATR",
        votes[-1].reason,
    )


def test_sells_a_fall_with_rebounds():
    series = series_from_closes(zigzag(200.0, 1.0, 1.2, 60))
    votes = votes_of(TrendAgent(), series)
    assert {vote.direction for vote in votes[49:]} == {Direction.SELL}
    assert "below slow SMA" in votes[-1].reason
    assert "momentum -" in votes[-1].reason


def test_does_not_chase_a_rise_that_is_overbought():
    votes = votes_of(TrendAgent(), series_from_closes([100.0 + i for i in range(80)]))
    for vote in votes[49:]:
        assert (vote.direction, vote.confidence, vote.size_hint) == (Direction.HOLD, 0.0, 0.0)
    assert votes[-1].reason.startswith("uptrend but RSI 100.0 above overbought 70; not chasing")


def test_does_not_sell_into_an_oversold_fall():
    votes = votes_of(TrendAgent(), series_from_closes([200.0 - i for i in range(80)]))
    assert {vote.direction for vote in votes[49:]} == {Direction.HOLD}
    assert votes[-1].reason.startswith("downtrend but RSI 0.0 below oversold 30")


def test_holds_on_a_flat_market():
    votes = votes_of(TrendAgent(), series_from_closes([100.0] * 80))
    assert {vote.direction for vote in votes[49:]} == {Direction.HOLD}
    assert votes[-1].reason == (
        "no confirmed trend: fast SMA 100 level with slow SMA 100; momentum +0.00%; RSI 50.0"
    )


def test_holds_when_momentum_disagrees_with_the_averages():
    # Long rise, then a short dip: the fast SMA is still above the slow one, momentum is not.
    closes = zigzag(100.0, 1.2, 1.0, 40)
    closes += [closes[-1] - 0.5 * (i + 1) for i in range(6)]
    votes = votes_of(TrendAgent(), series_from_closes(closes))
    assert votes[-1].direction is Direction.HOLD
    assert votes[-1].reason.startswith("no confirmed trend: fast SMA")
    assert "above slow SMA" in votes[-1].reason


def test_turns_from_sell_to_buy_through_a_v_shaped_dip_and_reports_the_cross():
    down = zigzag(200.0, 1.0, 1.2, 50)
    closes = down + zigzag(down[-1], 1.2, 1.0, 60)[1:]
    series = series_from_closes(closes)
    votes = votes_of(TrendAgent(), series)
    directions = [vote.direction for vote in votes[49:]]
    first_buy = directions.index(Direction.BUY)
    assert set(directions[:first_buy]) <= {Direction.SELL, Direction.HOLD}
    assert directions[0] is Direction.SELL
    assert set(directions[first_buy:]) == {Direction.BUY}
    close = np.asarray(series.close)
    gap = vec.sma(close, 20) - vec.sma(close, 50)
    cross = next(i for i in range(50, len(gap)) if gap[i] > 0 >= gap[i - 1])
    assert "crossed above" in votes[cross].reason
    assert "crossed above" not in votes[cross + 1].reason


def test_min_momentum_demands_a_stronger_move():
    series = series_from_closes(zigzag(100.0, 1.2, 1.0, 60))  # about +1% in 10 bars
    votes = votes_of(TrendAgent(TrendConfig(min_momentum=0.02)), series)
    assert {vote.direction for vote in votes[49:]} == {Direction.HOLD}


def test_keeps_instruments_apart():
    rising = series_from_closes(zigzag(100.0, 1.2, 1.0, 40), instrument="UP-USD")
    falling = series_from_closes(zigzag(200.0, 1.0, 1.2, 40), instrument="DOWN-USD")
    votes = votes_of(TrendAgent(), rising, falling)
    last_up, last_down = votes[-2], votes[-1]
    assert (last_up.instrument, last_up.direction) == ("UP-USD", Direction.BUY)
    assert (last_down.instrument, last_down.direction) == ("DOWN-USD", Direction.SELL)


@pytest.mark.parametrize(
    "fields",
    [
        {"fast": 50, "slow": 50},
        {"oversold": 70, "overbought": 30},
        {"fast": 0},
        {"overbought": 100},
        {"full_confidence_gap": float("inf")},
        {"min_momentum": -0.01},
        {"window": 3},
    ],
)
def test_config_refuses_bad_values(fields):
    with pytest.raises(ValidationError):
        TrendConfig(**fields)


def test_config_is_frozen():
    with pytest.raises(ValidationError):
        TrendConfig().fast = 5  # type: ignore[misc]


SMALL = TrendConfig(fast=3, slow=8, momentum_period=4, rsi_period=5, atr_period=5)


@settings(max_examples=60, deadline=None)
@given(bar_series(min_bars=10, max_bars=150))
def test_votes_follow_the_rules_on_any_market(series):
    votes = votes_of(TrendAgent(SMALL), series)
    close = np.asarray(series.close)
    gap = vec.sma(close, SMALL.fast) - vec.sma(close, SMALL.slow)
    rsi = vec.rsi(close, SMALL.rsi_period)
    for i, vote in enumerate(votes):
        if i < SMALL.slow - 1:
            assert vote is None
            continue
        assert vote is not None
        momentum = close[i] / close[i - SMALL.momentum_period] - 1.0
        if vote.direction is Direction.BUY:
            assert gap[i] > -1e-9 * close[i]
            assert momentum > 0
            assert rsi[i] <= SMALL.overbought + 1e-9
        elif vote.direction is Direction.SELL:
            assert gap[i] < 1e-9 * close[i]
            assert momentum < 0
            assert rsi[i] >= SMALL.oversold - 1e-9
        else:
            assert vote.confidence == vote.size_hint == 0.0
