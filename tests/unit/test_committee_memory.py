"""A session that runs for months must hold its memory flat.

What the committee decides on every bar streams out through the journal; in memory it keeps a
bounded window of verdicts. What still grows, grows with orders, not bars: the orders, their
fills in the ledger and each order's explanation (which carries its verdict's votes).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator, Sequence

import pytest

from coinswarm.backtest.context import EngineContext
from coinswarm.backtest.engine import BacktestConfig, run_backtest, run_live, simulated_venue
from coinswarm.data import synthetic_market
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.clock import HistoricalClock
from coinswarm.risk.profiles import profile_for
from coinswarm.strategies.base import Intent
from coinswarm.strategies.committee import DEFAULT_VERDICT_WINDOW, CommitteeStrategy
from verdict_tape import VerdictTape

WINDOW = 200
FIRST = 600  # past the window, so the window is full before the first sample
LAST = 4 * FIRST
# Generous bounds for what may grow: each order keeps its order, fills and explanation
# (about 3.5 KB measured); the live market keeps each bar's six float64 columns, in arrays
# that double when full. Before the window, each bar kept a verdict of about 1.2 KB.
BYTES_PER_ORDER = 8 * 1024
BYTES_PER_MARKET_BAR = 2 * 6 * 8
SLACK = 256 * 1024


class _Sampling:
    """The committee, plus a note of live memory (after a full collection) at chosen bars."""

    name = "committee"

    def __init__(self, inner: CommitteeStrategy, at: Sequence[int]) -> None:
        self.inner = inner
        self._at = set(at)
        self.bars = 0
        self.intents = 0
        self.samples: dict[int, tuple[int, int]] = {}

    def on_bar(self, bar: Bar, context: EngineContext) -> Sequence[Intent]:
        intents = self.inner.on_bar(bar, context)
        self.bars += 1
        self.intents += len(intents)
        if self.bars in self._at:
            gc.collect()
            self.samples[self.bars] = (tracemalloc.get_traced_memory()[0], self.intents)
        return intents


def _feed(series: BarSeries) -> Iterator[Bar]:
    return (series.bar(i) for i in range(len(series)))


def test_a_live_session_grows_with_its_orders_not_with_its_bars() -> None:
    series = synthetic_market(instrument="BTC-USDT", bars=LAST, seed=3)
    strategy = _Sampling(CommitteeStrategy(verdict_window=WINDOW), at=(FIRST, LAST))
    tracemalloc.start()
    try:
        run_live(
            _feed(series),
            strategy,
            BacktestConfig(risk=profile_for(0)),
            instruments=[series.instrument],
            clock=HistoricalClock(int(series.ts[0])),
            venue=simulated_venue,
        )
    finally:
        tracemalloc.stop()
    (first, first_orders), (last, last_orders) = strategy.samples[FIRST], strategy.samples[LAST]
    orders = last_orders - first_orders
    assert orders > 10, "the committee traded, so the bound on orders is exercised"
    allowed = orders * BYTES_PER_ORDER + (LAST - FIRST) * BYTES_PER_MARKET_BAR + SLACK
    grown = last - first
    assert grown <= allowed, (
        f"{grown:,} bytes more after {LAST - FIRST} bars and {orders} orders; "
        f"at most {allowed:,} may grow with orders"
    )
    assert len(strategy.inner.verdicts) == WINDOW


def test_every_verdict_streams_to_the_journal_and_the_window_keeps_the_latest() -> None:
    series = synthetic_market(instrument="BTC-USDT", bars=1200, seed=5)
    strategy = CommitteeStrategy(verdict_window=1)
    tape = VerdictTape()
    result = run_backtest([series], strategy, BacktestConfig(risk=profile_for(0)), journal=tape)
    assert len(tape.verdicts) == len(series)
    assert [v.ts for v in tape.verdicts] == series.ts.tolist()
    assert list(strategy.verdicts) == tape.verdicts[-1:]
    # Each committee order's explanation keeps its own verdict's votes, however small the
    # window (the risk layer's own orders, trims, carry the risk layer's reasons instead).
    by_ts = {v.ts: v for v in tape.verdicts}
    decided = [
        (order, result.rationales[order.client_order_id])
        for order in result.orders
        if result.rationales[order.client_order_id].summary.startswith("committee verdict")
    ]
    assert len(decided) > 10
    for order, rationale in decided:
        verdict = by_ts[order.created_ts]  # decided at the close of the bar opening then
        assert rationale.summary.startswith(f"committee verdict {verdict.direction.name}")
        assert [r.agent for r in rationale.votes] == [v.agent for v in verdict.votes]
        assert [r.weight for r in rationale.votes] == list(verdict.weights)


def test_the_default_window_is_bounded_and_a_window_below_one_is_refused() -> None:
    assert CommitteeStrategy().verdicts.maxlen == DEFAULT_VERDICT_WINDOW
    with pytest.raises(ValueError, match="at least 1"):
        CommitteeStrategy(verdict_window=0)
