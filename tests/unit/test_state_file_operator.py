"""The person behind the risk state file, as a running session follows them (scenario 19).

A session is `run_live` over the simulated exchange with a `StateFileOperator`; the person is
`coinswarm risk stop|reset --state FILE`, run between two bars (or, to catch a race, while the
session is between reading the file and saving its own state). What is asked of it: a stop
cancels resting orders and blocks new ones from the next bar, a reset lets it trade again, a
breaker trip is in the file, and no action a person writes is ever lost, whatever the session
saves in the meantime or however often it restarts.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coinswarm.backtest.engine import BacktestConfig, Operator, run_live
from coinswarm.backtest.result import BacktestResult
from coinswarm.cli.risk import risk_reset, risk_stop
from coinswarm.domain.bar import NS_PER_SECOND, Bar
from coinswarm.domain.clock import Clock, HistoricalClock
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.base import Venue
from coinswarm.exchanges.simulated import SimulatedExchange
from coinswarm.orchestration.door import Door
from coinswarm.orchestration.state_file_operator import StateFileOperator
from coinswarm.risk.circuit_breaker import BreakerEventKind
from coinswarm.risk.kill_switch import KillSwitchEventKind, StopKind
from coinswarm.risk.profiles import NS_PER_HOUR, profile_for
from coinswarm.risk.state_file import StoredRiskState, load_risk_state
from coinswarm.strategies.base import Intent, StrategyContext
from generators import INSTRUMENTS

SYMBOL = "BTC-USDT"
MINUTE = 60 * NS_PER_SECOND
START = 1_600_000_000 * NS_PER_SECOND // MINUTE * MINUTE
SANDBOX = profile_for(2)  # a trip cools down for an hour; it does not latch at once
D = Decimal


def minute_bars(count: int, *, drops_at: Iterable[int] = (), first: int = 0) -> list[Bar]:
    """Return flat one-minute bars at 100, with a 12% fall inside each bar listed."""
    drops = set(drops_at)
    return [
        Bar(SYMBOL, START + i * MINUTE, 100.0, 100.1, 88.0 if i in drops else 99.9, 100.0, 50.0)
        for i in range(first, first + count)
    ]


class RecordingExchange(SimulatedExchange):
    """The simulated exchange, remembering the id of every order it was sent."""

    def __init__(self, instruments: Mapping[str, Instrument], clock: Clock) -> None:
        super().__init__(instruments, clock, balances={"USDT": D(10_000)})
        self.issued: list[str] = []

    def place_order(self, request: OrderRequest) -> Order:
        order = super().place_order(request)
        self.issued.append(order.order_id)
        return order


class RestingBids:
    """Ask for a small bid far below the market on every bar, so some always rest."""

    name = "resting-bids"

    def __init__(self) -> None:
        self.placed: dict[str, int] = {}  # client order id -> the bar it was asked on

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        cid = context.next_client_order_id(bar.instrument)
        self.placed[cid] = bar.ts
        request = OrderRequest(
            client_order_id=cid,
            instrument=bar.instrument,
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            quantity=D("0.1"),
            limit_price=D(60),
        )
        return [request]


Person = Callable[[Path], None]


def person(kind: str, who: str = "alice", why: str = "looking into it") -> Person:
    """Return a person running `coinswarm risk stop|reset --by WHO --reason WHY --state FILE`."""
    command = risk_stop if kind == "stop" else risk_reset

    def act(path: Path) -> None:
        command(by=who, reason=why, state=path)

    return act


@dataclass
class Session:
    """One life of a session over the simulated exchange, with its risk state file.

    `between[i]` runs before bar `i` of the feed is delivered; `during[i]` runs while bar `i`
    is shown to the risk layer: after the operator read the file, before it saves.
    """

    path: Path
    strategy: RestingBids = field(default_factory=RestingBids)
    exchange: RecordingExchange | None = None

    def run(
        self,
        bars: Sequence[Bar],
        *,
        between: Mapping[int, Person] | None = None,
        during: Mapping[int, Person] | None = None,
    ) -> BacktestResult:
        stored = load_risk_state(self.path)
        clock = HistoricalClock(bars[0].ts)
        config = BacktestConfig(
            instruments=INSTRUMENTS,
            risk=SANDBOX,
            operator_reset_after_ns=None,
            checkpoint_every=1,
            risk_state=stored,
        )
        return run_live(
            self._feed(bars, between or {}),
            self.strategy,
            config,
            instruments=[SYMBOL],
            clock=clock,
            venue=self._venue,
            operator=lambda door: self._operator(door, clock, stored, during or {}),
        )

    def _feed(self, bars: Sequence[Bar], between: Mapping[int, Person]) -> Iterator[Bar]:
        for i, bar in enumerate(bars):
            if i in between:
                between[i](self.path)
            yield bar

    def _venue(self, instruments: Mapping[str, Instrument], clock: Clock, _: object) -> Venue:
        self.exchange = RecordingExchange(instruments, clock)
        return self.exchange

    def _operator(
        self, door: Door, clock: Clock, stored: StoredRiskState, during: Mapping[int, Person]
    ) -> Operator:
        if during:
            on_bar, seen = door.on_bar, iter(range(10**9))

            def racing(bar: Bar) -> None:
                index = next(seen)
                if index in during:
                    during[index](self.path)
                on_bar(bar)

            door.on_bar = racing  # type: ignore[method-assign]
        return StateFileOperator(door, self.path, clock, applied=stored.applied)

    def sent(self, result: BacktestResult, *, asked_from: int, until: int) -> list[Order]:
        """Return the orders the strategy asked for on bars in [asked_from, until)."""
        return [
            o
            for o in result.orders
            if asked_from <= self.strategy.placed[o.client_order_id] < until
        ]


def at_exchange(session: Session) -> dict[str, Order]:
    """Return every order the exchange accepted, by client order id, as the exchange has it."""
    exchange = session.exchange
    assert exchange is not None
    orders = (exchange.get_order(order_id) for order_id in exchange.issued)
    return {o.client_order_id: o for o in orders if o.status is not OrderStatus.REJECTED}


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "risk-state.json"


def test_a_person_s_stop_cancels_resting_orders_and_blocks_new_ones_from_the_next_bar(
    state: Path,
) -> None:
    bars = minute_bars(10)
    session = Session(state)
    result = session.run(bars, between={5: person("stop", why="odd fills")})

    exchange = at_exchange(session)
    before = session.sent(result, asked_from=bars[0].ts, until=bars[5].ts)
    assert len(before) == 5
    for order in before:
        theirs = exchange[order.client_order_id]
        assert theirs.status is OrderStatus.CANCELLED
        assert theirs.updated_ts == bars[5].ts  # cancelled on the first bar after the stop
    after = session.sent(result, asked_from=bars[5].ts, until=bars[-1].ts + 1)
    assert len(after) == 5
    assert not {o.client_order_id for o in after} & set(exchange)
    assert all(o.status is OrderStatus.REJECTED for o in after)
    assert all("circuit breaker: odd fills" in (o.reject_reason or "") for o in after)

    stored = load_risk_state(state)
    assert stored.applied == len(stored.actions) == 1
    assert stored.kill_switch.stops == {StopKind.MANUAL: "odd fills"}
    assert stored.breaker.latched
    assert any("MANUAL_STOP: odd fills (by alice)" in line for line in stored.log)


def test_a_person_s_reset_lets_the_session_trade_again(state: Path) -> None:
    bars = minute_bars(9)
    session = Session(state)
    result = session.run(bars, between={3: person("stop"), 6: person("reset", why="all clear")})

    exchange = at_exchange(session)
    blocked = session.sent(result, asked_from=bars[3].ts, until=bars[6].ts)
    assert len(blocked) == 3
    assert not {o.client_order_id for o in blocked} & set(exchange)
    resumed = session.sent(result, asked_from=bars[6].ts, until=bars[-1].ts + 1)
    assert len(resumed) == 3
    assert all(exchange[o.client_order_id].status is OrderStatus.OPEN for o in resumed)

    stored = load_risk_state(state)
    assert stored.applied == len(stored.actions) == 2
    assert stored.kill_switch.stops == {}
    assert not stored.breaker.tripped
    assert [(e.kind, e.by, e.ts) for e in result.risk_events] == [
        (KillSwitchEventKind.MANUAL_STOP, "alice", bars[3].ts),
        (BreakerEventKind.EMERGENCY_STOP, "alice", bars[3].ts),
        (KillSwitchEventKind.RESET, "alice", bars[6].ts),
        (BreakerEventKind.RESET, "alice", bars[6].ts),
    ]


def test_a_breaker_trip_is_saved_and_holds_across_a_restart_until_a_person_resets_it(
    state: Path,
) -> None:
    first = Session(state)
    result = first.run(minute_bars(8, drops_at=[4]))
    trip_ts = START + 4 * MINUTE
    stored = load_risk_state(state)
    assert stored.breaker.tripped
    assert not stored.breaker.latched  # the sandbox cools down; only a person cuts it short
    assert stored.breaker.tripped_at == trip_ts
    assert stored.breaker.resume_at == trip_ts + NS_PER_HOUR
    assert "moved -12.0% within one bar" in (stored.breaker.reason or "")
    assert any(" TRIP: " in line for line in stored.log)
    exchange = at_exchange(first)
    rested = first.sent(result, asked_from=START, until=trip_ts)
    assert [exchange[o.client_order_id].status for o in rested] == [OrderStatus.CANCELLED] * 4
    after_trip = set(first.strategy.placed) - {o.client_order_id for o in rested}
    assert after_trip
    assert not after_trip & set(exchange)  # the exchange received nothing after the trip

    # A new process, twenty minutes later, within the cool-down: still blocked, then a
    # person's reset (while it runs) lets it trade before the hour is up.
    later = minute_bars(10, first=20)
    second = Session(state)
    result = second.run(later, between={5: person("reset", why="checked the feed")})
    exchange = at_exchange(second)
    blocked = second.sent(result, asked_from=later[0].ts, until=later[5].ts)
    assert len(blocked) == 5
    assert all("circuit breaker" in (o.reject_reason or "") for o in blocked)
    assert not {o.client_order_id for o in blocked} & set(exchange)
    traded = second.sent(result, asked_from=later[5].ts, until=later[-1].ts + 1)
    assert len(traded) == 5
    assert all(exchange[o.client_order_id].status is OrderStatus.OPEN for o in traded)
    stored = load_risk_state(state)
    assert not stored.breaker.tripped
    assert stored.applied == len(stored.actions) == 1


def test_a_stop_written_while_the_session_saves_its_trip_is_applied_on_the_next_bar(
    state: Path,
) -> None:
    seen: list[StoredRiskState] = []
    session = Session(state)
    bars = minute_bars(5, drops_at=[2])
    # The stop lands after the operator read the file at bar 2 and before it saved the trip.
    session.run(
        bars,
        during={2: person("stop", why="flash crash")},
        between={3: lambda path: seen.append(load_risk_state(path))},
    )
    (after_race,) = seen
    assert after_race.breaker.tripped  # the session's trip, saved over the person's stop
    assert not after_race.breaker.latched
    assert len(after_race.actions) == 1
    assert after_race.applied == 0  # the stop is pending, not lost under the session's save
    assert after_race.kill_switch.stops == {}
    stored = load_risk_state(state)
    assert stored.applied == 1
    assert stored.kill_switch.stops == {StopKind.MANUAL: "flash crash"}
    assert stored.breaker.latched


def test_a_restart_applies_the_actions_a_dead_session_left_pending(state: Path) -> None:
    dead = Session(state)
    dead.run(minute_bars(3, drops_at=[2]), during={2: person("stop", why="flash crash")})
    pending = load_risk_state(state)
    assert pending.applied == 0
    assert [a.kind for a in pending.pending] == ["stop"]

    restarted = Session(state)
    later = minute_bars(3, first=3)
    result = restarted.run(later)
    assert all(o.status is OrderStatus.REJECTED for o in result.orders)
    assert at_exchange(restarted) == {}
    stored = load_risk_state(state)
    assert stored.applied == 1
    assert stored.kill_switch.stops == {StopKind.MANUAL: "flash crash"}
    assert stored.breaker.latched


def test_a_pending_action_that_changes_nothing_is_saved_as_applied(state: Path) -> None:
    seen: list[StoredRiskState] = []
    stop_then_reset = lambda path: (person("stop")(path), person("reset")(path))  # noqa: E731
    Session(state).run(
        minute_bars(3),
        between={0: stop_then_reset, 2: lambda path: seen.append(load_risk_state(path))},
        # Lands while bar 0 is saved, so it is pending; applied on bar 1, it changes nothing.
        during={0: person("reset", why="again")},
    )
    (after,) = seen
    assert after.applied == len(after.actions) == 3  # not left pending for ever


# -- any interleaving ----------------------------------------------------------------------

Step = tuple[str, str]
"""("bar" | "crash" | "restart", "") or ("between" | "during", "stop" | "reset")."""

steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["bar", "crash", "restart"]), st.just("")),
        st.tuples(st.sampled_from(["between", "during"]), st.sampled_from(["stop", "reset"])),
    ),
    max_size=14,
)


@dataclass
class Life:
    """One process of the session: its bars (True: a crash inside) and the person's actions."""

    crashes: list[bool] = field(default_factory=list)
    between: dict[int, Person] = field(default_factory=dict)
    during: dict[int, Person] = field(default_factory=dict)


