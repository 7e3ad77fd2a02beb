"""The backtest event loop: bars in time order, one strategy, the one door, one ledger.

Each step shows one bar to the fenced view (the engine holds the series; the view holds only
what it was shown), lets the simulated exchange match the orders that were resting before it,
lets the risk layer see the bar, and only then shows the bar to the strategy. Whatever the
strategy asks for is therefore placed after bar t and can meet bar t+1 at the earliest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Protocol

import numpy as np

from coinswarm.backtest.collector import long_lived_frozen
from coinswarm.backtest.context import EngineContext
from coinswarm.backtest.defaults import DEFAULT_CHECKPOINT_EVERY
from coinswarm.backtest.equity import equity_curve
from coinswarm.backtest.operator import SimulatedOperator
from coinswarm.backtest.progress import BarWatch, Progress, RunProgress
from coinswarm.backtest.result import BacktestResult
from coinswarm.data.view import GrowingMarket, MarketView, Show, fenced_feed
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.domain.clock import Clock, HistoricalClock
from coinswarm.domain.costs import FillModel
from coinswarm.domain.errors import InvalidOrderError, UnknownMarkError
from coinswarm.domain.fill import Liquidity
from coinswarm.domain.instrument import Instrument, instrument_from_symbol
from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.domain.order import Order, OrderRequest
from coinswarm.exchanges.base import Venue
from coinswarm.exchanges.simulated import SimulatedExchange
from coinswarm.execution.agent import ExecutionAgent
from coinswarm.execution.journal import Journal, MemoryJournal
from coinswarm.infra.state import KillSwitchFlag
from coinswarm.orchestration.door import TRIM_ACTION, Door, RiskLayer
from coinswarm.risk.account import AccountSnapshot, AccountTracker, pending_requests
from coinswarm.risk.circuit_breaker import CircuitBreaker
from coinswarm.risk.events import RiskNote
from coinswarm.risk.kill_switch import KillSwitch
from coinswarm.risk.oversight import OversightManager
from coinswarm.risk.profiles import RiskProfile
from coinswarm.risk.state_file import StoredRiskState
from coinswarm.strategies.base import CancelRequest, Intent, Rationale, Strategy
from coinswarm.strategies.fence import fenced

__all__ = [
    "BacktestConfig",
    "BarWatch",
    "Book",
    "Operator",
    "OperatorFactory",
    "Progress",
    "VenueFactory",
    "opening_closes",
    "run_backtest",
    "run_live",
    "simulated_venue",
]

VenueFactory = Callable[[Mapping[str, Instrument], Clock, "BacktestConfig"], Venue]
"""Build the exchange a run trades on from its instruments, its clock and its configuration."""


class Operator(Protocol):
    """The person who watches the risk layer: shows it each bar and may reset its stops."""

    def watch(self, bar: Bar) -> None: ...


OperatorFactory = Callable[[Door], Operator]
"""Build the run's operator around its door: the simulated one, or a person's commands."""
PROGRESS_EVERY = 4096
"""Bars between two progress reports of a backtest at full speed (a paced one reports each
timestamp: it waits for the wall clock anyway)."""
DEFAULT_OPERATOR_RESET_NS = 7 * 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestConfig:
    """How to run one backtest.

    Instruments not listed get default increments. `risk` is the profile whose hard limits the
    door enforces; None runs without limits, which only research backtests may do.
    `operator_reset_after_ns` is how long a stop that waits for a person lasts before the
    simulated operator resets it (None: never; the run then trades no more after such a stop).
    `checkpoint_every` is how many bars pass between two checkpoints of the journal: a crash
    loses at most that much work, which a resume replays. `shared_stop` is the kill switch
    every process shares (Redis) as a backtest read it when it started: set, it blocks every
    order of the run, and it is part of the run's identity. `risk_state` is where the kill
    switch and circuit breaker start (a session's saved state); None starts them clean.
    """

    initial_cash: Decimal = Decimal(10_000)
    fill_model: FillModel = field(default_factory=FillModel)
    instruments: Mapping[str, Instrument] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    risk: RiskProfile | None = None
    operator_reset_after_ns: int | None = DEFAULT_OPERATOR_RESET_NS
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    shared_stop: KillSwitchFlag | None = None
    risk_state: StoredRiskState | None = None


@dataclass(frozen=True, slots=True)
class Book:
    """The ledger and orders a live run trades on, kept by its caller.

    A restarted session's carries its ledger and the orders it knew; a new session's holds
    just its opening deposit. The ledger already holds that deposit, so none is made again.
    """

    ledger: Ledger
    orders: Sequence[Order] = ()


def simulated_venue(
    instruments: Mapping[str, Instrument], clock: Clock, config: BacktestConfig
) -> Venue:
    """Return the simulated exchange: the backtest's venue, holding the run's initial cash."""
    quote = next(iter(instruments.values())).quote
    return SimulatedExchange(
        instruments, clock, fill_model=config.fill_model, balances={quote: config.initial_cash}
    )


def _instruments(
    market: Iterable[str], configured: Mapping[str, Instrument]
) -> dict[str, Instrument]:
    instruments = {s: configured.get(s) or instrument_from_symbol(s) for s in market}
    quotes = {i.quote for i in instruments.values()}
    if len(quotes) != 1:
        raise InvalidOrderError(f"expected one quote currency across instruments, found {quotes}")
    return instruments


@dataclass(slots=True)
class _Run:
    """The components of one run, wired together."""

    clock: Clock
    ledger: Ledger
    exchange: Venue
    execution: ExecutionAgent
    context: EngineContext
    door: Door
    operator: Operator
    journal: Journal
    checkpoint_every: int


def _wire(
    instruments: dict[str, Instrument],
    view: MarketView,
    *,
    clock: Clock,
    config: BacktestConfig,
    journal: Journal,
    venue: VenueFactory,
    book: Book | None = None,
    operator: OperatorFactory | None = None,
) -> _Run:
    if book is None:
        quote = next(iter(instruments.values())).quote
        ledger = Ledger(instruments, quote)
        opening = Deposit(quote, config.initial_cash, clock.now_ns(), "initial cash")
        ledger.deposit(opening.currency, opening.amount, opening.ts, opening.reference)
        journal.deposit(opening)
    else:
        ledger = book.ledger
    exchange = venue(instruments, clock, config)
    execution = ExecutionAgent(exchange, ledger, clock, journal)
    if book is not None:
        execution.adopt(book.orders)
    limit = None if config.risk is None else float(config.risk.max_position_fraction)
    context = EngineContext(
        clock,
        view,
        ledger=ledger,
        instruments=instruments,
        resting=exchange.has_resting,
        position_limit=limit,
        journal=journal,
    )
    door = _door(
        config,
        execution=execution,
        context=context,
        ledger=ledger,
        clock=clock,
        exchange=exchange,
        journal=journal,
    )
    if config.shared_stop is not None:
        flag = config.shared_stop
        door.follow_shared(clock.now_ns(), by=flag.by, reason=flag.reason)
    if operator is None:
        operator = partial(SimulatedOperator, reset_after_ns=config.operator_reset_after_ns)
    return _Run(
        clock,
        ledger,
        exchange,
        execution,
        context,
        door,
        operator(door),
        journal,
        config.checkpoint_every,
    )


def _door(
    config: BacktestConfig,
    *,
    execution: ExecutionAgent,
    context: EngineContext,
    ledger: Ledger,
    clock: Clock,
    exchange: Venue,
    journal: Journal,
) -> Door:
    profile = config.risk
    door = partial(Door, journal=journal, clock=clock)
    if profile is None:
        return door(execution)
    tracker = AccountTracker(config.initial_cash)

    def account() -> AccountSnapshot:
        marks = context.marks()
        return tracker.snapshot(
            ts=clock.now_ns(),
            equity=ledger.equity(marks),
            cash=ledger.cash(),
            positions={s: p.quantity for s, p in ledger.positions.items()},
            marks=marks,
            # What is approved but not filled counts toward the limits as if it had filled.
            pending=pending_requests(exchange.open_orders()),
        )

    saved = config.risk_state
    risk = RiskLayer(
        oversight=OversightManager(profile, fee_rate=config.fill_model.fees.rate(Liquidity.TAKER)),
        breaker=CircuitBreaker(profile.breaker, None if saved is None else saved.breaker),
        kill_switch=KillSwitch(profile, None if saved is None else saved.kill_switch),
        account=account,
        tracker=tracker,
    )
    return door(execution, risk)


def run_backtest(
    market: Sequence[BarSeries],
    strategy: Strategy,
    config: BacktestConfig | None = None,
    *,
    progress: Progress | None = None,
    journal: Journal | None = None,
    pace: Callable[[int], None] | None = None,
    venue: VenueFactory = simulated_venue,
    operator: OperatorFactory | None = None,
    stopped: Callable[[], bool] | None = None,
    watch: BarWatch | None = None,
) -> BacktestResult:
    """Run `strategy` over `market` (one series per instrument) and return everything.

    `journal` receives every intent, order change, fill, risk decision and verdict, and a
    checkpoint every `config.checkpoint_every` bars and at the end. `pace`, called with each
    new bar time, may hold the run back to replay the bars at a chosen speed (paper trading on
    recorded data). `venue` is where orders go: the simulated exchange by default, or a remote
    one (`exchanges.remote.RemoteVenue`) for paper trading against an exchange. `operator`
    stands for the person watching the risk layer: a paper session's follows a person's
    stops and resets; by default it is the simulated operator of a backtest. `progress` hears
    how far the run got (see `backtest.progress`). `stopped`, asked before each new
    timestamp (and again after `pace` waited for it), ends the run early once it says so
    (Ctrl-C in a paper session): the result then covers the bars stepped until then.
    `watch` hears every bar before and after the engine handles it (a session's telemetry).
    """
    config = config or BacktestConfig()
    by_symbol = {s.instrument: s for s in market}
    if len(by_symbol) != len(market):
        raise InvalidOrderError("each instrument may appear once in a backtest")
    clock = HistoricalClock(min((int(s.ts[0]) for s in market if len(s)), default=0))
    view, show = fenced_feed(tuple(by_symbol), tuple(by_symbol.values()))
    instruments = _instruments(by_symbol, config.instruments)
    run = _wire(
        instruments,
        view,
        clock=clock,
        config=config,
        journal=journal or MemoryJournal(),
        venue=venue,
        operator=operator,
    )
    loop = _Loop(run, by_symbol, show, clock, progress=progress, stopped=stopped, watch=watch)
    with long_lived_frozen():
        if operator is None:
            with fenced():  # the whole loop: the fence is entered once, not once a bar
                loop.run(strategy, pace, fence=False)
        else:
            # A person's operator reads the risk state file between bars: fence only the
            # strategy.
            loop.run(strategy, pace, fence=True)
    if loop.stepped < loop.total:  # stopped early: the run is what happened until then
        by_symbol = {s: b.between(None, loop.now + 1) for s, b in by_symbol.items()}
    result = _finish(run, strategy, config, by_symbol)
    if progress is not None:
        progress(_ended(result, loop.stepped, loop.total, loop.now))
    return result


def _progress(run: _Run, bars: int, total: int | None, ts: int | None) -> RunProgress:
    """Return the run's progress from what the engine holds: nothing is worked out anew."""
    try:
        equity: Decimal | None = run.ledger.equity(run.context.marks())
    except UnknownMarkError:  # a position without a price yet: no honest figure to show
        equity = None
    return RunProgress(
        bars=bars,
        total=total,
        market_ts=ts,
        equity=equity,
        quote=run.ledger.account_currency,
        orders=run.execution.order_count,
        fills=len(run.ledger.fills),
    )


def _ended(result: BacktestResult, bars: int, total: int | None, ts: int | None) -> RunProgress:
    """Return the last progress report: the result's own figures, late fills included."""
    return RunProgress(
        bars=bars,
        total=total,
        market_ts=None if ts is None or ts < 0 else ts,
        equity=result.final_equity,
        quote=result.quote_currency,
        orders=len(result.orders),
        fills=len(result.fills),
        done=True,
    )


def _finish(
    run: _Run, strategy: Strategy, config: BacktestConfig, market: dict[str, BarSeries]
) -> BacktestResult:
    """Bring the orders up to date, book the fills made after the last bar, write the last
    checkpoint, and gather the run's results."""
    # Orders first: an order read as filled has its fills listed by then, so `settle` books
    # them; the other way round, an order could end filled here without its fill.
    run.execution.refresh()
    late = run.exchange.settle()
    if late:
        run.execution.on_fills(late)
    run.journal.checkpoint(run.clock.now_ns(), run.ledger.state())
    closes = {s: Decimal(repr(float(b.close[-1]))) for s, b in market.items() if len(b)}
    marks = run.context.marks() | closes
    fills = run.ledger.fills
    quote = run.ledger.account_currency
    return BacktestResult(
        strategy=strategy.name,
        parameters=dict(config.parameters),
        initial_cash=config.initial_cash,
        final_equity=run.ledger.equity(marks),
        quote_currency=quote,
        bar_interval_ns=min((s.interval_ns for s in market.values()), default=0),
        curve=equity_curve(market, fills, initial_cash=config.initial_cash, quote_currency=quote),
        trades=run.ledger.round_trips,
        fills=fills,
        fees_paid=run.ledger.fees_paid(),
        costs=config.fill_model,
        market=market,
        orders=run.execution.orders,
        rationales={**run.context.rationales, **_trim_rationales(run.door.notes)},
        risk_notes=dict(run.door.notes),
        risk_events=tuple(run.door.events),
    )


def _trim_rationales(notes: Mapping[str, RiskNote]) -> dict[str, Rationale]:
    """Return why each trim was sent: the risk layer, not the strategy, asked for it."""
    return {
        cid: Rationale(summary=f"risk layer trim: {note.reason}")
        for cid, note in notes.items()
        if note.action == TRIM_ACTION
    }


class _Step:
    """What every mode does with a new bar, once the market view shows it.

    Book the fills the bar brought, let the risk layer see it, and only then show it to the
    strategy; whatever the strategy asks for is placed after the bar and meets the next one.
    """

    __slots__ = ("_closes", "_context", "_on_bar", "_on_fills", "_route", "_venue_bar", "_watch")

    def __init__(self, run: _Run, strategy: Strategy, *, fence: bool = False) -> None:
        """`fence` puts each call of the strategy behind the fence (else the caller fences)."""
        self._closes = run.context.closes
        self._context = run.context
        self._venue_bar = run.exchange.on_bar
        self._on_fills = run.execution.on_fills
        # Watched even without limits: a person's stop reaches an unlimited run too.
        self._watch = run.operator.watch
        self._on_bar = _fenced_calls(strategy.on_bar) if fence else strategy.on_bar
        door = run.door
        self._route = partial(_route, door)

    def __call__(self, bar: Bar) -> None:
        self._closes[bar.instrument] = bar.close
        fills = self._venue_bar(bar)
        if fills:
            self._on_fills(fills)
        self._watch(bar)
        intents = self._on_bar(bar, self._context)
        if intents:
            self._route(intents)


class _Watched:
    """A step that tells a watch of each bar before and after it (see `BarWatch`)."""

    __slots__ = ("_ledger", "_marks", "_step", "_watch")

    def __init__(self, step: Callable[[Bar], None], watch: BarWatch, run: _Run) -> None:
        self._step = step
        self._watch = watch
        self._ledger = run.ledger
        self._marks = run.context.marks

    def __call__(self, bar: Bar) -> None:
        self._watch.taken(bar)
        self._step(bar)
        self._watch.handled(bar, self._ledger, self._marks())


def _fenced_calls(
    on_bar: Callable[[Bar, EngineContext], Sequence[Intent]],
) -> Callable[[Bar, EngineContext], Sequence[Intent]]:
    def call(bar: Bar, context: EngineContext) -> Sequence[Intent]:
        with fenced():
            return on_bar(bar, context)

    return call


def _route(door: Door, intents: Sequence[Intent]) -> None:
    for intent in intents:
        if isinstance(intent, OrderRequest):
            door.submit(intent)
        elif isinstance(intent, CancelRequest):
            door.cancel(intent.order_id)


class _Loop:
    """The backtest's loop over bars known in advance, kept apart so its cost is easy to see."""

    def __init__(
        self,
        run: _Run,
        market: dict[str, BarSeries],
        show: Show,
        clock: HistoricalClock,
        *,
        progress: Progress | None,
        stopped: Callable[[], bool] | None,
        watch: BarWatch | None = None,
    ) -> None:
        self._run = run
        self._watch = watch
        self._market = market
        self._show = show
        self._clock = clock
        self._progress = progress
        self._stopped = stopped
        self.total = sum(len(s) for s in market.values())
        self.stepped = 0  # bars stepped so far; below `total` once the run was stopped
        self.now = -1  # the time of the latest bar stepped

    def _schedule(self) -> tuple[list[int], list[int], list[int]]:
        """Return (time, instrument position, row) of every bar, in time then listing order."""
        series = list(self._market.values())
        times = np.concatenate([s.ts for s in series])
        which = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(series)])
        rows = np.concatenate([np.arange(len(s), dtype=np.int64) for s in series])
        order = np.lexsort((which, times))
        return times[order].tolist(), which[order].tolist(), rows[order].tolist()

    def run(self, strategy: Strategy, pace: Callable[[int], None] | None, *, fence: bool) -> None:
        run, progress, stopped = self._run, self._progress, self._stopped
        symbols = list(self._market)
        columns = [
            (s.open.tolist(), s.high.tolist(), s.low.tolist(), s.close.tolist(), s.volume.tolist())
            for s in self._market.values()
        ]
        times, which, rows = self._schedule()
        total = self.total
        show, advance = self._show, self._clock.advance_to
        step: Callable[[Bar], None] = _Step(run, strategy, fence=fence)
        if self._watch is not None:
            step = _Watched(step, self._watch, run)
        # A paced run waits for the wall clock at every timestamp: it can report each one.
        every = 1 if pace is not None else PROGRESS_EVERY
        now, due, index = -1, run.checkpoint_every, 0
        for index, (ts, i, r) in enumerate(zip(times, which, rows, strict=True)):
            if ts != now:
                if stopped is not None and stopped():
                    break
                if index >= due:  # between two timestamps: every bar of `now` is done
                    run.journal.checkpoint(now, run.ledger.state())
                    due = index + run.checkpoint_every
                if pace is not None:
                    pace(ts)
                    if stopped is not None and stopped():
                        break
                advance(ts)
                now = ts
            o, h, lo, c, v = columns[i]
            bar = Bar(symbols[i], ts, o[r], h[r], lo[r], c[r], v[r])
            show(i, bar)
            step(bar)
            if progress is not None and index % every == 0:
                progress(_progress(run, index + 1, total, ts))
        else:
            index = total
        self.stepped, self.now = index, now


