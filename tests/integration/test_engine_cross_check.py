"""The event-driven engine against two independent sma-cross implementations on real data.

The issue's cross-check: `coinswarm backtest --strategy sma-cross` on BTC_USDT 1h, fee 10 bps,
no slippage, gives the same trades and final equity (to 0.01%) as a vectorised numpy version
written here, and as the plain-Python reference in tests/reference_sma_cross.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pytest

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.backtest.vectorized import SweepSlippage, sma_cross_trades
from coinswarm.data import load_bars
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.slippage import FixedSlippage
from coinswarm.strategies.sma_cross import SmaCross, SmaCrossConfig
from reference_sma_cross import reference_sma_cross

FEE = 0.001


def numpy_sma_cross(open_, close, fast, slow, fee):
    """Return (final equity, [(entry row, exit row or None)]) of sma-cross, vectorised."""

    def sma(n):
        sums = np.convolve(close, np.ones(n), "valid") / n
        return np.concatenate([np.full(n - 1, np.nan), sums])

    gap = sma(fast) - sma(slow)
    up = (gap[1:] > 0) & (gap[:-1] <= 0)
    down = (gap[1:] < 0) & (gap[:-1] >= 0)
    signal = np.zeros(len(close))
    signal[1:][up] = 1
    signal[1:][down] = -1
    signal[-1] = 0  # a signal on the last bar has no next open to fill at
    # The state after each bar is the last non-zero signal; trades happen where it changes.
    last = np.where(signal != 0, np.arange(len(close)), -1)
    last = np.maximum.accumulate(last)
    state = np.where(last >= 0, signal[np.maximum(last, 0)], -1) > 0
    changes = np.flatnonzero(np.diff(np.concatenate([[False], state]).astype(int)))
    fills = changes + 1  # decided on bar t, filled at the open of bar t+1
    entries, exits = fills[0::2], fills[1::2]
    growth = np.prod(open_[exits] * (1 - fee) / (open_[entries[: len(exits)]] * (1 + fee)))
    equity = 10_000.0 * growth
    if len(entries) > len(exits):
        equity = equity / (open_[entries[-1]] * (1 + fee)) * close[-1]
    pairs = [(int(e), int(x)) for e, x in zip(entries, exits, strict=False)]
    if len(entries) > len(exits):
        pairs.append((int(entries[-1]), None))
    return float(equity), pairs


@pytest.fixture(scope="module")
def btc(btc_file):
    return load_bars(btc_file)


@pytest.fixture(scope="module")
def engine_run(btc):
    config = BacktestConfig(
        fill_model=FillModel(fees=FeeSchedule.flat(Decimal(10)), slippage=FixedSlippage())
    )
    return run_backtest([btc], SmaCross(SmaCrossConfig(fast=20, slow=50)), config)


def test_engine_matches_the_numpy_version_trade_for_trade(btc, engine_run):
    equity, pairs = numpy_sma_cross(btc.open, btc.close, 20, 50, FEE)
    closed = [
        (int(np.searchsorted(btc.ts, t.entry_ts)), int(np.searchsorted(btc.ts, t.exit_ts)))
        for t in engine_run.trades
    ]
    assert closed == [p for p in pairs if p[1] is not None]
    assert len(closed) == 626
    assert float(engine_run.final_equity) == pytest.approx(equity, rel=1e-4)
    assert float(engine_run.final_equity) == pytest.approx(20005.66, abs=0.01)


def test_engine_matches_the_plain_reference_prices_and_equity(btc, engine_run):
    reference = reference_sma_cross(btc.open.tolist(), btc.close.tolist(), 20, 50, FEE)
    assert len(engine_run.trades) == reference.round_trips
    for ours, theirs in zip(engine_run.trades, reference.closed, strict=True):
        assert float(ours.entry_price) == theirs.entry_price
        assert float(ours.exit_price) == theirs.exit_price
        assert float(ours.quantity) == pytest.approx(theirs.quantity, rel=1e-4)
    assert float(engine_run.final_equity) == pytest.approx(reference.final_equity, rel=1e-4)


def test_the_command_line_gives_the_same_answer(btc_file, engine_run):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "coinswarm",
            "backtest",
            "--data",
            str(btc_file),
            "--strategy",
            "sma-cross",
            "--fee-bps",
            "10",
            "--slippage-bps",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    payload = json.loads(done.stdout)
    assert payload["trades"] == 626
    assert payload["final_equity"] == pytest.approx(float(engine_run.final_equity), rel=1e-9)


@pytest.mark.parametrize(("fast", "slow"), [(5, 20), (15, 30), (45, 60), (50, 200)])
def test_the_vectorised_sweep_equals_the_event_driven_engine(btc, fast, slow):
    """15/30 holds an exact tie of the two averages on 2019-01-09 09:00: both must see it."""
    vectorised = sma_cross_trades(btc.open, btc.close, fast, slow, FEE)
    config = BacktestConfig(
        fill_model=FillModel(fees=FeeSchedule.flat(Decimal(10)), slippage=FixedSlippage())
    )
    result = run_backtest([btc], SmaCross(SmaCrossConfig(fast=fast, slow=slow)), config)
    entries = [int(np.searchsorted(btc.ts, t.entry_ts)) for t in result.trades]
    exits = [int(np.searchsorted(btc.ts, t.exit_ts)) for t in result.trades]
    assert entries == vectorised.entry_index[: len(exits)].tolist()
    assert exits == vectorised.exit_index.tolist()
    assert float(result.final_equity) == pytest.approx(vectorised.final_equity, rel=1e-6)


@pytest.mark.parametrize(("fast", "slow"), [(20, 50), (50, 200)])
def test_the_sweep_with_the_slippage_model_equals_the_engine_s_default(btc, fast, slow):
    """The engine's default costs (the slippage model), priced in float64 by the sweep."""
    vectorised = sma_cross_trades(
        btc.open, btc.close, fast, slow, FEE, slippage=SweepSlippage.of(btc)
    )
    config = BacktestConfig(fill_model=FillModel(fees=FeeSchedule.flat(Decimal(10))))
    result = run_backtest([btc], SmaCross(SmaCrossConfig(fast=fast, slow=slow)), config)
    closed = len(result.trades)
    assert closed == vectorised.round_trips
    entries = np.array([float(t.entry_price) for t in result.trades])
    exits = np.array([float(t.exit_price) for t in result.trades])
    # Fill prices are the engine's rounded to the tick (0.01), the sweep's are not.
    np.testing.assert_allclose(entries, vectorised.entry_price[:closed], rtol=0, atol=0.01)
    np.testing.assert_allclose(exits, vectorised.exit_price, rtol=0, atol=0.01)
    assert float(result.final_equity) == pytest.approx(vectorised.final_equity, rel=1e-4)
    frictionless = sma_cross_trades(btc.open, btc.close, fast, slow, FEE)
    assert vectorised.final_equity < frictionless.final_equity
