"""Reconciliation of our ledger and orders against an exchange (scenarios 13, 14 and 20).

The exchange is `FakeExchange`, an in-memory implementation of the port; the same reconciler
runs against the local Coinbase exchange in tests/integration/test_coinbase_reconcile.py.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.fill import Fill
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.coinbase import ExchangeDataError
from coinswarm.execution.opening import read_opening
from coinswarm.execution.reconcile import (
    AccountHistory,
    DifferenceKind,
    Reconciler,
    ReconcileSettings,
    expected_balances,
    reconcile,
)
from coinswarm.risk.kill_switch import KillSwitch, KillSwitchEventKind
from coinswarm.risk.profiles import profile_for
from exchange_fakes import FakeExchange
from generators import BTC, INSTRUMENTS, START_NS, fill_sequences

D = Decimal
K = DifferenceKind
CASH = D(1_000_000)


def fill(n: int, side: OrderSide = OrderSide.BUY, qty: str = "0.1", price: str = "20000") -> Fill:
    return Fill(
        trade_id=f"T{n}",
        order_id=f"O{n}",
        client_order_id=f"C{n}",
        instrument=BTC.symbol,
        side=side,
        quantity=D(qty),
        price=D(price),
        fee=D("1.2"),
        fee_currency="USDT",
        ts=START_NS + n,
    )


def resting(order_id: str, cid: str, status: OrderStatus = OrderStatus.OPEN) -> Order:
    request = OrderRequest(
        client_order_id=cid,
        instrument=BTC.symbol,
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        quantity=D("0.1"),
        limit_price=D("10000"),
    )
    order = Order(order_id, request, START_NS)
    if status is not OrderStatus.NEW:
        order.accept(START_NS)
    if status is OrderStatus.CANCELLED:
        order.cancel(START_NS + 1)
    return order


def books(*, cash: Decimal = CASH) -> tuple[FakeExchange, Ledger]:
    exchange = FakeExchange(INSTRUMENTS, {"USDT": cash})
    ledger = Ledger(INSTRUMENTS, "USDT")
    ledger.deposit("USDT", cash, START_NS)
    return exchange, ledger


def both(exchange: FakeExchange, ledger: Ledger, *fills: Fill) -> None:
    for f in fills:
        exchange.add_fill(f)
        ledger.record(f)


def run(exchange: FakeExchange, ledger: Ledger, orders: dict[str, Order] | None = None, **kw):
    return reconcile(
        exchange,
        ledger,
        {} if orders is None else orders,
        instruments=INSTRUMENTS,
        ts=START_NS,
        **kw,
    )


def kinds(report) -> list[DifferenceKind]:
    return [d.kind for d in report.differences]


# -- fills -------------------------------------------------------------------------------------


def test_agreeing_books_are_clean_and_nothing_is_sent():
    exchange, ledger = books()
    both(exchange, ledger, fill(1), fill(2, OrderSide.SELL, "0.05", "21000"))
    report = run(exchange, ledger)
    assert report.clean
    assert not report.trading_paused
    assert report.pause_reason == ""
    assert exchange.placed == []
    assert exchange.cancelled == []


def test_a_fill_we_missed_is_back_filled_once():
    exchange, ledger = books()
    both(exchange, ledger, fill(1))
    exchange.add_fill(fill(2))
    orders = {"O2": resting("O2", "C2", OrderStatus.CANCELLED)}  # known; its fill was missed
    report = run(exchange, ledger, orders)
    assert kinds(report) == [K.MISSING_LOCAL_FILL]
    assert [f.trade_id for f in report.backfilled] == ["T2"]
    assert not report.trading_paused
    assert "T2" in report.lines()[0]
    assert [f.trade_id for f in ledger.fills] == ["T1", "T2"]
    assert run(exchange, ledger, orders).clean  # idempotent: the second run records nothing


def test_a_fill_only_we_have_halts_and_its_balance_gap_is_not_booked():
    exchange, ledger = books()
    both(exchange, ledger, fill(1))
    ledger.record(fill(2))
    report = run(exchange, ledger)
    assert report.trading_paused
    assert kinds(report)[0] is K.UNKNOWN_FILL
    assert "fill T2" in report.pause_reason
    assert set(kinds(report)[1:]) == {K.BALANCE_UNSETTLED}
    assert report.deposits == ()
    assert exchange.placed == []


def test_the_same_trade_id_with_other_contents_halts():
    exchange, ledger = books()
    exchange.add_fill(fill(1))
    ledger.record(replace(fill(1), price=D("20001")))
    report = run(exchange, ledger)
    assert K.CONFLICTING_FILL in kinds(report)
    assert report.trading_paused
    assert "20001" in report.pause_reason


def test_a_fill_without_our_client_id_is_still_the_same_fill():
    exchange, ledger = books()
    exchange.add_fill(replace(fill(1), client_order_id=""))
    ledger.record(fill(1))
    assert run(exchange, ledger).clean


# -- orders (scenarios 13 and 14) --------------------------------------------------------------


def test_s13_an_unknown_order_with_our_client_id_is_adopted_after_a_targeted_query():
    exchange, ledger = books()
    exchange.add_order(resting("X1", "ours-1"))
    orders: dict[str, Order] = {}
    report = run(exchange, ledger, orders, client_order_ids={"ours-1"})
    assert kinds(report) == [K.ADOPTED_ORDER]
    assert not report.trading_paused
    assert exchange.lookups == ["X1"]
    assert orders["X1"].client_order_id == "ours-1"
    assert [o.order_id for o in report.adopted] == ["X1"]
    assert run(exchange, ledger, orders, client_order_ids={"ours-1"}).clean


def test_s13_an_unknown_order_that_is_not_ours_halts_and_is_not_adopted():
    exchange, ledger = books()
    exchange.add_order(resting("X2", "someone-else"))
    orders: dict[str, Order] = {}
    report = run(exchange, ledger, orders, client_order_ids={"ours-1"})
    assert kinds(report) == [K.FOREIGN_ORDER]
    assert report.trading_paused
    assert "'someone-else'" in report.pause_reason
    assert orders == {}
    assert exchange.placed == exchange.cancelled == []


def test_s13_an_order_known_only_by_its_fill_is_adopted_when_ours():
    exchange, ledger = books()
    done = resting("O7", "ours-7")
    done.apply_fill(replace(fill(7), quantity=D("0.1"), client_order_id="ours-7"))
    exchange.add_order(done)
    exchange.add_fill(replace(fill(7), client_order_id="ours-7"))
    orders: dict[str, Order] = {}
    report = run(exchange, ledger, orders, client_order_ids={"ours-7"})
    assert kinds(report) == [K.MISSING_LOCAL_FILL, K.ADOPTED_ORDER]
    assert orders["O7"].status is OrderStatus.FILLED


def test_s14_an_order_the_exchange_cancelled_gets_its_real_state():
    exchange, ledger = books()
    exchange.add_order(resting("L1", "ours-l1", OrderStatus.CANCELLED))
    orders = {"L1": resting("L1", "ours-l1")}
    report = run(exchange, ledger, orders)
    assert kinds(report) == [K.CLOSED_AT_EXCHANGE]
    assert not report.trading_paused
    assert orders["L1"].status is OrderStatus.CANCELLED
    assert "CANCELLED at the exchange" in report.lines()[0]


def test_a_local_live_order_the_exchange_never_saw_halts():
    exchange, ledger = books()
    orders = {"L2": resting("L2", "ours-l2")}
    report = run(exchange, ledger, orders)
    assert kinds(report) == [K.ORDER_UNKNOWN_TO_EXCHANGE]
    assert report.trading_paused
    assert orders["L2"].status is OrderStatus.OPEN


# -- balances (scenarios 13 and 14) ------------------------------------------------------------


def test_s14_an_outside_deposit_is_recorded_as_a_deposit():
    exchange, ledger = books()
    exchange.deposit("USDT", D(500))
    report = run(exchange, ledger)
    assert kinds(report) == [K.OUTSIDE_DEPOSIT]
    assert not report.trading_paused
    assert [(d.currency, d.amount) for d in report.deposits] == [("USDT", D(500))]
    assert ledger.cash() == CASH + 500
    assert run(exchange, ledger).clean


def test_s13_an_unexplained_shortfall_halts_and_nothing_is_traded_to_fix_it():
    exchange, ledger = books()
    exchange.deposit("BTC", D("-0.5"))
    report = run(exchange, ledger)
    assert kinds(report) == [K.BALANCE_SHORTFALL]
    assert report.trading_paused
    assert "BTC: exchange -0.5, ours 0" in report.pause_reason
    assert exchange.placed == []


def test_a_gap_within_one_increment_is_no_difference():
    exchange, ledger = books()
    exchange.deposit("USDT", D("0.01"))  # one price increment
    exchange.deposit("BTC", D("0.00001"))  # one size increment
    assert run(exchange, ledger).clean
    wider = ReconcileSettings(tolerances={"USDT": D(0)})
    assert kinds(run(exchange, ledger, settings=wider)) == [K.OUTSIDE_DEPOSIT]


# -- bad input from the exchange ---------------------------------------------------------------


class BrokenFills(FakeExchange):
    def list_fills(self, *, since_ts=None):
        raise ExchangeDataError(
            "GET /api/v3/brokerage/orders/historical/fills", "fills.0.size", "-1"
        )


def test_an_unreadable_exchange_pauses_trading_and_names_the_route_and_field():
    broken = BrokenFills(INSTRUMENTS, {"USDT": CASH})
    ledger = Ledger(INSTRUMENTS, "USDT")
    report = run(broken, ledger)
    assert kinds(report) == [K.EXCHANGE_UNREADABLE]
    assert report.trading_paused
    assert "orders/historical/fills" in report.pause_reason
    assert "fills.0.size" in report.pause_reason


class MovingFills(FakeExchange):
    """An exchange on which a fill lands between every two reads."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads = 0

    def list_fills(self, *, since_ts=None):
        self.reads += 1
        self.add_fill(fill(100 + self.reads))
        return super().list_fills(since_ts=since_ts)


