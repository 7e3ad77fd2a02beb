"""Flash crashes in real data (RELIABILITY scenario 19 on hourly bars).

BTC_USDT lost more than 15% inside one hour on 2020-03-12, 2021-05-19 and 2021-12-04. Replayed
in the phase-0 profile, the circuit breaker trips on each and says why, the committee runs
through it, and no order goes out while the breaker is tripped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.data import load_bars
from coinswarm.data.timefmt import to_ns
from coinswarm.domain.order import OrderRequest, OrderSide
from coinswarm.risk.circuit_breaker import BreakerEventKind
from coinswarm.risk.profiles import profile_for
from coinswarm.strategies.committee import CommitteeStrategy

DAY = 86_400 * 10**9
CRASHES = ["2020-03-12", "2021-05-19", "2021-12-04"]


class Eager:
    """Trades a little on every bar (buy, then sell), so that any gap in the breaker shows.

    It holds almost nothing, so no loss limit stands in the breaker's way.
    """

    name = "eager"

    def on_bar(self, bar, context):
        cid = context.next_client_order_id(bar.instrument)
        held = context.position(bar.instrument)
        if held > 0:
            return [
                OrderRequest(
                    client_order_id=cid,
                    instrument=bar.instrument,
                    side=OrderSide.SELL,
                    quantity=held,
                )
            ]
        return [
            OrderRequest(
                client_order_id=cid,
                instrument=bar.instrument,
                side=OrderSide.BUY,
                quote_quantity=Decimal(20),
            )
        ]


@pytest.fixture(scope="module")
def btc(btc_file):
    return load_bars(btc_file)


def crash_window(btc, day):
    start = to_ns(datetime.fromisoformat(day).replace(tzinfo=UTC))
    return start, btc.between(start - 20 * DAY, start + 5 * DAY)


def trips_on(result, start):
    return [
        e
        for e in result.risk_events
        if e.kind == BreakerEventKind.TRIP and start <= e.ts < start + DAY
    ]


@pytest.mark.parametrize("day", CRASHES)
def test_the_breaker_trips_on_the_crash_and_says_why(btc, day):
    start, window = crash_window(btc, day)
    result = run_backtest([window], CommitteeStrategy(), BacktestConfig(risk=profile_for(0)))
    trips = trips_on(result, start)
    assert trips, [str(e) for e in result.risk_events]
    assert "BTC-USDT moved -" in trips[0].reason
    assert "within one bar" in trips[0].reason


@pytest.mark.parametrize("day", CRASHES)
def test_no_order_goes_out_while_tripped_and_trading_resumes_after(btc, day):
    start, window = crash_window(btc, day)
    result = run_backtest([window], Eager(), BacktestConfig(risk=profile_for(0)))
    assert trips_on(result, start)
    paused = _paused_intervals(result.risk_events)
    inside = [o for o in result.orders if any(lo <= o.created_ts < hi for lo, hi in paused)]
    # A loss stop's emergency exits are the one thing allowed through a tripped breaker.
    inside = [o for o in inside if not o.client_order_id.startswith("shutdown-")]
    assert inside
    for order in inside:
        assert order.order_id.startswith("LOCAL-REJECT"), order
        assert "circuit breaker" in (order.reject_reason or "")
    last_pause_end = max(hi for _, hi in paused)
    assert any(
        o.created_ts >= last_pause_end and not o.order_id.startswith("LOCAL") for o in result.orders
    )


def _paused_intervals(events):
    """Return [trip, resume) intervals of the breaker (a latch lasts until its reset)."""
    intervals, tripped = [], None
    for event in events:
        if event.kind in (BreakerEventKind.TRIP, BreakerEventKind.EMERGENCY_STOP):
            tripped = event.ts if tripped is None else tripped
        elif (
            event.kind in (BreakerEventKind.RESUME, BreakerEventKind.RESET) and tripped is not None
        ):
            intervals.append((tripped, event.ts))
            tripped = None
    if tripped is not None:
        intervals.append((tripped, 2**63 - 1))
    return intervals
