"""The session guard over in-memory parts: when reconciliation runs, what holds, what lifts.

The exchange is `FakeExchange` (a real in-memory implementation of the port) with the Coinbase
adapter's own `DataHealth` as its pause; clocks are hand-moved. The same guard runs against
the local Coinbase exchange in tests/integration/test_session_guard_local.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderType
from coinswarm.exchanges.coinbase import CoinbaseStream, ExchangeDataError, StreamConfig
from coinswarm.exchanges.coinbase.health import DataHealth
from coinswarm.execution.reconcile import DifferenceKind, Reconciler, ReconcileSettings
from coinswarm.execution.session_guard import (
    GuardEvent,
    GuardEventKind,
    GuardSource,
    SessionGuard,
    StreamHealth,
)
from exchange_fakes import FakeExchange
from generators import BTC, INSTRUMENTS, START_NS

D = Decimal
E = GuardEventKind
S = GuardSource
CASH = D(1_000_000)
INTERVAL_S = 60.0


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


class PausingExchange(FakeExchange):
    """The in-memory exchange with the Coinbase adapter's pause signal (its `DataHealth`)."""

    def __init__(self) -> None:
        super().__init__(INSTRUMENTS, {"USDT": CASH})
        self.health = DataHealth()
        self.reconciled = 0

    @property
    def trading_paused(self) -> bool:
        return self.health.trading_paused

    @property
    def pause_reason(self) -> str:
        return self.health.pause_reason

    def mark_reconciled(self) -> None:
        self.reconciled += 1
        self.health.clear()


class Stream:
    def __init__(self, state: str = "live") -> None:
        self.state = state


class Setup:
    def __init__(self, *, stream: StreamHealth | None = None) -> None:
        self.exchange = PausingExchange()
        self.ledger = Ledger(INSTRUMENTS, "USDT")
        self.ledger.deposit("USDT", CASH, START_NS)
        self.ticks = Ticks()
        self.clock = HistoricalClock(START_NS)
        self.seen: list[GuardEvent] = []
        self.reconciler = Reconciler(
            self.exchange,
            self.ledger,
            {},
            instruments=INSTRUMENTS,
            clock=self.clock,
            monotonic=self.ticks,
            client_order_ids=lambda: {"ours"},
            settings=ReconcileSettings(interval_s=INTERVAL_S),
        )
        self.guard = SessionGuard(
            self.reconciler,
            clock=self.clock,
            monotonic=self.ticks,
            exchange=self.exchange,
            stream=stream,
            on_event=self.seen.append,
        )

    def later(self, seconds: float) -> None:
        self.ticks.now += seconds
        self.clock.advance_to(self.clock.now_ns() + int(seconds * 1e9))

    def runs(self) -> int:
        return len(self.reconciler.reports)

    def events(self) -> list[tuple[GuardEventKind, GuardSource]]:
        return [(e.kind, e.source) for e in self.guard.events]


def foreign_order() -> Order:
    request = OrderRequest(
        client_order_id="someone-else",
        instrument=BTC.symbol,
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        quantity=D("0.1"),
        limit_price=D("10000"),
    )
    order = Order("X1", request, START_NS)
    order.accept(START_NS)
    return order


# -- when reconciliation runs ------------------------------------------------------------------


def test_reconciliation_runs_at_the_first_tick_then_only_when_its_interval_has_passed() -> None:
    s = Setup()
    assert s.guard.tick() is not None
    for _ in range(5):
        s.later(INTERVAL_S / 6)
        assert s.guard.tick() is None  # a bar every 10 s: not yet due
    assert s.runs() == 1
    s.later(INTERVAL_S / 6)
    report = s.guard.tick()
    assert report is not None
    assert report.clean
    assert s.runs() == 2
    assert s.guard.hold_reason() is None
    assert s.guard.events == []  # nothing differed, nothing paused


def test_hold_reason_never_runs_reconciliation() -> None:
    s = Setup()
    for _ in range(3):
        assert s.guard.hold_reason() is None
    assert s.runs() == 0


# -- what reconciliation finds -----------------------------------------------------------------


def test_an_outside_deposit_is_recorded_and_trading_goes_on() -> None:
    s = Setup()
    s.guard.tick()
    s.exchange.deposit("USDT", D(250))
    s.later(INTERVAL_S)
    report = s.guard.tick()
    assert report is not None
    assert [d.kind for d in report.differences] == [DifferenceKind.OUTSIDE_DEPOSIT]
    assert s.ledger.cash("USDT") == CASH + 250
    (event,) = s.guard.events
    assert (event.kind, event.source) == (E.DIFFERENCE, S.RECONCILIATION)
    assert event.reason.startswith("OUTSIDE_DEPOSIT: USDT: exchange 1000250")
    assert event.ts == START_NS + int(INTERVAL_S * 1e9)
    assert s.guard.hold_reason() is None