def test_an_exchange_that_keeps_filling_is_not_misread_as_a_deposit():
    moving = MovingFills(INSTRUMENTS, {"USDT": CASH})
    ledger = Ledger(INSTRUMENTS, "USDT")
    ledger.deposit("USDT", CASH, START_NS)
    report = run(moving, ledger, settings=ReconcileSettings(read_attempts=2))
    assert kinds(report) == [K.EXCHANGE_UNREADABLE]
    assert "kept changing" in report.pause_reason
    assert report.deposits == ()


# -- the periodic reconciler -------------------------------------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_the_reconciler_runs_at_start_then_every_interval():
    exchange, ledger = books()
    ticks = Ticks()
    reconciler = Reconciler(
        exchange,
        ledger,
        {},
        instruments=INSTRUMENTS,
        clock=HistoricalClock(START_NS),
        monotonic=ticks,
        settings=ReconcileSettings(interval_s=30),
    )
    assert reconciler.due(ticks.now)
    reconciler.run()
    assert not reconciler.due(ticks.now + 29.9)
    assert reconciler.due(ticks.now + 30)


def test_a_halt_holds_until_a_person_clears_it_even_when_the_cause_is_gone():
    exchange, ledger = books()
    foreign = exchange.add_order(resting("X3", "not-ours"))
    ticks = Ticks()
    reconciler = Reconciler(
        exchange,
        ledger,
        {},
        instruments=INSTRUMENTS,
        clock=HistoricalClock(START_NS),
        monotonic=ticks,
        client_order_ids=lambda: {"ours"},
    )
    assert reconciler.run().trading_paused
    foreign.cancel(START_NS + 5)
    ticks.now += 120
    assert reconciler.run().clean
    assert reconciler.paused
    assert "X3" in reconciler.pause_reason
    with pytest.raises(ValueError, match="name the person"):
        reconciler.clear(by=" ")
    assert "X3" in reconciler.clear(by="alice")
    assert not reconciler.paused