@dataclass
class Expected:
    """The two machines as a person expects them: each action and crash in the order seen."""

    stop: str | None = None  # the kill switch's manual stop
    breaker: str = "open"  # open, tripped (cooling down) or latched
    reason: str | None = None

    def act(self, kind: str, reason: str) -> None:
        if kind == "stop":
            self.stop, self.breaker, self.reason = reason, "latched", reason
        else:
            self.stop, self.breaker, self.reason = None, "open", None

    def crash(self) -> None:
        if self.breaker == "open":  # a closed breaker does not trip again
            self.breaker, self.reason = "tripped", "moved -12.0% within one bar"


def _plan(plan: Sequence[Step]) -> tuple[list[Life], Expected]:
    """Split a plan into lives of a session, and say what the file must end as.

    An action written during a bar is read on the next bar, so it comes after that bar's crash.
    """
    lives, expected = [Life()], Expected()
    waiting: list[Person] = []  # written before the next bar
    racing: list[tuple[Person, str, str]] = []  # written while the next bar is shown
    # Two last bars: an action written during the first is pending until the second.
    for n, (kind, action) in enumerate([*plan, ("bar", ""), ("bar", "")]):
        life = lives[-1]
        if kind == "restart" and life.crashes:
            lives.append(Life())
        elif kind == "between":
            waiting.append(person(action, who=f"p{n}", why=f"action {n}"))
            expected.act(action, f"action {n}")
        elif kind == "during":
            racing.append((person(action, who=f"p{n}", why=f"action {n}"), action, f"action {n}"))
        elif kind in ("bar", "crash"):
            index = len(life.crashes)
            life.crashes.append(kind == "crash")
            if waiting:
                life.between[index] = _all(waiting)
            if racing:
                life.during[index] = _all([act for act, _, _ in racing])
            if kind == "crash":
                expected.crash()
            for _, action_kind, reason in racing:
                expected.act(action_kind, reason)
            waiting, racing = [], []
    return lives, expected