def test_a_halting_difference_holds_until_a_person_clears_it_even_once_gone() -> None:
    s = Setup()
    foreign = s.exchange.add_order(foreign_order())
    s.guard.tick()
    reason = s.guard.hold_reason()
    assert reason is not None
    assert reason.startswith("reconciliation: exchange order X1 has client order id")
    assert s.events() == [(E.DIFFERENCE, S.RECONCILIATION), (E.PAUSED, S.RECONCILIATION)]
    assert s.guard.events[0].reason.startswith("HALT FOREIGN_ORDER: ")

    foreign.cancel(START_NS + 1)  # the cause goes away; a person must still look
    s.later(INTERVAL_S)
    report = s.guard.tick()
    assert report is not None
    assert report.clean
    assert s.guard.hold_reason() == reason

    said = s.guard.clear_reconciliation(by="alice")
    assert "cleared by alice" in said
    assert s.guard.hold_reason() is None
    resumed = s.guard.events[-1]
    assert (resumed.kind, resumed.source, resumed.by) == (E.RESUMED, S.RECONCILIATION, "alice")
    assert s.seen == s.guard.events  # the callback saw every event, in order


def test_clearing_needs_a_person() -> None:
    s = Setup()
    s.exchange.add_order(foreign_order())
    s.guard.tick()
    with pytest.raises(ValueError, match="name the person"):
        s.guard.clear_reconciliation(by=" ")
    assert s.guard.hold_reason() is not None


# -- the adapter's pause -----------------------------------------------------------------------


def spoil(exchange: PausingExchange) -> None:
    error = ExchangeDataError("GET /orders/historical/O9", "order.status", "unknown 'TELEPORTED'")
    exchange.health.record(error, "O9")


def test_an_adapter_pause_holds_at_once_and_a_clean_reconciliation_lifts_it_early() -> None:
    s = Setup()
    s.guard.tick()
    s.later(1)
    spoil(s.exchange)
    reason = s.guard.hold_reason()
    assert reason is not None
    assert reason.startswith("exchange: ")
    assert "order.status" in reason
    assert s.events() == [(E.PAUSED, S.EXCHANGE)]

    s.later(1)  # 2 s after the last run: not due by the interval, due because the adapter waits
    report = s.guard.tick()
    assert report is not None
    assert report.clean
    assert s.exchange.reconciled == 1
    assert s.guard.hold_reason() is None
    assert s.events() == [(E.PAUSED, S.EXCHANGE), (E.RESUMED, S.EXCHANGE)]


def test_when_reconciliation_halts_the_adapter_stays_paused_and_runs_wait_for_the_interval() -> (
    None
):
    s = Setup()
    s.guard.tick()
    spoil(s.exchange)
    s.exchange.add_order(foreign_order())
    s.later(1)
    assert s.guard.tick() is not None  # early, for the adapter
    assert s.exchange.reconciled == 0  # a halting run settles nothing
    reason = s.guard.hold_reason()
    assert reason is not None
    assert reason.startswith("reconciliation: exchange order X1")
    assert "; exchange: " in reason
    for _ in range(5):
        s.later(1)
        assert s.guard.tick() is None  # no run every bar while a person is needed
    assert s.runs() == 2


# -- the stream --------------------------------------------------------------------------------


def test_a_stale_stream_holds_and_a_live_one_resumes() -> None:
    stream = Stream("live")
    s = Setup(stream=stream)
    assert s.guard.hold_reason() is None
    s.later(5)
    stream.state = "stale"
    assert s.guard.hold_reason() == "stream: market data stream is stale, not live"
    assert s.guard.hold_reason() is not None  # asking again records nothing new
    s.later(3)
    stream.state = "live"
    assert s.guard.hold_reason() is None
    paused, resumed = s.guard.events
    assert (paused.kind, paused.source, paused.ts) == (E.PAUSED, S.STREAM, START_NS + 5 * 10**9)
    assert (resumed.kind, resumed.source, resumed.ts) == (E.RESUMED, S.STREAM, START_NS + 8 * 10**9)
    assert resumed.reason == "no longer: market data stream is stale, not live"


def test_a_coinbase_stream_that_never_connected_holds() -> None:
    stream = CoinbaseStream(StreamConfig(url="ws://127.0.0.1:9"))  # never started
    s = Setup(stream=stream)
    assert s.guard.hold_reason() == "stream: market data stream is connecting, not live"


def test_every_cause_is_named_and_each_lifts_on_its_own() -> None:
    stream = Stream("stale")
    s = Setup(stream=stream)
    foreign = s.exchange.add_order(foreign_order())
    s.guard.tick()
    spoil(s.exchange)
    reason = s.guard.hold_reason()
    assert reason is not None
    assert [part.split(":")[0] for part in reason.split("; ")] == [
        "reconciliation",
        "exchange",
        "stream",
    ]
    stream.state = "live"
    s.guard.clear_reconciliation(by="bob")
    s.later(1)
    s.guard.tick()  # the foreign order is still there: it halts again
    reason = s.guard.hold_reason()
    assert reason is not None
    assert "stream" not in reason
    foreign.cancel(START_NS + 1)
    s.guard.clear_reconciliation(by="bob")
    s.later(1)
    s.guard.tick()
    assert s.guard.hold_reason() is None