# -- scenario 20: a loss limit crossed by a late fill ------------------------------------------


def test_s20_a_loss_limit_crossed_by_a_late_fill_is_judged_on_reconciled_fills():
    exchange, ledger = books(cash=D(10_000))
    zero_fee = D(0)
    first = replace(fill(1, qty="0.1"), fee=zero_fee)
    late = replace(fill(2, qty="0.4"), fee=zero_fee)  # filled at the exchange, answer lost here
    both(exchange, ledger, first)
    exchange.add_fill(late)
    kill = KillSwitch(profile_for(3))  # 1% daily loss
    assert kill.on_mark(START_NS, ledger.equity({BTC.symbol: D(20_000)})) == ()
    marks = {BTC.symbol: D(19_200)}
    assert kill.on_mark(START_NS + 1, ledger.equity(marks)) == ()  # -0.8% on our partial view

    report = run(exchange, ledger)
    assert [f.trade_id for f in report.backfilled] == ["T2"]
    events = kill.on_mark(START_NS + 2, ledger.equity(marks))  # -4% once the late fill is in
    assert [e.kind for e in events] == [KillSwitchEventKind.DAILY_LOSS_STOP]
    assert events[0].cancel_open_orders
    assert not kill.allows_new_exposure(START_NS + 2)


# -- the property ------------------------------------------------------------------------------


def known_orders(fills: list[Fill]) -> dict[str, Order]:
    """Return a finished order for each fill: we knew every order, and missed some fills."""
    return {
        f.order_id: resting(f.order_id, f.client_order_id, OrderStatus.CANCELLED) for f in fills
    }


