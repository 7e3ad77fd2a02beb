"""Paper runs of 500+ orders through a misbehaving local exchange end equal to its own record.

A seeded random trader (market and limit orders, buys and sells within its cash and
position, cancels) runs on synthetic bars through our Coinbase adapter against the local
Coinbase-compatible exchange, in lockstep. Faults are armed at bars spread through the run on
POST /orders, the cancel route, GET fills and GET order: 5xx before and after the exchange
commits, dropped connections after it commits, malformed bodies, delays, 429 bursts with the
exchange's own rate-limit headers, and all of them at once from a seeded plan. Afterwards our
record must be the exchange's: one exchange order per client order id, the same fills by
trade id (none lost, none twice), the same order states, and cash and positions equal to its
balances. Bad input (a malformed body, an unknown status, a negative size, a product that is
not listed) must give a clear error naming route and field, set the order aside, pause
trading, and be caught up later, never crash the run.

Time is virtual: the client's token bucket, its backoffs and 429 pauses, and the exchange's
rate limiter all read one clock that only the client's sleeps move, so no test waits for real
time and the 429 check counts requests against that clock, not the wall.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.backtest.result import BacktestResult
from coinswarm.data.synthetic import synthetic_market
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.clock import Clock
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.base import Venue
from coinswarm.exchanges.local_faults import Burst, FaultSchedule, LoggedRequest, RouteFault
from coinswarm.exchanges.local_session import LockstepSession, Pacing, lockstep_session
from coinswarm.exchanges.remote import UNRESOLVED_PREFIX
from coinswarm.exchanges.remote_doubts import IncidentKind
from coinswarm.execution.reconcile import expected_balances
from coinswarm.strategies.base import CancelRequest, Intent, StrategyContext

CASH = Decimal(100_000)
QUOTE = "USDT"
BARS = 85  # per instrument; two instruments make 170 steps, about 580 orders
TRIES_PER_BAR = 4
CLEAN_TAIL = 25  # the last steps carry no fault, so every doubt is settled before the end


class VirtualTime:
    """One monotonic clock for both sides; only sleeping moves it, so nothing really waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 1_000.0

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)


class RandomTrader:
    """Trade at random within cash and position: market and limit orders, buys, sells, cancels.

    It reads its open orders from the venue's in-memory view (no exchange call), so that it
    can cancel some of them.
    """

    name = "random-trader"

    def __init__(self, seed: int, venue: _Holder) -> None:
        self._rng = random.Random(seed)
        self._venue = venue

    def on_bar(self, bar: Bar, context: StrategyContext) -> list[Intent]:
        return [
            intent for _ in range(TRIES_PER_BAR) if (intent := self._one(bar, context)) is not None
        ]

    def _one(self, bar: Bar, context: StrategyContext) -> Intent | None:
        rng = self._rng
        roll = rng.random()
        quantity = Decimal(rng.randint(1, 40)) / 1000
        held = context.position(bar.instrument)
        side = OrderSide.BUY if roll < 0.55 or held < quantity else OrderSide.SELL
        if roll < 0.85:
            return self._order(bar, context, side, quantity, limit=rng.random() < 0.45)
        mine = [o for o in self._venue.get().open_orders(bar.instrument) if o.is_live]
        return CancelRequest(rng.choice(mine).order_id) if mine else None

    def _order(
        self, bar: Bar, context: StrategyContext, side: OrderSide, quantity: Decimal, *, limit: bool
    ) -> OrderRequest:
        cid = context.next_client_order_id(bar.instrument)
        if not limit:
            return OrderRequest(
                client_order_id=cid, instrument=bar.instrument, side=side, quantity=quantity
            )
        away = Decimal(1) - side.sign * Decimal(self._rng.randint(1, 100)) / 10_000
        price = (Decimal(repr(bar.close)) * away).quantize(Decimal("0.01"))
        return OrderRequest(
            client_order_id=cid,
            instrument=bar.instrument,
            side=side,
            type=OrderType.LIMIT,
            quantity=quantity,
            limit_price=price,
        )


