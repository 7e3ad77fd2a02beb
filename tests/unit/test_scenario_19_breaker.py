"""RELIABILITY scenario 19: a 10% move within 60 s trips the breaker; open orders are cancelled,
new ones blocked; its state survives a restart; a latched breaker waits for a person."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.domain.bar import NS_PER_SECOND, BarSeries
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.risk.circuit_breaker import BreakerEventKind, BreakerState, CircuitBreaker
from coinswarm.risk.profiles import profile_for
from generators import INSTRUMENTS

MINUTE = 60 * NS_PER_SECOND
START = 1_600_000_000 * NS_PER_SECOND // MINUTE * MINUTE
D = Decimal


def minute_bars(drops_at: tuple[int, ...], bars: int = 300) -> BarSeries:
    """Return flat one-minute bars at 100 with a 12% fall inside each bar listed."""
    open_ = np.full(bars, 100.0)
    close = np.full(bars, 100.0)
    low = np.full(bars, 99.9)
    for at in drops_at:
        low[at] = 88.0
    ts = START + np.arange(bars, dtype=np.int64) * MINUTE
    return BarSeries(
        "BTC-USDT", MINUTE, ts, open_, np.full(bars, 100.1), low, close, np.full(bars, 50.0)
    )


class RestingThenEager:
    """Leaves a low bid resting, then asks for a small buy on every minute."""

    name = "resting-then-eager"

    def __init__(self) -> None:
        self.placed = False

    def on_bar(self, bar, context):
        cid = context.next_client_order_id(bar.instrument)
        if not self.placed:
            self.placed = True
            return [
                OrderRequest(
                    client_order_id=cid,
                    instrument=bar.instrument,
                    side=OrderSide.BUY,
                    type=OrderType.LIMIT,
                    quantity=D(1),
                    limit_price=D(50),
                )
            ]
        return [
            OrderRequest(
                client_order_id=cid,
                instrument=bar.instrument,
                side=OrderSide.BUY,
                type=OrderType.LIMIT,
                quantity=D("0.1"),
                limit_price=D(60),
                time_in_force="IOC",
            )
        ]


def run(drops_at):
    config = BacktestConfig(
        instruments=INSTRUMENTS, risk=profile_for(0), operator_reset_after_ns=None
    )
    return run_backtest([minute_bars(drops_at)], RestingThenEager(), config)


def test_a_fast_move_trips_the_breaker_cancels_open_orders_and_blocks_new_ones():
    result = run((30,))
    (trip,) = [e for e in result.risk_events if e.kind == BreakerEventKind.TRIP]
    assert trip.ts == START + 30 * MINUTE
    assert "moved -12.0% within one bar" in trip.reason
    resting = result.orders[0]
    assert resting.status is OrderStatus.CANCELLED
    assert resting.updated_ts == trip.ts
    (resume,) = [e for e in result.risk_events if e.kind == BreakerEventKind.RESUME]
    assert resume.ts - trip.ts == 60 * MINUTE  # the phase-0 cool-down
    blocked = [o for o in result.orders if trip.ts <= o.created_ts < resume.ts]
    assert len(blocked) == 60
    assert all("circuit breaker" in (o.reject_reason or "") for o in blocked)
    assert any(
        o.created_ts >= resume.ts and not o.order_id.startswith("LOCAL") for o in result.orders
    )


def test_the_third_trip_of_a_day_latches_until_a_person_resets_it():
    result = run((30, 100, 230))  # each after the cool-down of the one before (1 h, then 2 h)
    kinds = [e.kind for e in result.risk_events]
    assert BreakerEventKind.LATCH in kinds
    latched_at = next(e.ts for e in result.risk_events if e.kind == BreakerEventKind.LATCH)
    after = [o for o in result.orders if o.created_ts >= latched_at]
    assert after
    assert all(o.order_id.startswith("LOCAL-REJECT") for o in after)  # nobody came


def test_the_breaker_state_survives_a_restart():
    settings = profile_for(0).breaker
    breaker = CircuitBreaker(settings)
    bars = minute_bars((5,))
    breaker.on_bar(bars.bar(5), ts_ns=int(bars.ts[5]))
    saved = json.dumps(breaker.state().to_dict())
    restarted = CircuitBreaker(settings, BreakerState.from_dict(json.loads(saved)))
    assert not restarted.allows_new_orders(int(bars.ts[6]))
    assert restarted.allows_new_orders(int(bars.ts[5]) + 60 * MINUTE)
