"""The session guard against the local Coinbase exchange, through the production adapter.

Reliability scenario 14: an order cancelled at the exchange and an outside deposit are noticed
by the periodic reconciliation run, not before it is due, and recorded once. And the adapter's
own pause (an answer it could not read) holds trading until a reconciliation has looked.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from coinbase_harness import API, FakeTime, Harness, build, harness, limit
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import Order, OrderSide, OrderStatus
from coinswarm.exchanges.coinbase import ExchangeDataError
from coinswarm.exchanges.local_coinbase import CdpKey, generate_key
from coinswarm.execution.reconcile import DifferenceKind, Reconciler, ReconcileSettings
from coinswarm.execution.session_guard import GuardEventKind, GuardSource, SessionGuard

T0_NS = 1_700_000_000 * 1_000_000_000
INTERVAL_S = 60.0


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Live:
    state = "live"


@pytest.fixture
def key() -> CdpKey:
    return generate_key()


@pytest.fixture
def h(key: CdpKey) -> Iterator[Harness]:
    yield from harness(key)


class Session:
    """What a session holds: its ledger, its orders, and the guard over them."""

    def __init__(self, h: Harness) -> None:
        instruments = h.adapter.instruments()
        self.ledger = Ledger(instruments, "USD")
        self.ledger.deposit("USD", Decimal(100_000), T0_NS)
        self.ledger.deposit("BTC", Decimal(1), T0_NS)
        self.orders: dict[str, Order] = {}
        self.ticks = Ticks()
        clock = HistoricalClock(T0_NS)
        reconciler = Reconciler(
            h.adapter,
            self.ledger,
            self.orders,
            instruments=instruments,
            clock=clock,
            monotonic=self.ticks,
            client_order_ids=lambda: set(h.adapter.health.set_aside_orders),
            settings=ReconcileSettings(interval_s=INTERVAL_S),
        )
        self.guard = SessionGuard(
            reconciler, clock=clock, monotonic=self.ticks, exchange=h.adapter, stream=Live()
        )


def test_s14_a_cancel_at_the_exchange_and_a_deposit_are_noticed_when_the_run_is_due(
    h: Harness, key: CdpKey
) -> None:
    session = Session(h)
    placed = h.adapter.place_order(limit("g-1", OrderSide.BUY, "0.5", "1000.00"))
    session.orders[placed.order_id] = placed
    first = session.guard.tick()
    assert first is not None
    assert first.clean, first.lines()

    elsewhere, _ = build(h.server, key, FakeTime())  # the exchange's side: not our session
    with elsewhere:
        elsewhere.cancel_order(placed.order_id)
    accounts = [
        {"currency": c, "available_balance": {"value": v, "currency": c}}
        for c, v in (("BTC", "1"), ("USD", "100250"))
    ]
    # The local exchange has no deposits: its accounts answer shows one, on every read.
    h.fault(
        method="GET",
        path=API + "/accounts",
        kind="status",
        status_code=200,
        body={"accounts": accounts},
        times=None,
    )

    session.ticks.now += INTERVAL_S / 2
    assert session.guard.tick() is None  # not due: nothing asked, nothing known yet
    assert session.orders[placed.order_id].status is OrderStatus.OPEN

    session.ticks.now += INTERVAL_S / 2
    report = session.guard.tick()
    assert report is not None
    assert [d.kind for d in report.differences] == [
        DifferenceKind.CLOSED_AT_EXCHANGE,
        DifferenceKind.OUTSIDE_DEPOSIT,
    ]
    assert session.orders[placed.order_id].status is OrderStatus.CANCELLED
    assert session.ledger.cash("USD") == Decimal(100_250)
    events = session.guard.events
    assert [(e.kind, e.source) for e in events] == [
        (GuardEventKind.DIFFERENCE, GuardSource.RECONCILIATION)
    ] * 2
    assert events[0].reason.startswith(f"CLOSED_AT_EXCHANGE: order {placed.order_id} (g-1)")
    assert events[1].reason.startswith("OUTSIDE_DEPOSIT: USD: exchange 100250")
    assert session.guard.hold_reason() is None  # both explained: trading goes on

    session.ticks.now += INTERVAL_S
    again = session.guard.tick()
    assert again is not None
    assert again.clean, again.lines()  # the deposit is recorded once
    assert len(session.guard.events) == 2


def test_an_answer_the_adapter_could_not_read_holds_until_reconciliation_looked(
    h: Harness,
) -> None:
    session = Session(h)
    session.guard.tick()
    placed = h.adapter.place_order(limit("g-2", OrderSide.BUY, "0.5", "1000.00"))
    session.orders[placed.order_id] = placed
    path = f"{API}/orders/historical/{placed.order_id}"
    h.fault(method="GET", path=path, kind="malformed")
    with pytest.raises(ExchangeDataError):
        h.adapter.get_order(placed.order_id)

    reason = session.guard.hold_reason()
    assert reason is not None
    assert reason.startswith(f"exchange: GET {path}: field 'body'")
    assert placed.order_id in reason

    session.ticks.now += 1  # long before the interval: the adapter's pause makes it due
    report = session.guard.tick()
    assert report is not None
    assert report.clean, report.lines()
    assert not h.adapter.trading_paused
    assert session.guard.hold_reason() is None
    kinds = [(e.kind, e.source) for e in session.guard.events]
    assert kinds == [
        (GuardEventKind.PAUSED, GuardSource.EXCHANGE),
        (GuardEventKind.RESUMED, GuardSource.EXCHANGE),
    ]


def test_an_order_someone_else_placed_holds_until_a_person_clears_it(
    h: Harness, key: CdpKey
) -> None:
    session = Session(h)
    session.guard.tick()
    elsewhere, _ = build(h.server, key, FakeTime())
    with elsewhere:
        stranger = elsewhere.place_order(limit("manual-1", OrderSide.BUY, "0.5", "1100.00"))
    session.ticks.now += INTERVAL_S
    session.guard.tick()
    reason = session.guard.hold_reason()
    assert reason is not None
    assert f"exchange order {stranger.order_id} has client order id 'manual-1'" in reason
    assert h.wire.posts() == []  # nothing sent to fix it
    session.guard.clear_reconciliation(by="alice")
    assert session.guard.hold_reason() is None
    assert session.guard.events[-1].by == "alice"