class _Holder:
    """The session a run's venue factory opened, for the strategy and the checks."""

    def __init__(self) -> None:
        self.session: LockstepSession | None = None

    def get(self) -> Venue:
        assert self.session is not None
        return self.session.remote


@dataclass(frozen=True)
class Outcome:
    result: BacktestResult
    session: LockstepSession
    instruments: Mapping[str, Instrument]


def _market(bars: int = BARS) -> list[BarSeries]:
    return [
        synthetic_market(instrument=f"AAA-{QUOTE}", bars=bars, seed=11),
        synthetic_market(instrument=f"BBB-{QUOTE}", bars=bars, seed=12, start_price=1_500.0),
    ]


@contextmanager
def _factory(
    holder: _Holder, market: Sequence[BarSeries], schedule: FaultSchedule, pacing: Pacing
) -> Iterator[object]:
    with ExitStack() as stack:

        def venue(
            instruments: Mapping[str, Instrument], clock: Clock, config: BacktestConfig
        ) -> Venue:
            session = lockstep_session(
                market,
                instruments,
                clock=clock,
                cash=config.initial_cash,
                fill_model=config.fill_model,
                faults=schedule,
                pacing=pacing,
            )
            holder.session = stack.enter_context(session)
            return holder.session.remote

        yield venue


def _run(
    schedule: FaultSchedule, *, pacing: Pacing | None = None, bars: int = BARS, seed: int = 3
) -> Outcome:
    clock = VirtualTime()
    pacing = pacing or Pacing(monotonic=clock.monotonic, sleep=clock.sleep, seed=seed)
    market, holder = _market(bars), _Holder()
    with _factory(holder, market, schedule, pacing) as venue:
        result = run_backtest(
            market,
            RandomTrader(seed, holder),
            BacktestConfig(initial_cash=CASH),
            venue=venue,  # type: ignore[arg-type]
        )
    assert holder.session is not None
    instruments = {s.instrument: holder.session.exchange.instrument(s.instrument) for s in market}
    return Outcome(result, holder.session, {k: v for k, v in instruments.items() if v})


# -- the checks ---------------------------------------------------------------------------------


def _assert_one_exchange_order_per_client_id(outcome: Outcome) -> None:
    theirs = outcome.session.exchange.engine_orders()
    counts = Counter(o.client_order_id for o in theirs)
    assert [cid for cid, n in counts.items() if n > 1] == []
    ours = {o.client_order_id for o in outcome.result.orders}
    assert set(counts) <= ours, "the exchange holds an order we never asked for"


def _fill_key(fill: object) -> tuple[object, ...]:
    return tuple(
        getattr(fill, k) for k in ("order_id", "instrument", "side", "quantity", "price", "fee")
    )


def _assert_fills_equal(outcome: Outcome) -> None:
    ours = outcome.result.fills
    theirs = outcome.session.exchange.fills()
    assert len({f.trade_id for f in ours}) == len(ours), "a fill was booked twice"
    assert {f.trade_id: _fill_key(f) for f in ours} == {f.trade_id: _fill_key(f) for f in theirs}


def _assert_orders_equal(outcome: Outcome) -> None:
    ours = {o.order_id: o for o in outcome.result.orders}
    for theirs in outcome.session.exchange.engine_orders():
        if theirs.status is OrderStatus.REJECTED:
            continue  # a refused order has no id a client ever sees
        mine = ours.get(theirs.order_id)
        assert mine is not None, f"exchange order {theirs.order_id} is missing here"
        assert (mine.status, mine.filled_quantity) == (theirs.status, theirs.filled_quantity)
    stand_ins = [o for o in outcome.result.orders if o.order_id.startswith(UNRESOLVED_PREFIX)]
    assert all(o.status is OrderStatus.REJECTED for o in stand_ins), "an order stayed in doubt"


def _assert_balances_equal(outcome: Outcome) -> None:
    ledger = Ledger(outcome.instruments, QUOTE)
    ledger.deposit(QUOTE, CASH, 0, "initial cash")
    for fill in outcome.result.fills:
        ledger.record(fill)
    ours = expected_balances(ledger, outcome.instruments)
    theirs = {c: total for c, (total, _) in outcome.session.exchange.balances().items()}
    assert {c: v for c, v in ours.items() if v} == {c: v for c, v in theirs.items() if v}