def opening_closes(history: Sequence[BarSeries]) -> dict[str, float]:
    """Return the price each instrument is valued at before its first bar of a live run: the
    warm-up history's last close (`EngineContext.mark` falls back on the latest fill)."""
    return {s.instrument: float(s.close[-1]) for s in history if len(s)}


def run_live(
    feed: Iterable[Bar],
    strategy: Strategy,
    config: BacktestConfig,
    *,
    instruments: Sequence[str],
    history: Sequence[BarSeries] = (),
    clock: Clock,
    venue: VenueFactory,
    journal: Journal | None = None,
    interval_ns: int = NS_PER_HOUR,
    book: Book | None = None,
    operator: OperatorFactory | None = None,
    progress: Progress | None = None,
    total: int | None = None,
    watch: BarWatch | None = None,
) -> BacktestResult:
    """Trade `strategy` on bars as `feed` delivers them, until the feed ends.

    The same steps as a backtest, on a market that grows: `history` is what the strategy may
    read from the start (warm-up), `clock` is the wall clock of a live session (or any other),
    and the feed decides the pace. A bar of an instrument not in `instruments`, or one not
    newer than the last of its instrument, is refused. `book` is the ledger (and orders)
    to trade on when the caller keeps them: a restarted session's, or one a guard
    reconciles. `operator` stands for the person watching the risk layer (by default the
    simulated one of a backtest). `progress` hears how far the session got after every bar
    (of `total`, when the caller knows how many the feed delivers) and once at the end.
    `watch` hears every bar before and after the engine handles it (a session's telemetry).

    The result covers the bars the feed delivered, not the history: its equity curve,
    metrics and buy-and-hold are those of the session.
    """
    growing = GrowingMarket(instruments, {s.instrument: s for s in history}, interval_ns)
    run = _wire(
        _instruments(instruments, config.instruments),
        growing.view,
        clock=clock,
        config=config,
        journal=journal or MemoryJournal(),
        venue=venue,
        book=book,
        operator=operator,
    )
    # A position is valued from the first bar on, whichever instrument's bar comes first.
    run.context.closes.update(opening_closes(history))
    # Only the strategy is fenced: the session's own parts (its venue, its operator reading
    # the risk state file, its journal) do I/O on this thread between two bars.
    step: Callable[[Bar], None] = _Step(run, strategy, fence=True)
    if watch is not None:
        step = _Watched(step, watch, run)
    # A historical clock follows the feed (a replay through this loop); a wall clock runs itself.
    # Live bars of two instruments may come out of time order (each closes when its next
    # candle arrives): the clock then stays where it is rather than going back.
    follow = clock.advance_to if isinstance(clock, HistoricalClock) else None
    seen, last_ts = 0, None
    with long_lived_frozen():
        for seen, bar in enumerate(feed, start=1):
            if follow is not None:
                follow(max(bar.ts, clock.now_ns()))
            growing.append(bar)
            step(bar)
            if seen % run.checkpoint_every == 0:
                run.journal.checkpoint(bar.ts, run.ledger.state())
            last_ts = bar.ts if last_ts is None else max(last_ts, bar.ts)
            if progress is not None:
                progress(_progress(run, seen, total, last_ts))
    # The feed's bars come after the history's (the growing market refuses any other).
    after = {s.instrument: int(s.ts[-1]) + 1 for s in history if len(s)}
    market = {s: growing.series(s, interval_ns).between(after.get(s)) for s in instruments}
    result = _finish(run, strategy, config, market)
    if progress is not None:
        progress(_ended(result, seen, total, last_ts))
    return result
