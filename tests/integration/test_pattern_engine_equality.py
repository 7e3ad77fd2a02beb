"""The vectorised pattern evaluator against the event-driven engine, trade for trade.

`evolution.evaluate` scores thousands of candidate patterns a second in research; the engine is
what trades. Here a seeded random sample of long patterns (1-3 entry conditions over
DEFAULT_FEATURES, thresholds at empirical quantiles so they trigger, random take-profit,
stop-loss, time limit and sometimes an exit condition) goes through both, on ~3,000 synthetic
hourly bars and on four months of real BTC-USDT. The engine trades each one all-in through
`tests/pattern_strategy.py` (a `PatternTrader` on the catalogue's streaming features, market
orders, the evaluator's 60 bps fee, no slippage, no risk limits), so its fills sit exactly at
the bars' opens. Long only: the engine trades spot, which cannot short; short patterns are
held to the bar-by-bar trader alone (tests/unit/test_pattern_evaluate.py).

What must agree:

* every fill: the engine's buys are at the bars `Evaluation.entries` names and its sells at
  `Evaluation.exits`, at exactly those bars' opens;
* a trade still open at the end: the engine leaves it open (it marks it at the last close, with
  no exit fee), the evaluator closes it at the last close paying the exit fee. Its entry bar
  must agree, the evaluator's exit must be the end of the series, and its return must equal the
  engine's position valued at the last close less the exit fee;
* each trade's net return, read off the engine's fills (what the sell brought in net of its fee
  over what the buy cost with its fee), within RETURN_RTOL of `trade_returns`;
* the account: the engine's final equity against the evaluator's trades compounded from the
  initial cash, within what the engine's size rounding can move it (`dust_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from numpy.random import PCG64, Generator

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.backtest.result import BacktestResult
from coinswarm.data import load_bars
from coinswarm.data.features import DEFAULT_FEATURES, FeatureCache
from coinswarm.data.synthetic import synthetic_market
from coinswarm.data.timefmt import to_ns
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.costs import BPS, FeeSchedule, FillModel
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.order import OrderSide
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side
from coinswarm.domain.slippage import FixedSlippage
from coinswarm.evolution.evaluate import DEFAULT_FEE_RATE, Evaluation, evaluate
from pattern_strategy import PatternStrategy

FEE_BPS = Decimal(60)
FEE = DEFAULT_FEE_RATE
SYNTHETIC_BARS = 3_000
SYNTHETIC_CANDIDATES = 25
REAL_CANDIDATES = 10
SEED = 13
# Both sides compute the same price ratio, exit * (1 - f) / (entry * (1 + f)). The engine's is
# exact: Decimal from its fills, to 28 digits, with the quantity (rounded down to the size
# increment) cancelling out of the ratio, so size rounding never reaches a trade's return. The
# evaluator's is float64: the expm1 of the difference of two running sums of per-bar log
# returns over the whole window, good to a few ulps of the larger sum. That sum is the log of
# the account's growth, up to ~20 for a candidate that pays its fees 1,500 times (one ulp of 20
# is 3.6e-15). So the error is absolute, not relative: measured at most 6.2e-15 over 77,348
# trades of 480 candidates (this sample and wider runs on other seeds and years). A relative
# bound alone fails on returns near zero (2.2e-9 on a return of a few millionths), hence both.
RETURN_RTOL = 1e-9
RETURN_ATOL = 1e-13
# The evaluator has no minimum order. A candidate that trades every other bar pays 1.2% in
# fees 1,500 times in 3,000 bars and grinds its account down by e^-18: from a billion that
# still leaves coins to trade, and the instrument's minimum notional is lifted so the engine
# does not refuse the small orders at the end. The cash the size rounding leaves out of each
# trade is bounded (`dust_bound`) whatever the account's size.
INITIAL_CASH = Decimal(10**9)


def costs(instrument: str) -> BacktestConfig:
    """The evaluator's terms: its fee on every fill, no slippage, no risk limits (risk None),
    no minimum order."""
    assert float(FEE_BPS * BPS) == FEE
    fill_model = FillModel(fees=FeeSchedule.flat(FEE_BPS), slippage=FixedSlippage())
    return BacktestConfig(
        initial_cash=INITIAL_CASH,
        fill_model=fill_model,
        instruments={instrument: instrument_from_symbol(instrument, min_notional=Decimal(0))},
        risk=None,
    )


# --- drawing candidates ----------------------------------------------------------------------


def threshold(values: np.ndarray, level: float) -> float:
    """Return a threshold near the `level` quantile of `values`, clear of every value.

    The engine reads features from their streams, the evaluator from whole arrays; the
    catalogue holds the two forms equal to 1e-9, not to the bit. A threshold on a value the
    feature takes (an RSI of exactly 100, a Donchian position of exactly 1) would let that last
    bit decide a trade, so it is put in the middle of the widest gap between distinct values
    near the quantile.
    """
    distinct = np.unique(values[np.isfinite(values)])
    if len(distinct) < 2:
        raise ValueError("expected a feature that takes at least two values")
    rank = int(np.searchsorted(distinct, np.quantile(distinct, level)))
    lo, hi = max(rank - 10, 0), min(rank + 10, len(distinct) - 1)
    gaps = np.diff(distinct[lo : hi + 1])
    widest = lo + int(np.argmax(gaps))
    return float((distinct[widest] + distinct[widest + 1]) / 2)


def condition(rng: Generator, cache: FeatureCache) -> Condition:
    """Draw a condition that holds on between a fifth and four fifths of the warm bars."""
    name = str(rng.choice(DEFAULT_FEATURES))
    op = ">" if rng.random() < 0.5 else "<"
    holds = rng.uniform(0.2, 0.8)
    level = 1.0 - holds if op == ">" else holds
    return Condition(name, op, threshold(cache.values(name), level))


def fraction(rng: Generator) -> float | None:
    return None if rng.random() < 0.25 else float(rng.uniform(0.005, 0.06))


def candidate(rng: Generator, cache: FeatureCache) -> Pattern:
    """Draw a long pattern: 1-3 entry conditions, random exits, sometimes an exit condition."""
    entry = tuple(condition(rng, cache) for _ in range(int(rng.integers(1, 4))))
    exit_rule = Exit(
        max_bars=int(rng.integers(1, 73)),
        take_profit=fraction(rng),
        stop_loss=fraction(rng),
        conditions=(condition(rng, cache),) if rng.random() < 0.3 else (),
    )
    return Pattern(entry, Side.LONG, exit_rule)


def candidates(cache: FeatureCache, count: int, seed: int) -> list[Pattern]:
    rng = Generator(PCG64(seed))
    return [candidate(rng, cache) for _ in range(count)]


# --- the engine's trades, read off its fills ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineTrade:
    """One round trip of the engine: bars of its fills, what it cost and what it brought in."""

    entry: int
    exit: int | None  # None: still open at the end
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    spent: Decimal  # quote paid on the buy, fee included
    received: Decimal | None  # quote got for the sell, fee deducted

    def net_return(self, last_close: float) -> float:
        """Return received / spent - 1; an open trade sold at `last_close`, paying the fee."""
        received = self.received
        if received is None:
            received = self.quantity * Decimal(repr(last_close)) * (1 - FEE_BPS * BPS)
        return float(received / self.spent - 1)


def engine_trades(series: BarSeries, result: BacktestResult) -> list[EngineTrade]:
    """Pair the engine's fills into round trips: buy, sell, buy, ..., each order one fill."""
    fills = result.fills
    assert [f.side for f in fills] == [OrderSide.BUY, OrderSide.SELL] * (len(fills) // 2) + [
        OrderSide.BUY
    ] * (len(fills) % 2)
    assert len({f.order_id for f in fills}) == len(fills), "an order filled in parts"
    buys, sells = fills[0::2], fills[1::2]
    trades = []
    for i, buy in enumerate(buys):
        sell: Fill | None = sells[i] if i < len(sells) else None
        assert sell is None or sell.quantity == buy.quantity, "a sell left part of the position"
        trades.append(
            EngineTrade(
                entry=bar_of(series, buy.ts),
                exit=None if sell is None else bar_of(series, sell.ts),
                quantity=buy.quantity,
                entry_price=buy.price,
                exit_price=None if sell is None else sell.price,
                spent=buy.quantity * buy.price + buy.fee,
                received=None if sell is None else sell.quantity * sell.price - sell.fee,
            )
        )
    return trades