def _assert_ledger_is_the_exchanges(outcome: Outcome, *, min_orders: int = 500) -> None:
    sent = outcome.session.exchange.engine_orders()
    assert len(sent) >= min_orders, f"only {len(sent)} orders reached the exchange"
    _assert_one_exchange_order_per_client_id(outcome)
    _assert_fills_equal(outcome)
    _assert_orders_equal(outcome)
    _assert_balances_equal(outcome)
    assert not outcome.session.remote.paused, outcome.session.remote.pause_reason


def _fired(outcome: Outcome) -> set[tuple[str, str]]:
    return {(route, kind) for _, route, kind in outcome.session.faults.fired}


# -- fault plans --------------------------------------------------------------------------------

STEPS = 2 * BARS
ROUTES_UNDER_TEST = ("create", "cancel", "fills", "get_order")


def _spread(
    kind: str, when: str, *, times: int = 2, every: int = 17, **extra: object
) -> list[RouteFault]:
    """Arm `kind` on each route under test at steps spread through the run."""
    faults = []
    for index, step in enumerate(range(8, STEPS - CLEAN_TAIL, every)):
        route = ROUTES_UNDER_TEST[index % len(ROUTES_UNDER_TEST)]
        faults.append(
            RouteFault(step=step, route=route, kind=kind, when=when, times=times, **extra)  # type: ignore[arg-type]
        )
    return faults


def _lost_answers(kind: str, **extra: object) -> list[RouteFault]:
    """Lose two answers to the same order and the lookups between: its outcome stays unknown."""
    return [
        RouteFault(step=40, route="create", kind=kind, when="after", times=2, **extra),  # type: ignore[arg-type]
        RouteFault(step=40, route="list_orders", kind="status", status_code=503, times=8),
    ]


