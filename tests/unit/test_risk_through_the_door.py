"""The risk layer in the engine: limits hold for any strategy, stops block what they must.

A random strategy asks for orders of any size; whatever it asks, no order that reaches the
exchange takes a position past the profile's limit, nothing adds exposure after a daily-loss
stop until the next UTC day, and nothing adds exposure after a total-loss stop until a reset.
"""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.domain.slippage import FixedSlippage
from coinswarm.risk.kill_switch import KillSwitchEventKind
from coinswarm.risk.profiles import profile_for
from generators import INSTRUMENTS, bar_series

D = Decimal
NS_PER_DAY = 24 * NS_PER_HOUR
FEE = D(10)


class Gambler:
    """Buys and sells at random, often far more than the account could ever be allowed."""

    name = "gambler"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def on_bar(self, bar, context):
        roll = self.rng.random()
        cid = context.next_client_order_id(bar.instrument)
        held = context.position(bar.instrument)
        if roll < 0.35:
            spend = context.cash() * D(repr(round(self.rng.uniform(0.1, 3.0), 3)))
            if spend > 1:
                return [
                    OrderRequest(
                        client_order_id=cid,
                        instrument=bar.instrument,
                        side=OrderSide.BUY,
                        quote_quantity=spend,
                    )
                ]
        elif roll < 0.45:
            quantity = D(repr(round(self.rng.uniform(0.01, 5.0), 4)))
            price = D(repr(bar.close)) * D("1.01")
            return [
                OrderRequest(
                    client_order_id=cid,
                    instrument=bar.instrument,
                    side=OrderSide.BUY,
                    type=OrderType.LIMIT,
                    quantity=quantity,
                    limit_price=price,
                )
            ]
        elif roll < 0.6 and held > 0:
            return [
                OrderRequest(
                    client_order_id=cid,
                    instrument=bar.instrument,
                    side=OrderSide.SELL,
                    quantity=held,
                )
            ]
        return []


def sent(result):
    return [o for o in result.orders if not o.order_id.startswith("LOCAL")]


def state_at(result, ts):
    """Return (equity, position, close) at the close of the bar at `ts`, from the fills."""
    series = next(iter(result.market.values()))
    ledger = Ledger(INSTRUMENTS, "USDT")
    ledger.deposit("USDT", result.initial_cash, 0)
    for fill in result.fills:
        if fill.ts <= ts:
            ledger.record(fill)
    close = D(repr(float(series.close[int(np.searchsorted(series.ts, ts))])))
    position = ledger.position(series.instrument).quantity
    return ledger.cash() + position * close, position, close


def config(phase, reset_after=None):
    return BacktestConfig(
        fill_model=FillModel(fees=FeeSchedule.flat(FEE), slippage=FixedSlippage()),
        instruments=INSTRUMENTS,
        risk=profile_for(phase),
        operator_reset_after_ns=reset_after,
    )


@given(
    series=bar_series(min_bars=30, max_bars=250),
    seed=st.integers(0, 10_000),
    phase=st.sampled_from([0, 4]),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_order_takes_a_position_past_the_profile_limit(series, seed, phase):
    result = run_backtest([series], Gambler(seed), config(phase))
    limit = profile_for(phase).max_position_fraction
    fee = FEE / 10_000
    for order in sent(result):
        request = order.request
        if request.side is not OrderSide.BUY:
            continue
        equity, position, close = state_at(result, order.created_ts)
        price = request.limit_price if request.type is OrderType.LIMIT else close
        bought = (
            request.quantity
            if request.quantity is not None
            else request.quote_quantity / (price * (1 + fee))
        )
        assert (position + bought) * price <= limit * equity + D("0.000001"), order


def crash(bars: int = 200, at: int = 60, drop: float = 0.03, hours: int = 72) -> BarSeries:
    """Return hourly bars that climb, then fall `drop` an hour for `hours`, then drift up."""
    close = np.empty(bars)
    price = 1_000.0
    for i in range(bars):
        step = 0.004 if i < at else (-drop if i < at + hours else 0.001)
        price = round(price * (1 + step), 2)
        close[i] = price
    open_ = np.concatenate([[1_000.0], close[:-1]])
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    ts = 1_577_836_800 * 10**9 + np.arange(bars, dtype=np.int64) * NS_PER_HOUR
    return BarSeries(
        "BTC-USDT",
        NS_PER_HOUR,
        ts,
        open_,
        np.round(high, 2),
        np.round(low, 2),
        close,
        np.full(bars, 100.0),
    )


class AlwaysBuy:
    """Tries to add a little exposure on every bar."""

    name = "always-buy"

    def on_bar(self, bar, context):
        return [
            OrderRequest(
                client_order_id=context.next_client_order_id(bar.instrument),
                instrument=bar.instrument,
                side=OrderSide.BUY,
                quote_quantity=D(50),
            )
        ]


def events_of(result, kind):
    return [e for e in result.risk_events if e.kind == kind]


def test_after_a_daily_loss_stop_nothing_adds_exposure_until_the_next_utc_day():
    result = run_backtest([crash()], AlwaysBuy(), config(0, reset_after=NS_PER_DAY))
    stops = events_of(result, KillSwitchEventKind.DAILY_LOSS_STOP)
    assert stops, [str(e) for e in result.risk_events]
    for stop in stops:
        next_day = (stop.ts // NS_PER_DAY + 1) * NS_PER_DAY
        during = [o for o in sent(result) if stop.ts <= o.created_ts < next_day]
        assert all(o.side is OrderSide.SELL for o in during), during


def test_after_a_total_loss_stop_nothing_adds_exposure_until_a_reset():
    result = run_backtest([crash()], AlwaysBuy(), config(0, reset_after=None))
    (stop,) = events_of(result, KillSwitchEventKind.TOTAL_LOSS_STOP)
    after = [o for o in sent(result) if o.created_ts >= stop.ts]
    assert after, "the stop should have flattened the position"
    assert all(o.side is OrderSide.SELL for o in after)
    assert next(iter(result.market.values())).ts[-1] - stop.ts > 2 * NS_PER_DAY
    refused = [
        o for o in result.orders if o.created_ts > stop.ts and o.status is OrderStatus.REJECTED
    ]
    assert refused
    assert all("total loss" in (o.reject_reason or "") for o in refused)


def test_the_loss_stop_flattens_the_positions_that_breached_it():
    result = run_backtest([crash()], AlwaysBuy(), config(0, reset_after=None))
    (stop,) = events_of(result, KillSwitchEventKind.TOTAL_LOSS_STOP)
    exits = [f for f in result.fills if f.side is OrderSide.SELL and f.ts > stop.ts]
    assert exits
    assert exits[0].client_order_id.startswith("shutdown-")
    held_after = sum((f.quantity * f.side.sign for f in result.fills), D(0))
    assert held_after == 0


def test_with_an_operator_trading_resumes_after_the_reset():
    week = 7 * NS_PER_DAY
    result = run_backtest([crash(bars=24 * 12)], AlwaysBuy(), config(0, reset_after=week))
    (stop, *_) = events_of(result, KillSwitchEventKind.TOTAL_LOSS_STOP)
    (reset, *_) = events_of(result, KillSwitchEventKind.RESET)
    assert reset.ts - stop.ts >= week
    assert "simulated operator" in (reset.by or "")
    buys_after = [o for o in sent(result) if o.created_ts > reset.ts and o.side is OrderSide.BUY]
    assert buys_after
