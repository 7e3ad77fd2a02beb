"""A decision never fills on the bar it saw, not even through another instrument's bar.

Bars of several instruments share timestamps. The engine plays BTC's bar at T, the strategy
decides, and only then ETH's bar at T; an order for ETH placed on BTC's bar at T must wait for
ETH's bar at T+1. A market order's fill is therefore at the open of the traded instrument's
first bar strictly after the decision.
"""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus
from coinswarm.domain.slippage import FixedSlippage
from generators import INSTRUMENTS, START_NS, bar_series

D = Decimal
CONFIG = BacktestConfig(
    fill_model=FillModel(fees=FeeSchedule.flat(D(10)), slippage=FixedSlippage()),
    instruments=INSTRUMENTS,
)


def hourly(instrument: str, opens: list[float]) -> BarSeries:
    n = len(opens)
    price = np.array(opens)
    return BarSeries(
        instrument,
        NS_PER_HOUR,
        START_NS + np.arange(n, dtype=np.int64) * NS_PER_HOUR,
        price,
        price + 5.0,
        price - 5.0,
        price + 1.0,
        np.full(n, 1_000.0),
    )


class CrossBuyer:
    """On chosen bars of one instrument, buy another one at market; remember each decision."""

    name = "cross-buyer"

    def __init__(self, decide: dict[tuple[str, int], str]) -> None:
        self.decide = decide  # (instrument seen, bar time) -> instrument to buy
        self.decided: dict[str, tuple[str, int]] = {}  # client order id -> (bought, bar time)

    def on_bar(self, bar: Bar, context) -> list[OrderRequest]:
        target = self.decide.get((bar.instrument, bar.ts))
        if target is None:
            return []
        order_id = context.next_client_order_id(target)
        self.decided[order_id] = (target, bar.ts)
        return [
            OrderRequest(
                client_order_id=order_id,
                instrument=target,
                side=OrderSide.BUY,
                quote_quantity=D(20),
            )
        ]


def test_a_buy_of_eth_decided_on_btcs_bar_fills_at_eths_next_open_not_at_the_same_time():
    btc = hourly("BTC-USDT", [40_000.0 + 10 * i for i in range(10)])
    eth = hourly("ETH-USDT", [2_000.0 + 7 * i for i in range(10)])
    decision_ts = int(btc.ts[4])
    strategy = CrossBuyer({("BTC-USDT", decision_ts): "ETH-USDT"})
    # BTC is listed first, so its bar at T plays before ETH's bar at T.
    result = run_backtest([btc, eth], strategy, CONFIG)
    (fill,) = result.fills
    assert fill.instrument == "ETH-USDT"
    assert fill.ts == int(eth.ts[5])  # T+1, never ETH's bar at T, which came after the decision
    assert fill.price == D(repr(float(eth.open[5])))


@st.composite
def markets(draw: st.DrawFn) -> list[BarSeries]:
    """Draw BTC and ETH series on one hourly grid, overlapping, in either listing order."""
    btc = draw(bar_series("BTC-USDT", min_bars=5, max_bars=60))
    eth = draw(bar_series("ETH-USDT", min_bars=5, max_bars=60))
    shift = draw(st.integers(0, 10)) * NS_PER_HOUR
    if draw(st.booleans()):
        btc = BarSeries(btc.instrument, NS_PER_HOUR, btc.ts + shift, *_prices(btc))
    else:
        eth = BarSeries(eth.instrument, NS_PER_HOUR, eth.ts + shift, *_prices(eth))
    return [btc, eth] if draw(st.booleans()) else [eth, btc]


def _prices(series: BarSeries) -> tuple[np.ndarray, ...]:
    return series.open, series.high, series.low, series.close, series.volume


@given(market=markets(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_fill_is_at_the_traded_instruments_first_open_after_the_decision(market, seed):
    rng = random.Random(seed)
    bars = [(s.instrument, int(t)) for s in market for t in s.ts]
    chosen = rng.sample(bars, k=min(len(bars), 12))
    decide = {seen: rng.choice(["BTC-USDT", "ETH-USDT"]) for seen in chosen}
    strategy = CrossBuyer(decide)
    result = run_backtest(market, strategy, CONFIG)
    by_symbol = {s.instrument: s for s in market}
    for fill in result.fills:
        _, decided_ts = strategy.decided[fill.client_order_id]
        assert fill.ts > decided_ts
        series = by_symbol[fill.instrument]
        row = int(np.searchsorted(series.ts, decided_ts, side="right"))
        assert fill.ts == int(series.ts[row])
        assert fill.price == D(repr(float(series.open[row])))
    # Each order is filled once its instrument has a bar after the decision; the only refusal
    # is an order for an instrument with no price yet.
    for order in result.orders:
        bought, ts = strategy.decided[order.client_order_id]
        if order.status is OrderStatus.REJECTED:
            assert "no price yet" in (order.reject_reason or "")
        else:
            later = by_symbol[bought].ts[-1] > ts
            assert order.status is (OrderStatus.FILLED if later else OrderStatus.OPEN)