LOST_ANSWERS = ("5xx after commit", "dropped after commit")
PLANS = {
    "5xx before commit": lambda: _spread("status", "before", status_code=503, times=3),
    "5xx after commit": lambda: (
        _spread("status", "after", status_code=502) + _lost_answers("status", status_code=502)
    ),
    "dropped after commit": lambda: _spread("drop", "after") + _lost_answers("drop"),
    "malformed body": lambda: _spread("malformed", "after"),
    "delays": lambda: _spread("delay", "before", delay_s=0.01, times=3),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_each_fault_kind_in_turn_ends_with_the_exchanges_record(name: str) -> None:
    plan = PLANS[name]()
    outcome = _run(FaultSchedule(plan))
    _assert_ledger_is_the_exchanges(outcome)
    assert {r for r, _ in _fired(outcome)} >= set(ROUTES_UNDER_TEST), "a fault never fired"
    if name in LOST_ANSWERS:
        # The order sent twice with both answers lost was picked up later by its client id.
        caught = [i for i in outcome.session.remote.incidents if i.kind is IncidentKind.CAUGHT_UP]
        assert any("found as exchange order" in i.detail for i in caught), caught


def test_429_bursts_are_respected() -> None:
    """Another holder of the key spends its tokens; our client meets real 429s and backs off."""
    clock = VirtualTime()
    pacing = Pacing(
        client_per_second=10.0,  # the adapter's default budget
        exchange_per_second=30.0,  # Coinbase's private limit
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        seed=5,
    )
    bursts = [Burst(step, 3) for step in range(10, STEPS - CLEAN_TAIL, 23)]
    outcome = _run(FaultSchedule(bursts=bursts), pacing=pacing)
    _assert_ledger_is_the_exchanges(outcome)
    log = outcome.session.requests.entries
    refused = [r for r in log if r.status == 429]
    assert len(refused) >= len(bursts) // 2, "the bursts should have met our requests"
    assert all(r.reset_s is not None for r in refused), "a 429 without x-ratelimit-reset"
    _assert_waited_after_each_429(log)
    _assert_no_window_over_the_limit(log, after=refused[0].at, limit=30)


def _assert_waited_after_each_429(log: Sequence[LoggedRequest]) -> None:
    for refused, following in itertools.pairwise(log):
        if refused.status == 429:
            assert refused.reset_s is not None
            assert following.at >= refused.at + refused.reset_s, (refused, following)


def _assert_no_window_over_the_limit(
    log: Sequence[LoggedRequest], *, after: float, limit: int
) -> None:
    times = [r.at for r in log if r.at >= after]
    start = 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        assert end - start + 1 <= limit, f"{end - start + 1} requests within one second"


def test_every_fault_together_from_a_seeded_plan() -> None:
    rng = random.Random(2024)
    kinds = [
        ("status", "before"),
        ("status", "after"),
        ("drop", "after"),
        ("malformed", "after"),
        ("delay", "before"),
    ]
    plan = []
    for _ in range(24):
        kind, when = rng.choice(kinds)
        plan.append(
            RouteFault(
                step=rng.randrange(5, STEPS - CLEAN_TAIL),
                route=rng.choice(ROUTES_UNDER_TEST),  # type: ignore[arg-type]
                kind=kind,  # type: ignore[arg-type]
                when=when,  # type: ignore[arg-type]
                times=rng.randint(1, 3),
                status_code=rng.choice([500, 502, 503]),
                delay_s=0.01,
            )
        )
    plan += _lost_answers("drop")
    bursts = [Burst(rng.randrange(5, STEPS - CLEAN_TAIL), rng.randint(1, 4)) for _ in range(4)]
    clock = VirtualTime()
    pacing = Pacing(
        client_per_second=10.0,
        exchange_per_second=30.0,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        seed=9,
    )
    outcome = _run(FaultSchedule(plan, bursts), pacing=pacing)
    _assert_ledger_is_the_exchanges(outcome)
    _assert_waited_after_each_429(outcome.session.requests.entries)


BAD_INPUT = (
    # (step, route, field edited or "" for a malformed body, value, what the error must name)
    (20, "get_order", "order.status", "FROBNICATED", "order.status"),
    (35, "get_order", "order.filled_size", "-0.5", "order.filled_size"),
    (50, "get_order", "order.product_id", "GONE-USDT", "product_id"),
    (65, "fills", "fills.0.size", "-1", "fills.0.size"),
    (80, "fills", "fills.0.product_id", "GONE-USDT", "product_id"),
    (95, "get_order", "", None, "body"),
    (105, "fills", "", None, "body"),
)


def _bad_input_plan() -> list[RouteFault]:
    plan = []
    for step, route, field, value, _ in BAD_INPUT:
        if field:
            fault = RouteFault(
                step=step,
                route=route,
                kind="edit",
                edit_field=field,
                edit_value=value,  # type: ignore[arg-type]
            )
        else:
            fault = RouteFault(step=step, route=route, kind="malformed")  # type: ignore[arg-type]
        plan.append(fault)
    return plan


def test_bad_input_is_set_aside_pauses_trading_and_is_caught_up() -> None:
    outcome = _run(FaultSchedule(_bad_input_plan()), bars=70)
    _assert_ledger_is_the_exchanges(outcome, min_orders=250)
    fired = outcome.session.faults.fired
    assert len([f for f in fired if f[2] in ("edit", "malformed")]) == len(BAD_INPUT)
    incidents = outcome.session.remote.incidents
    aside = [i for i in incidents if i.kind is IncidentKind.SET_ASIDE]
    for _, route, _, _, named in BAD_INPUT:
        where = "/orders/historical/fills" if route == "fills" else "/orders/historical/"
        assert any(
            named in i.detail
            and (where in i.detail or "list_fills" in i.detail or "get_order" in i.detail)
            for i in aside
        ), (named, aside)
    caught = {i.subject for i in incidents if i.kind is IncidentKind.CAUGHT_UP}
    assert {i.subject for i in aside} <= caught, "something set aside was never caught up"
    paused = [
        o for o in outcome.result.orders if (o.reject_reason or "").startswith("trading paused")
    ]
    assert paused, "no order waited while something was set aside"
    assert all("set aside for reconciliation" in (o.reject_reason or "") for o in paused)
