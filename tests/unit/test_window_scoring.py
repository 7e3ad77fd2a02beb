"""Scoring a pattern over a window of a dataset: daily returns pooled equally over instruments."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from coinswarm.data.synthetic import synthetic_market
from coinswarm.domain.errors import DataError
from coinswarm.domain.pattern import Condition, Exit, Pattern, Sample, Side
from coinswarm.evolution.config import ProofThresholds
from coinswarm.evolution.dataset import NS_PER_DAY, Dataset
from coinswarm.evolution.evaluate import evaluate
from coinswarm.evolution.proof import SearchEvidence, judge_pattern
from coinswarm.evolution.scoring import score_window
from coinswarm.evolution.windows import Window

DIP = Pattern((Condition("ret:24", "<", -0.02),), Side.LONG, Exit(12, take_profit=0.03))


@pytest.fixture(scope="module")
def dataset():
    btc = synthetic_market(instrument="BTC-USD", bars=3_000, seed=1)
    eth = synthetic_market(instrument="ETH-USD", bars=2_000, seed=2, start_price=1_500.0)
    return Dataset([btc, eth], ("1h", "4h"))


def test_daily_returns_are_the_instruments_bar_returns_pooled_equally(dataset):
    window = Window(int(dataset.start_ns) + 100 * NS_PER_DAY // 24, dataset.end_ns)
    result = score_window(DIP, dataset, window)
    expected = 0.0
    trades = 0
    for market in dataset.markets("1h"):
        a, b = market.bounds(window.start_ns, window.end_ns)
        alone = evaluate(
            DIP, market.series.open, market.series.close, market.features.values, start=a, end=b
        )
        expected += float(np.sum(alone.bar_returns))
        trades += alone.trades
    assert trades > 5
    assert result.trades == trades
    assert math.isclose(float(np.sum(result.daily)), expected / 2, rel_tol=1e-9)
    assert result.net_return == pytest.approx(math.expm1(expected / 2))
    score = result.score(Sample.OUT_OF_SAMPLE, DIP, dataset, cycle=3)
    assert score.sample is Sample.OUT_OF_SAMPLE
    assert score.instruments == ("BTC-USD", "ETH-USD")
    assert 0 < score.exposure < 1
    assert 0 <= score.max_drawdown < 1


def test_a_pattern_on_4h_bars_trades_the_resampled_series(dataset):
    four_hourly = Pattern(DIP.entry, DIP.side, DIP.exit, timeframe="4h")
    window = Window(dataset.start_ns, dataset.end_ns)
    hourly, coarse = score_window(DIP, dataset, window), score_window(four_hourly, dataset, window)
    assert coarse.bars * 4 == pytest.approx(hourly.bars, abs=8)
    assert coarse.trades != hourly.trades


def test_a_timeframe_outside_the_run_is_refused(dataset):
    daily = Pattern(DIP.entry, DIP.side, DIP.exit, timeframe="1d")
    with pytest.raises(DataError, match="not in this run"):
        score_window(daily, dataset, Window(dataset.start_ns, dataset.end_ns))


def test_the_fingerprint_changes_with_any_bar():
    a = synthetic_market(bars=500, seed=1)
    b = synthetic_market(bars=500, seed=2)
    assert Dataset([a], ("1h",)).fingerprint == Dataset([a], ("1h",)).fingerprint
    assert Dataset([a], ("1h",)).fingerprint != Dataset([b], ("1h",)).fingerprint


SHORT_BREAKOUT = Pattern(
    (Condition("ret:6", ">", 0.01), Condition("rsi:14", ">", 55.0)),
    Side.SHORT,
    Exit(30, take_profit=0.02, stop_loss=0.015),
)


@pytest.mark.parametrize("pattern", [DIP, SHORT_BREAKOUT])
def test_the_daily_record_is_each_instruments_bincount_added_bit_for_bit(dataset, pattern):
    # The record sums only the bars inside trades; every other bar's return is 0, so the sums
    # must be exactly those of a bincount over every bar of each instrument.
    window = Window(int(dataset.start_ns) + 37 * NS_PER_DAY // 24, dataset.end_ns - NS_PER_DAY)
    first_day = window.start_ns // NS_PER_DAY
    n_days = -(-window.end_ns // NS_PER_DAY) - first_day
    expected = np.zeros(n_days)
    for market in dataset.markets("1h"):
        a, b = market.bounds(window.start_ns, window.end_ns)
        alone = evaluate(
            pattern, market.series.open, market.series.close, market.features.values, start=a, end=b
        )
        assert alone.trades > 3
        expected += np.bincount(
            market.days[a:b] - first_day, weights=alone.bar_returns, minlength=n_days
        )
    result = score_window(pattern, dataset, window)
    assert result.daily.tobytes() == (expected / 2).tobytes()


def test_each_instruments_trades_point_into_its_own_window_of_log_returns(dataset):
    window = Window(int(dataset.start_ns) + 200 * NS_PER_DAY // 24, dataset.end_ns)
    result = score_window(DIP, dataset, window)
    markets = {m.series.instrument: m for m in dataset.markets("1h")}
    assert [t.instrument for t in result.per_instrument] == ["BTC-USD", "ETH-USD"]
    for trades in result.per_instrument:
        market = markets[trades.instrument]
        a, b = market.bounds(window.start_ns, window.end_ns)
        assert (trades.start, trades.bars) == (a, b - a)
        close = market.series.close[a:b]
        returns = market.log_returns(trades.start, trades.start + trades.bars)
        np.testing.assert_allclose(returns[1:], np.log(close[1:] / close[:-1]), rtol=0, atol=1e-12)
        assert returns[0] == 0.0
        assert len(trades.entries) > 0
        assert (trades.entries >= 0).all()
        assert (trades.entries + trades.lengths <= trades.bars).all()


def test_a_worker_imports_the_scoring_without_the_store_or_the_proofs_statistics():
    # A pool worker imports the module that defines its function by name; keeping the
    # scoring's module light keeps every worker's start short.
    code = (
        "import sys, coinswarm.evolution.scoring; "
        "print(sorted(m for m in ('arch', 'sqlalchemy', 'coinswarm.evolution.run') "
        "if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


def test_the_out_of_sample_evidence_keeps_the_mean_and_spread_of_each_trade(dataset):
    # What the pattern agent's demotion monitors start from, once the pattern trades.
    halves = (
        Window(dataset.start_ns, dataset.start_ns + 60 * NS_PER_DAY),
        Window(dataset.start_ns + 60 * NS_PER_DAY, dataset.end_ns),
    )
    records = [score_window(DIP, dataset, window) for window in halves]
    outcomes = []
    for record, window in zip(records, halves, strict=True):
        for market in dataset.markets("1h"):
            a, b = market.bounds(window.start_ns, window.end_ns)
            alone = evaluate(
                DIP, market.series.open, market.series.close, market.features.values, start=a, end=b
            )
            outcomes.append(alone.trade_returns)
        assert len(record.trade_returns) == record.trades
    expected = np.concatenate(outcomes)
    assert len(expected) > 10
    search = SearchEvidence(n_trials=50, trial_sharpe_variance=0.5, pbo=0.1, reality_check_p=0.05)
    evidence = judge_pattern(
        DIP.id,
        records,
        search,
        ProofThresholds(),
        markets=dataset.markets("1h"),
        side=1,
        fee_rate=0.006,
        seed=1,
    )
    assert evidence.trade_mean == pytest.approx(float(np.mean(expected)), rel=1e-12)
    assert evidence.trade_std == pytest.approx(float(np.std(expected, ddof=1)), rel=1e-12)