def _all(acts: Sequence[Person]) -> Person:
    def act(path: Path) -> None:
        for each in acts:
            each(path)

    return act


@settings(max_examples=40)
@given(steps)
@example([("between", "stop"), ("between", "reset"), ("during", "reset")])
@example([("crash", ""), ("restart", ""), ("between", "reset"), ("bar", "")])
def test_the_file_ends_as_every_action_applied_in_order_whatever_the_interleaving(
    plan: list[Step],
) -> None:
    lives, expected = _plan(plan)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "risk-state.json"
        first = 0
        for life in lives:
            count = len(life.crashes)
            drops = [first + i for i, crash in enumerate(life.crashes) if crash]
            bars = minute_bars(count, drops_at=drops, first=first)
            Session(path).run(bars, between=life.between, during=life.during)
            first += count
        stored = load_risk_state(path)
    assert stored.applied == len(stored.actions)
    assert len(stored.actions) == sum(kind in ("between", "during") for kind, _ in plan)
    assert stored.kill_switch.stops == (
        {} if expected.stop is None else {StopKind.MANUAL: expected.stop}
    )
    assert stored.breaker.tripped == (expected.breaker != "open")
    assert stored.breaker.latched == (expected.breaker == "latched")
    if expected.reason is None:
        assert stored.breaker.reason is None
    else:
        assert expected.reason in (stored.breaker.reason or "")