def bar_of(series: BarSeries, ts: int) -> int:
    index = int(np.searchsorted(series.ts, ts))
    assert series.ts[index] == ts, f"a fill at {ts}, which is no bar's open time"
    return index


# --- the comparison --------------------------------------------------------------------------


def dust_bound(series: BarSeries, trades: list[EngineTrade]) -> float:
    """Return how far the engine's equity may stray from the evaluator's compounded trades.

    The engine buys a quantity rounded down to the size increment, so up to one increment's
    worth of cash (with its fee) sits out each trade and earns nothing; the evaluator invests
    it all. Each trade can thus move equity by at most that dust times its return.
    """
    increment = instrument_from_symbol(series.instrument).size_increment
    keep = 1 + FEE_BPS * BPS
    last_close = float(series.close[-1])
    return sum(
        float(increment * t.entry_price * keep / t.spent) * abs(t.net_return(last_close))
        for t in trades
    )


def compare(series: BarSeries, cache: FeatureCache, pattern: Pattern) -> int:
    """Trade `pattern` through the engine and the evaluator, assert they agree, count trades."""
    strategy = PatternStrategy(pattern, fee_rate=FEE)
    result = run_backtest([series], strategy, costs(series.instrument))
    evaluation = evaluate(pattern, series.open, series.close, cache.values, fee_rate=FEE)
    trades = engine_trades(series, result)
    assert [t.entry for t in trades] == evaluation.entries.tolist()
    assert_same_exits(len(series), trades, evaluation)
    for trade in trades:
        assert float(trade.entry_price) == series.open[trade.entry]
        assert trade.exit is None or float(trade.exit_price or 0) == series.open[trade.exit]
    last_close = float(series.close[-1])
    engine = np.array([t.net_return(last_close) for t in trades])
    np.testing.assert_allclose(engine, evaluation.trade_returns, rtol=RETURN_RTOL, atol=RETURN_ATOL)
    compounded = float(result.initial_cash) * float(np.prod(1 + evaluation.trade_returns))
    if trades and trades[-1].exit is None:
        compounded /= 1 - FEE  # the engine marks an open position with no exit fee
    equity_error = abs(float(result.final_equity) / compounded - 1)
    # Measured at most 1e-15 beyond the dust, from compounding the float64 returns.
    assert equity_error <= dust_bound(series, trades) + 1e-12
    return len(trades)


