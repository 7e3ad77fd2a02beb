"""The committee as a whole sees no future: its verdicts on a prefix of the data equal the
first verdicts it reaches on all of it (the agents are checked one by one elsewhere)."""

from __future__ import annotations

import pytest

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.data import synthetic_market, synthetic_universe
from coinswarm.strategies.committee import CommitteeStrategy
from verdict_tape import VerdictTape


def verdicts(market):
    """Return every verdict of a run, as its journal received them."""
    tape = VerdictTape()
    run_backtest(market, CommitteeStrategy(), BacktestConfig(), journal=tape)
    return tape.verdicts


@pytest.mark.parametrize("seed", [1, 2])
def test_verdicts_on_a_prefix_equal_the_first_verdicts_on_the_whole(seed):
    series = synthetic_market(instrument="BTC-USDT", bars=2500, seed=seed)
    whole = verdicts([series])
    assert len(whole) == len(series)
    for cut in (300, 1700):
        prefix = verdicts([series.between(None, int(series.ts[cut]))])
        assert whole[:cut] == prefix
        assert any(v.direction for v in prefix)


def test_the_same_holds_across_two_instruments():
    market = synthetic_universe({"BTC-USDT": 30_000.0, "ETH-USDT": 2_000.0}, bars=1500, seed=4)
    whole = verdicts(list(market))
    cut_ts = int(market[0].ts[900])
    prefix = verdicts([s.between(None, cut_ts) for s in market])
    assert whole[: len(prefix)] == prefix
