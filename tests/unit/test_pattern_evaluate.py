"""The vectorised evaluator and the bar-by-bar pattern trader make the same trades.

Features here are given arrays (`x`, `y`), so the semantics are tested apart from any
indicator: the catalogue's own tests hold its vectorised and streaming forms equal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.agents.pattern_trader import PatternTrader, Signal
from coinswarm.domain.bar import Bar
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side
from coinswarm.evolution.evaluate import evaluate

FEE = 0.006


class Replay:
    """A feature stream that replays given values, one per bar."""

    def __init__(self, values):
        self.values = iter(values)

    def update(self, bar):
        return float(next(self.values))


def market(seed: int, n: int):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0, 0.002, n))
    features = {"x": rng.normal(0, 1, n), "y": rng.normal(0, 1, n)}
    features["x"][: rng.integers(0, 5)] = np.nan  # warming up
    return open_, close, features


def bars(open_, close):
    return [
        Bar("X-USD", i * 3600 * 10**9, o, max(o, c), min(o, c), c, 1.0)
        for i, (o, c) in enumerate(zip(open_, close, strict=True))
    ]


def traded(pattern, open_, close, features, start, end):
    """Run the trader over bars [start, end): the replayed features carry the warm-up."""
    trader = PatternTrader(pattern, lambda name: Replay(features[name][start:]), fee_rate=FEE)
    entries, exits, returns = [], [], []
    series = bars(open_, close)
    for i in range(start, end):
        was_holding = trader.holding
        trader.update(series[i])
        if trader.holding and not was_holding:
            entries.append(i)
        if was_holding and not trader.holding:
            exits.append(i)
            returns.append(trader.closed[-1].net_return)
    last = trader.close_out(series[end - 1])
    if last is not None:
        exits.append(end)
        returns.append(last.net_return)
    return entries, exits, returns


conditions = st.builds(
    Condition, st.sampled_from(["x", "y"]), st.sampled_from([">", "<"]), st.floats(-1.5, 1.5)
)
fractions = st.none() | st.floats(0.005, 0.2)
patterns = st.builds(
    Pattern,
    st.lists(conditions, min_size=1, max_size=2).map(tuple),
    st.sampled_from(list(Side)),
    st.builds(
        Exit, st.integers(1, 30), fractions, fractions, st.lists(conditions, max_size=1).map(tuple)
    ),
)


@settings(max_examples=150, deadline=None)
@given(patterns, st.integers(0, 10_000), st.integers(2, 300), st.data())
def test_the_evaluator_and_the_bar_by_bar_trader_make_the_same_trades(pattern, seed, n, data):
    open_, close, features = market(seed, n)
    start = data.draw(st.integers(0, n - 2))
    end = data.draw(st.integers(start + 1, n))
    lookup = features.__getitem__
    result = evaluate(pattern, open_, close, lookup, start=start, end=end, fee_rate=FEE)
    entries, exits, returns = traded(pattern, open_, close, features, start, end)
    assert result.entries.tolist() == entries
    assert result.exits.tolist() == exits
    np.testing.assert_allclose(result.trade_returns, returns, rtol=1e-9, atol=1e-12)
    # A trade's bars sum to its net log return; flat bars are zero.
    assert math.isclose(
        float(np.sum(result.bar_returns)), float(np.sum(np.log1p(returns))), abs_tol=1e-9
    )


def test_a_hand_worked_long_trade_with_its_fees():
    open_ = np.array([100.0, 101.0, 103.0, 106.0, 104.0, 105.0])
    close = np.array([101.0, 102.0, 105.0, 104.0, 105.0, 106.0])
    signal = np.array([0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    pattern = Pattern((Condition("s", ">", 0.5),), Side.LONG, Exit(max_bars=10, take_profit=0.02))
    result = evaluate(pattern, open_, close, {"s": signal}.__getitem__, fee_rate=FEE)
    # Signal on bar 1's close, filled at bar 2's open (103). Closes of 105, 104, 105 stay under
    # the 2% target (105.06); the last bar's 106 reaches it, but no open follows, so the trade
    # is closed at that close, paying the exit fee there.
    assert result.entries.tolist() == [2]
    assert result.exits.tolist() == [6]
    assert result.trade_returns[0] == pytest.approx(106 * (1 - FEE) / (103 * (1 + FEE)) - 1)
    assert result.bar_returns[:2].tolist() == [0.0, 0.0]


def test_take_profit_leaves_at_the_next_open_and_a_new_signal_may_enter_after():
    open_ = np.array([100.0, 100.0, 100.0, 110.0, 112.0, 111.0, 111.0])
    close = np.array([100.0, 100.0, 109.0, 112.0, 111.0, 111.0, 112.0])
    signal = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    pattern = Pattern((Condition("s", ">", 0.5),), Side.LONG, Exit(max_bars=10, take_profit=0.05))
    result = evaluate(pattern, open_, close, {"s": signal}.__getitem__, fee_rate=0.0)
    # Enter at bar 1's open (100); bar 2 closes 9% up: leave at bar 3's open (110). The signal
    # on bar 4's close enters at bar 5's open (111), held to the end (112).
    assert result.entries.tolist() == [1, 5]
    assert result.exits.tolist() == [3, 7]
    np.testing.assert_allclose(result.trade_returns, [0.10, 112 / 111 - 1])


def test_a_signal_on_the_last_bar_never_fills():
    open_ = close = np.array([1.0, 1.0, 1.0])
    signal = np.array([0.0, 0.0, 1.0])
    pattern = Pattern((Condition("s", ">", 0.5),), Side.SHORT, Exit(max_bars=3))
    result = evaluate(pattern, open_, close, {"s": signal}.__getitem__)
    assert result.trades == 0
    assert not result.bar_returns.any()


def test_the_trader_says_enter_and_exit_on_the_deciding_closes():
    open_ = close = np.array([1.0, 1.0, 1.0, 1.0])
    pattern = Pattern((Condition("s", ">", 0.5),), Side.LONG, Exit(max_bars=1))
    trader = PatternTrader(pattern, lambda name: Replay([1.0, 0.0, 0.0, 0.0]), fee_rate=0.0)
    assert [trader.update(b) for b in bars(open_, close)] == [Signal.ENTER, Signal.EXIT, None, None]


def test_a_bad_window_is_refused():
    pattern = Pattern((Condition("s", ">", 0.5),), Side.LONG, Exit(max_bars=1))
    with pytest.raises(ValueError, match="start < end"):
        evaluate(pattern, np.ones(3), np.ones(3), {"s": np.ones(3)}.__getitem__, start=2, end=2)