def assert_same_exits(bars: int, trades: list[EngineTrade], evaluation: Evaluation) -> None:
    """Closed trades leave at the same bars; one left open ends the evaluator's series."""
    closed = [t.exit for t in trades if t.exit is not None]
    assert closed == evaluation.exits[: len(closed)].tolist()
    still_open = len(trades) - len(closed)
    assert still_open in (0, 1)
    if still_open:
        assert evaluation.exits[-1] == bars, "the engine's open trade was closed early"
    else:
        assert (evaluation.exits < bars).all(), "the evaluator holds a trade the engine closed"


# --- the sample --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic() -> tuple[BarSeries, FeatureCache]:
    series = synthetic_market(instrument="SYN-USDT", bars=SYNTHETIC_BARS, seed=SEED)
    return series, FeatureCache(series, DEFAULT_FEATURES)


@pytest.fixture(scope="module")
def btc_months(btc_file) -> tuple[BarSeries, FeatureCache]:
    """Four months of real BTC-USDT, a bull run with the January and February drawdowns."""
    start = to_ns(datetime(2021, 1, 1, tzinfo=UTC))
    end = to_ns(datetime(2021, 5, 1, tzinfo=UTC))
    series = load_bars(btc_file).between(start, end)
    return series, FeatureCache(series, DEFAULT_FEATURES)


def test_a_random_sample_of_long_patterns_trades_the_same_in_the_engine(synthetic):
    series, cache = synthetic
    results = []
    for pattern in candidates(cache, SYNTHETIC_CANDIDATES, SEED):
        try:
            results.append(compare(series, cache, pattern))
        except AssertionError as failure:
            failure.add_note(f"pattern {pattern.id}: {pattern.describe()}")
            raise
    # The sample must exercise the comparison: most candidates trade, and often.
    assert sum(trades > 0 for trades in results) >= 20
    assert sum(results) >= 1_000


def test_real_btc_trades_the_same_in_the_engine(btc_months):
    series, cache = btc_months
    assert len(series) > 2_800
    results = []
    for pattern in candidates(cache, REAL_CANDIDATES, SEED + 1):
        try:
            results.append(compare(series, cache, pattern))
        except AssertionError as failure:
            failure.add_note(f"pattern {pattern.id}: {pattern.describe()}")
            raise
    assert sum(results) >= 100


def test_a_trade_open_at_the_end_is_compared_at_the_last_close(synthetic):
    """Always in, never out by time: one trade from bar 1, open when the series ends."""
    series, cache = synthetic
    always = Pattern((Condition("hour", ">", -1.0),), Side.LONG, Exit(max_bars=SYNTHETIC_BARS))
    assert compare(series, cache, always) == 1