SPLITS = st.sampled_from(["ours", "theirs", "both"])


@given(fills=fill_sequences(max_size=25), data=st.data())
def test_after_back_filling_the_ledger_equals_the_exchange_by_trade_id(fills, data):
    exchange, ledger = books()
    orders = known_orders(fills)
    for f in fills:
        where = data.draw(st.sampled_from(["theirs", "both"]))
        exchange.add_fill(f)
        if where == "both":
            ledger.record(f)
    report = run(exchange, ledger, orders)
    assert not report.trading_paused, report.lines()
    assert {f.trade_id for f in ledger.fills} == {f.trade_id for f in exchange.list_fills()}
    ours = expected_balances(ledger, INSTRUMENTS)
    theirs = exchange.balances()
    for currency in set(ours) | set(theirs):
        assert ours.get(currency, D(0)) == theirs.get(currency, D(0)), currency
    assert report.deposits == ()
    assert run(exchange, ledger, orders).clean


@given(fills=fill_sequences(max_size=25), data=st.data())
def test_fills_only_we_have_always_halt_and_are_each_named(fills, data):
    exchange, ledger = books()
    orders = known_orders(fills)
    only_ours = set()
    for f in fills:
        where = data.draw(SPLITS)
        if where != "ours":
            exchange.add_fill(f)
        if where != "theirs":
            ledger.record(f)
        if where == "ours":
            only_ours.add(f.trade_id)
    report = run(exchange, ledger, orders)
    named = {d.subject for d in report.differences if d.kind is K.UNKNOWN_FILL}
    assert named == only_ours
    assert report.trading_paused == bool(only_ours)
    assert report.deposits == ()
    assert {f.trade_id for f in ledger.fills} == {f.trade_id for f in fills}


# -- an account with a history (a session that starts after others traded) --------------------


def _traded_before() -> FakeExchange:
    """Return an account where someone bought and partly sold before any session."""
    exchange = FakeExchange(INSTRUMENTS, {"USDT": CASH})
    exchange.add_fill(fill(1))
    exchange.add_fill(fill(2, OrderSide.SELL, "0.04", "21000"))
    return exchange


def test_an_account_s_history_is_its_opening_book_neither_back_filled_nor_a_stranger():
    exchange = _traded_before()
    opening = read_opening(exchange)
    ledger = Ledger(INSTRUMENTS, "USDT")
    opening.book(ledger, "USDT", START_NS)
    report = run(exchange, ledger, history=opening.history)
    assert report.clean, report.lines()
    assert ledger.fills == ()
    assert exchange.lookups == [], "no order of the history was looked up as a stranger"
    ours = expected_balances(ledger, INSTRUMENTS)
    theirs = exchange.balances()
    for currency in set(ours) | set(theirs):
        assert ours.get(currency, D(0)) == theirs.get(currency, D(0)), currency


def test_after_the_history_a_fill_of_an_order_not_ours_still_halts():
    exchange = _traded_before()
    opening = read_opening(exchange)
    ledger = Ledger(INSTRUMENTS, "USDT")
    opening.book(ledger, "USDT", START_NS)
    exchange.add_order(resting("O3", "someone-else", OrderStatus.CANCELLED))
    exchange.add_fill(fill(3))  # after the session started, on an order that is not ours
    report = run(exchange, ledger, history=opening.history)
    assert K.FOREIGN_ORDER in kinds(report)
    assert report.trading_paused
    assert "'someone-else'" in report.pause_reason


def test_a_balance_that_moves_after_the_opening_read_is_a_difference():
    exchange = _traded_before()
    opening = read_opening(exchange)
    ledger = Ledger(INSTRUMENTS, "USDT")
    opening.book(ledger, "USDT", START_NS)
    exchange.deposit("USDT", D(5))
    report = run(exchange, ledger, history=opening.history)
    assert kinds(report) == [K.OUTSIDE_DEPOSIT], "live's start check refuses any difference"


@given(ts=st.integers(START_NS - 5, START_NS + 5), listed=st.booleans())
def test_history_holds_what_is_older_than_its_end_and_what_was_listed_at_it(ts, listed):
    history = AccountHistory(START_NS, frozenset({"T-listed"}))
    candidate = replace(fill(0), trade_id="T-listed" if listed else "T-new", ts=ts)
    assert history.holds(candidate) == (ts < START_NS or (ts == START_NS and listed))
    assert not AccountHistory().holds(candidate), "an account without fills has no history"
    assert AccountHistory.from_json(history.to_json()) == history
