"""Wire a session on live market data: the sandbox and live modes.

The engine is the backtest's (`backtest.engine.run_live`); what changes is the clock (the wall
clock), the feed (closed candles from the exchange's websocket) and the venue (our Coinbase
adapter, whose fills are fetched by `trade_id`). Fills and order changes are pushed by the
`user` channel on a second websocket (Coinbase serves it on its own endpoint, and a drop of
one stream then leaves the other alone): a bar costs a fill listing only when that channel
tells of a fill or cannot vouch for the bar. The sandbox defaults to the local
Coinbase-compatible exchange, started in-process on 127.0.0.1 and replaying bars on its own
clock; any other URL is configuration. Live trading starts only after `preflight.check_live`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import httpx

from coinswarm import bootstrap, preflight
from coinswarm.backtest.engine import BacktestConfig, Book, OperatorFactory, run_live
from coinswarm.backtest.progress import Progress
from coinswarm.backtest.recording import WALL, Recorder, journal_path
from coinswarm.backtest.result import BacktestResult
from coinswarm.backtest.shadow_live import LiveShadow
from coinswarm.data.closed_bars import ClosedBars
from coinswarm.data.synthetic import synthetic_market
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.domain.clock import WallClock
from coinswarm.domain.costs import FeeSchedule
from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.fill import Liquidity
from coinswarm.domain.instrument import Instrument, instrument_from_symbol
from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.exchanges.coinbase import (
    CandleFeed,
    CdpCredentials,
    CoinbaseAdapter,
    CoinbaseConfig,
    CoinbaseStream,
    StreamConfig,
    TokenSigner,
    connect,
)
from coinswarm.exchanges.coinbase.history import fetch_history
from coinswarm.exchanges.coinbase.order_sync import OrderSync
from coinswarm.exchanges.coinbase.user_channel import UserChannelFills, user_stream_config
from coinswarm.exchanges.coinbase.ws_events import CandleUpdate, StreamMessage
from coinswarm.exchanges.io_worker import IoWorker
from coinswarm.exchanges.local_coinbase import (
    Venue,
    create_app,
)
from coinswarm.exchanges.local_session import serve_https
from coinswarm.exchanges.remote import RemoteVenue
from coinswarm.execution.journal import Journal
from coinswarm.execution.opening import Opening, read_opening
from coinswarm.execution.reconcile import AccountHistory, Reconciler, ReconcileSettings
from coinswarm.execution.recovery import journal_report, recover
from coinswarm.execution.session_guard import GuardEvent, SessionGuard
from coinswarm.infra.audit_anchor import require_intact
from coinswarm.infra.bus_journal import FanoutJournal
from coinswarm.infra.journal import StoreJournal
from coinswarm.infra.storage import RunRecord, Store
from coinswarm.infra.telemetry import SessionTelemetry, Telemetry, told
from coinswarm.risk.profiles import NS_PER_SECOND, RiskProfile
from coinswarm.risk.settings import RiskSettings
from coinswarm.risk.state_file import PersonAction, StoredRiskState, load_risk_state
from coinswarm.strategies import build_strategy, pin_parameters, pin_strategy
from coinswarm.strategies.base import Strategy

__all__ = [
    "FeedStalledError",
    "SessionRequest",
    "SessionResumeError",
    "candle_bars",
    "run_session",
]

logger = logging.getLogger(__name__)

LOCAL_BARS = 500
COINBASE_FEE_BPS = Decimal(60)


class FeedStalledError(CoinswarmError):
    """No bar came from the exchange for longer than the session allows."""


class SessionResumeError(CoinswarmError):
    """A session cannot be resumed: unknown, finished, another mode, or not reconciled."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRequest:
    """A sandbox or live session as a user asks for it.

    `url` is the exchange's REST base URL and `ws_url` its websocket; None in the sandbox
    starts the local Coinbase-compatible exchange over `data` (or a synthetic market),
    revealing a bar every `bar_seconds`. `bars` stops the session after that many closed
    bars (None: until stopped). `confirm` is the typed confirmation live trading needs;
    `ca_file` a certificate authority to trust besides the system's (a self-hosted venue).
    `journal_path` is where the session journal goes (for `coinswarm replay`); by default a
    new file under `sessions/` in the data folder, named after the session. `state_file` is
    the risk state the session starts from, saves, and takes a person's stops and resets
    from, beside the kill switch every process shares at `shared_state` (a Redis URL).
    `resume` names a session that died, to continue it (see `execution.recovery`).
    `warmup_bars` closed bars come from the exchange's REST history before the first live
    one; reconciliation runs every `reconcile_every_s`; the shadow backtest's gap is told
    every `shadow_every` bars (0: only at the end).
    """

    mode: str = "sandbox"
    url: str | None = None
    ws_url: str | None = None
    products: tuple[str, ...] = ()
    data: tuple[Path, ...] = ()
    bar_seconds: float = 1.0
    cash: Decimal = Decimal(100_000)
    strategy: str = "committee"
    parameters: dict[str, str] = field(default_factory=dict)
    phase: str | None = None
    bars: int | None = None
    idle_timeout_s: float = 60.0
    confirm: str | None = None
    database: str | None = None
    state_file: Path | None = None
    ca_file: Path | None = None
    journal_path: Path | None = None
    resume: str | None = None
    warmup_bars: int = 300
    reconcile_every_s: float = 60.0
    shadow_every: int = 24
    shared_state: str | None = None


@dataclass(frozen=True, slots=True)
class _Exchange:
    """Where the session's exchange is, and how to trust and reach it."""

    rest_url: str
    ws_url: str
    credentials: CdpCredentials
    trust: ssl.SSLContext | None
    products: tuple[str, ...]
    # Wall time per unit of market time: below 1 on a demo exchange replaying bars fast.
    time_scale: float = 1.0


def candle_bars(
    stream: CoinbaseStream,
    *,
    bars: int | None,
    idle_timeout_s: float,
    stop: threading.Event,
    wait_s: float = 0.1,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[Bar]:
    """Yield closed bars from the stream's candles until `bars` came, `stop` is set, or a stall.

    While the stream is stale no candle arrives, so nothing is decided: trading pauses. Only a
    candle counts as market data: heartbeats prove the connection, not that the market moves.
    """
    feed, emitted, last_candle = CandleFeed(), 0, monotonic()
    while not stop.is_set() and (bars is None or emitted < bars):
        event = stream.get(timeout=wait_s)
        update = event.payload if isinstance(event, StreamMessage) else None
        if not isinstance(update, CandleUpdate):
            if monotonic() - last_candle > idle_timeout_s:
                msg = f"no market data from {stream.config.url} for {idle_timeout_s:g} s"
                raise FeedStalledError(msg)
            continue
        last_candle = monotonic()
        for bar in feed.on_candles(update):
            yield bar
            emitted += 1
            if bars is not None and emitted >= bars:
                return


def run_session(
    request: SessionRequest,
    *,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = logger.info,
    progress: Progress | None = None,
    closed_bars: ClosedBars | None = None,
    telemetry: Telemetry | None = None,
) -> bootstrap.BacktestOutcome:
    """Run a sandbox or live session until its bars are done or `stop` is set.

    `say` receives what a person watching should read: the guard's pauses and the shadow
    backtest's gap. `progress` hears how far the session got after every bar. The outcome
    covers the bars the session traded (not its warm-up), also when `stop` ended it.
    `closed_bars` (discovery beside the session) gets the session's wall clock, its warm-up
    history and each bar once the engine has handled it; it changes nothing the session does.
    `telemetry` hears the session as it happens, its exchange errors and guard pauses too
    (the live events of `infra.telemetry`); it changes nothing the session does either.
    """
    profile = check_request(request)
    spec = pin_strategy(request.strategy)
    request = replace(request, strategy=spec, parameters=pin_parameters(spec, request.parameters))
    strategy, parameters = build_strategy(request.strategy, request.parameters)
    with (
        _exchange(request) as exchange,
        _adapter(exchange) as adapter,
        bootstrap.open_store(request.database, mode=request.mode) as store,
        contextlib.ExitStack() as held,  # the run's lock, taken before it is created or resumed
    ):
        preflight.check_credentials(request.mode, exchange.credentials)
        profile = _paced(profile, exchange.time_scale, say)
        if request.resume is not None:
            held.enter_context(store.locks().hold(request.resume))
        resumed = None if request.resume is None else _resume(request, exchange, adapter, store)
        # One read of the account for a new session: the live check and the book both use it.
        opening = read_opening(adapter) if resumed is None else None
        with _failing(store, None if resumed is None else resumed.run_id):
            if request.mode == preflight.LIVE:
                preflight.check_live(
                    adapter,
                    confirm=request.confirm,
                    url=exchange.rest_url,
                    profile=profile,
                    state_file=request.state_file,
                    resumed=resumed is not None,
                    opening=opening,
                )
        start = resumed or _begin(
            request, exchange, adapter, store, parameters, opening=opening, held=held
        )
        with _failing(store, start.run_id):
            risk_state = None if request.state_file is None else load_risk_state(request.state_file)
            config = BacktestConfig(
                initial_cash=start.cash,
                parameters=parameters,
                risk=profile,
                operator_reset_after_ns=None,  # a person resets stops in a live session
                checkpoint_every=1,
                risk_state=risk_state,
            )
            reporter = None if telemetry is None else _reporter(telemetry, request, start, profile)
            live = _Live(request, exchange, adapter, start, store, closed_bars, reporter)
            with told(
                reporter,
                strategy=request.strategy,
                instruments=list(exchange.products),
                cash=start.cash,
                phase=profile.phase,
                stopped=lambda: stop is not None and stop.is_set(),
            ):
                result = _trade(live, strategy, config, stop=stop, say=say, progress=progress)
            _settle_status(store, start.run_id, stopped=stop is not None and stop.is_set())
    fee_rate = FeeSchedule.flat(COINBASE_FEE_BPS).rate(Liquidity.TAKER)
    return bootstrap.outcome(
        start.run_id, result, fee_rate=fee_rate, risk=profile, mode=request.mode
    )


def check_request(request: SessionRequest) -> RiskProfile:
    """Refuse a request on everything that can be checked without the network, and return its
    risk profile: the mode against the URL, the phase, the products, the mode's own key, the
    certificate authority, a kill switch already set (live), the strategy and its parameters.

    `coinswarm live` runs this before it asks a person to type the confirmation: a session
    that cannot start must say so before anyone types a sentence to start it.
    """
    preflight.check_mode(request.mode, request.url)
    profile = RiskSettings(phase=preflight.phase_for(request.mode, request.phase)).to_profile()
    _check_figures(request)
    if request.url is not None:
        if not request.products:
            raise preflight.ModeError("--product: name at least one product to trade")
        preflight.check_credentials(request.mode, preflight.credentials_for(request.mode))
        _trust(request.ca_file)
    if request.mode == preflight.LIVE:
        if request.confirm is not None and request.url is not None:
            preflight.check_confirmation(request.confirm, request.url)
        if request.state_file is not None:
            preflight.check_not_stopped(request.state_file)
    build_strategy(pin_strategy(request.strategy), request.parameters)
    return profile


def _check_figures(request: SessionRequest) -> None:
    checks = [
        (request.cash.is_finite() and request.cash > 0, "--cash", "a number above 0"),
        (request.bar_seconds > 0, "--bar-seconds", "a number above 0"),
        (request.bars is None or request.bars >= 1, "--bars", "1 or more"),
        (request.warmup_bars >= 0, "--warmup", "0 or more"),
        (request.reconcile_every_s > 0, "--reconcile-every", "a number above 0"),
        (request.shadow_every >= 0, "--shadow-every", "0 or more"),
    ]
    found = {
        "--cash": request.cash,
        "--bar-seconds": request.bar_seconds,
        "--bars": request.bars,
        "--warmup": request.warmup_bars,
        "--reconcile-every": request.reconcile_every_s,
        "--shadow-every": request.shadow_every,
    }
    for fine, option, expected in checks:
        if not fine:
            raise preflight.ModeError(f"{option}: expected {expected}, found {found[option]}")
    repeated = [p for i, p in enumerate(request.data) if p in request.data[:i]]
    if repeated:
        raise preflight.ModeError(
            f"--data: {repeated[0]} is given twice (each file may appear once)"
        )


def _trust(ca_file: Path | None) -> ssl.SSLContext | None:
    """Return the TLS context that trusts `ca_file` besides the system, or None for the system."""
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        raise preflight.ModeError(f"--ca-file: no file {ca_file}") from None
    except (ssl.SSLError, OSError) as error:
        reason = getattr(error, "reason", None) or error.strerror or str(error)
        msg = f"--ca-file: {ca_file} holds no certificate authority to trust ({reason})"
        raise preflight.ModeError(msg) from None


def _settle_status(store: Store, run_id: str, *, stopped: bool) -> None:
    """Record how the session ended: `finished`, or `interrupted` when a person stopped it
    (Ctrl-C, SIGTERM) before its bars were done; an interrupted one can be resumed."""
    now = WallClock().now_ns()
    if stopped:
        reason = "stopped by a person (Ctrl-C or SIGTERM) after its current bar"
        store.set_run_status(run_id, "interrupted", now, reason=reason)
    else:
        store.set_run_status(run_id, "finished", now)


@contextmanager
def _failing(store: Store, run_id: str | None) -> Iterator[None]:
    """Mark run `run_id` failed, with the error as its reason, if the block raises.

    A run left `running` would look alive to a person; a failed one says why and may still
    be resumed (its orders and positions are at the exchange).
    """
    try:
        yield
    except Exception as error:
        if run_id is not None:
            reason = f"{type(error).__name__}: {error}"
            store.set_run_status(run_id, "failed", WallClock().now_ns(), reason=reason)
        raise


@dataclass(frozen=True, slots=True)
class _Live:
    """What a session trades with: the request, the exchange, its adapter, where it starts,
    and the database it writes to."""

    request: SessionRequest
    exchange: _Exchange
    adapter: CoinbaseAdapter
    start: _Start
    store: Store
    closed_bars: ClosedBars | None = None
    told: SessionTelemetry | None = None


def _reporter(
    telemetry: Telemetry, request: SessionRequest, start: _Start, profile: RiskProfile
) -> SessionTelemetry:
    """Return the session's telemetry: its events stamped with the wall clock."""
    return telemetry.session(
        run_id=start.run_id,
        mode=request.mode,
        initial_equity=start.cash,
        wall=True,
        daily_loss_fraction=profile.max_daily_loss_fraction,
    )


def _worker(adapter: CoinbaseAdapter, reporter: SessionTelemetry | None) -> IoWorker | None:
    """Return the venue's I/O thread, telling `reporter` of every failed exchange call."""
    if reporter is None:
        return None

    def failed(what: str, error: CoinswarmError) -> None:
        reporter.error("exchange", type(error).__name__, f"{what}: {error}")

    return IoWorker(name=adapter.name, on_error=failed)


def _trade(
    live: _Live,
    strategy: Strategy,
    config: BacktestConfig,
    *,
    stop: threading.Event | None,
    say: Callable[[str], None],
    progress: Progress | None = None,
) -> BacktestResult:
    """Trade bar by bar until the feed ends, with the guard, the person and the shadow beside."""
    request, exchange, adapter, start = live.request, live.exchange, live.adapter, live.start
    products = exchange.products
    warm_up = fetch_history(
        adapter.rest, products, bars=request.warmup_bars, end_ts=WallClock().now_ns()
    )
    stream_config = StreamConfig(url=exchange.ws_url, product_ids=products, channels=("candles",))
    signer = TokenSigner(exchange.credentials, WallClock())
    user_stream = CoinbaseStream(
        user_stream_config(exchange.ws_url, products), signer=signer, ssl=exchange.trust
    )
    history = start.history
    channel = UserChannelFills(user_stream, OrderSync(adapter, since_ts=history.until_ts), tell=say)
    channel.adopt(start.book.orders, start.book.ledger.fills)
    remote = RemoteVenue(adapter, fills=channel, worker=_worker(adapter, live.told))
    remote.skip_history(history.until_ts, history.trade_ids)
    remote.adopt(start.book.orders, start.book.ledger.fills)
    with (
        contextlib.closing(_recorder(live, config)) as recorder,
        contextlib.closing(remote),
        user_stream.start(),
        CoinbaseStream(stream_config, signer=signer, ssl=exchange.trust).start() as stream,
        LiveShadow(
            request.strategy, config.parameters, config, instruments=products, history=warm_up
        ).start() as shadow,
    ):
        guard = _guard(live, remote, stream, say)
        remote.hold = guard.hold_reason
        recorder.history(warm_up)
        # The opening book beyond the cash (coins the account held): booked before any bar.
        recorder.reconciled(start.opening, ())
        bars = candle_bars(
            stream,
            bars=request.bars,
            idle_timeout_s=request.idle_timeout_s,
            stop=stop or threading.Event(),
        )
        clock = recorder.clock(WallClock())
        feed = shadow.follow(
            _guarded(_after(warm_up, bars), guard, start.journal, remote, recorder),
            log=say,
            every=request.shadow_every,
        )
        result = run_live(
            _closing(live.closed_bars, products, warm_up, feed),
            strategy,
            config,
            instruments=products,
            history=warm_up,
            clock=clock,
            venue=recorder.venue(lambda *_: remote),
            journal=_journal(shadow.watch(start.journal), live.told),
            book=start.book,
            operator=_operator(live, recorder, config.risk_state, guard),
            progress=progress,
            total=request.bars,
            watch=live.told,
        )
        recorder.finish(result)
        say(shadow.summary())
    return result


def _journal(journal: Journal, reporter: SessionTelemetry | None) -> Journal:
    """Return the session's journal, told to `reporter` too (the store's decides claims)."""
    return journal if reporter is None else FanoutJournal([journal, reporter])


def _closing(
    closed: ClosedBars | None,
    products: Sequence[str],
    history: Sequence[BarSeries],
    feed: Iterator[Bar],
) -> Iterator[Bar]:
    """Return `feed`, recording in `closed` (if any) the warm-up and each bar the engine
    handled, by the wall clock: a live bar comes from the exchange once it has closed."""
    if closed is None:
        return feed
    # A product without history has the session's interval (run_live's default, as here).
    intervals = dict.fromkeys(products, NS_PER_HOUR)
    intervals.update({s.instrument: s.interval_ns for s in history if len(s)})
    closed.attach(WallClock().now_ns, intervals)
    for series in history:
        closed.extend(series)
    return closed.after_each(feed)


def _guard(
    live: _Live, remote: RemoteVenue, stream: CoinbaseStream, say: Callable[[str], None]
) -> SessionGuard:
    """Reconcile every `reconcile_every_s` and hold new orders on any doubt (scenario 14).

    Every difference, pause and resume is stored as the run's risk event as it happens.
    """
    clock = WallClock()
    reconciler = Reconciler(
        live.adapter,
        live.start.book.ledger,
        remote.known_orders,
        instruments=_instruments(live.adapter, live.exchange),
        clock=clock,
        monotonic=time.monotonic,
        client_order_ids=remote.in_flight_ids,
        settings=ReconcileSettings(interval_s=live.request.reconcile_every_s),
        history=live.start.history,
    )

    def tell(event: GuardEvent) -> None:
        live.store.record_risk_event(live.start.run_id, event)
        if live.told is not None:
            live.told.guard(event.kind, event.source, event.reason, by=event.by)
        say(f"guard {event.kind} ({event.source}): {event.reason}")

    return SessionGuard(
        reconciler,
        clock=clock,
        monotonic=time.monotonic,
        exchange=live.adapter,
        stream=stream,
        on_event=tell,
    )


def _after(history: Sequence[BarSeries], feed: Iterable[Bar]) -> Iterator[Bar]:
    """Drop the feed's bars that the history already holds (the two overlap by a bar)."""
    last = {s.instrument: int(s.ts[-1]) for s in history if len(s)}
    return (bar for bar in feed if bar.ts > last.get(bar.instrument, -1))


def _guarded(
    feed: Iterable[Bar],
    guard: SessionGuard,
    journal: StoreJournal,
    remote: RemoteVenue,
    recorder: Recorder,
) -> Iterator[Bar]:
    """Let the guard reconcile between bars; journal (and record) what reconciliation booked."""
    for bar in feed:
        report = guard.tick()
        if report is not None:
            journal_report(journal, report, remote.known_orders)
            recorder.reconciled(report.deposits, report.backfilled)
            # A fill reconciliation booked first (it landed between two bars) is not the
            # venue's to hand over again.
            remote.adopt((), report.backfilled)
        yield bar


@dataclass(frozen=True, slots=True)
class _Start:
    """Where a session begins: a new run on the account's opening book, or a dead one
    recovered. `history` is where the account's fills before the session end; `opening` the
    deposits of the opening book beyond the cash, for the session journal."""

    run_id: str
    cash: Decimal
    journal: StoreJournal
    book: Book
    history: AccountHistory
    opening: tuple[Deposit, ...] = ()


def _begin(
    request: SessionRequest,
    exchange: _Exchange,
    adapter: CoinbaseAdapter,
    store: Store,
    parameters: dict[str, str],
    *,
    opening: Opening | None,
    held: contextlib.ExitStack,
) -> _Start:
    """Create a new session's run on the account's opening book, held in `held`.

    Its cash is the quote currency's balance; every other balance is deposited too, so the
    book equals the exchange's; the account's fills so far are history, stored with the run.
    """
    opening = opening or read_opening(adapter)
    run_id = _session_id(request, exchange, parameters)
    held.enter_context(store.locks().hold(run_id))
    quote = _quote(exchange)
    cash = opening.cash(quote)
    now = WallClock().now_ns()
    store.create_run(
        RunRecord(
            run_id=run_id,
            mode=request.mode,
            # Trade ids are unique per venue: the default local exchange is new each time.
            venue=request.url or f"local:{run_id}",
            strategy=request.strategy,
            parameters=parameters,
            inputs={
                "products": list(exchange.products),
                "url": request.url,
                "cash": str(cash),
                "history": opening.history.to_json(),
                # So that `coinswarm runs show` can give the exact command that resumes it.
                "phase": request.phase,
                "ws_url": request.ws_url,
                "ca_file": None if request.ca_file is None else str(request.ca_file),
            },
            status="running",
            created_ts=now,
            updated_ts=now,
        )
    )
    journal = StoreJournal(store, run_id, write_ahead=True)
    ledger = Ledger(_instruments(adapter, exchange), quote)
    deposits = opening.book(ledger, quote, now)
    for deposit in deposits:
        journal.deposit(deposit)
    return _Start(run_id, cash, journal, Book(ledger), opening.history, deposits[1:])


def _resume(
    request: SessionRequest, exchange: _Exchange, adapter: CoinbaseAdapter, store: Store
) -> _Start:
    """Recover the session `request.resume` names; refuse if a person must look first."""
    stored = _resumable(store, request, exchange)
    history = AccountHistory.from_json(stored.inputs.get("history"))
    journal = StoreJournal(store, stored.run_id, write_ahead=True)
    with _failing(store, stored.run_id):
        recovered = recover(
            adapter,
            store,
            stored.run_id,
            instruments=_instruments(adapter, exchange),
            account_currency=_quote(exchange),
            ts=WallClock().now_ns(),
            journal=journal,
            history=history,
        )
        for line in recovered.lines():
            logger.warning("session %s restart: %s", stored.run_id, line)
        if recovered.report.trading_paused:
            msg = (
                f"session {stored.run_id}: reconciliation after the restart found differences "
                f"a person must resolve: {recovered.report.pause_reason}"
            )
            raise SessionResumeError(msg)
    book = Book(recovered.ledger, recovered.orders)
    return _Start(stored.run_id, Decimal(stored.inputs["cash"]), journal, book, history)


def _quote(exchange: _Exchange) -> str:
    return instrument_from_symbol(exchange.products[0]).quote


def _instruments(adapter: CoinbaseAdapter, exchange: _Exchange) -> dict[str, Instrument]:
    return {s: i for s, i in adapter.instruments().items() if s in exchange.products}


def _resumable(store: Store, request: SessionRequest, exchange: _Exchange) -> RunRecord:
    """Return the stored run `request.resume` names, if it is this mode's and unfinished."""
    assert request.resume is not None
    require_intact(store.engine, f"--resume {request.resume}")  # no resuming a cut history
    stored = store.get_run(request.resume)
    if stored is None:
        raise SessionResumeError(f"--resume: no session {request.resume!r} in the database")
    problem = None
    if stored.mode != request.mode:
        problem = f"it is a {stored.mode} session, not {request.mode}"
    elif stored.status == "finished":
        problem = "it finished; start a new session instead"
    elif list(stored.inputs.get("products", ())) != list(exchange.products):
        problem = f"it traded {stored.inputs.get('products')}, not {list(exchange.products)}"
    elif request.url is None:
        problem = "the default local exchange does not outlive its session; give --url"
    if problem is not None:
        raise SessionResumeError(f"--resume {request.resume}: {problem}")
    return stored


def _operator(
    live: _Live, recorder: Recorder, state: StoredRiskState | None, guard: SessionGuard
) -> OperatorFactory | None:
    """Return the person behind the risk state file, or None (no file: no person to follow)."""
    path = live.request.state_file
    if path is None or state is None:
        return None
    shared = bootstrap.shared_state(live.request.shared_state)
    # The default local exchange is new each run: what its market tripped dies with it.
    return bootstrap.person(
        recorder,
        path,
        state,
        shared=shared,
        on_action=_person(guard),
        keep_market_stops=live.request.url is not None,
    )


def _person(guard: SessionGuard) -> Callable[[PersonAction], None]:
    """Lift a reconciliation pause when a person resets."""

    def act(action: PersonAction) -> None:
        if action.kind == "reset" and guard.reconciliation_paused:
            # The person looked at the difference that halted trading: it is resolved.
            guard.clear_reconciliation(by=action.by)

    return act


def _recorder(live: _Live, config: BacktestConfig) -> Recorder:
    request = live.request
    return Recorder(
        request.journal_path or journal_path(live.start.run_id),
        mode=request.mode,
        strategy=request.strategy,
        config=config,
        instruments=live.exchange.products,
        interval_ns=NS_PER_HOUR,  # run_live's default, which the session uses
        clock=WALL,
        run_id=live.start.run_id,
        resumed=request.resume is not None,
        book=True,
    )


def _session_id(request: SessionRequest, exchange: _Exchange, parameters: dict[str, str]) -> str:
    # A session is its mode, venue, strategy and start time: two sessions never share an id.
    inputs = {
        "mode": request.mode,
        "url": exchange.rest_url,
        "products": list(exchange.products),
        "strategy": request.strategy,
        "parameters": parameters,
        "started": WallClock().now_ns(),
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return f"{request.mode}-{digest[:12]}"


@contextmanager
def _adapter(exchange: _Exchange) -> Iterator[CoinbaseAdapter]:
    http = httpx.Client(base_url=exchange.rest_url, verify=exchange.trust or True, timeout=10.0)
    with connect(exchange.credentials, CoinbaseConfig(base_url=exchange.rest_url), http=http) as a:
        yield a


@contextmanager
def _exchange(request: SessionRequest) -> Iterator[_Exchange]:
    if request.url is not None:
        if not request.products:
            raise preflight.ModeError("--product: name at least one product to trade")
        credentials = preflight.credentials_for(request.mode)
        ws_url = request.ws_url or preflight.default_ws_url(request.url)
        trust = _trust(request.ca_file)
        yield _Exchange(request.url, ws_url, credentials, trust, request.products)
        return
    with _local_exchange(request) as exchange:
        yield exchange


@contextmanager
def _local_exchange(request: SessionRequest) -> Iterator[_Exchange]:
    """Start the local exchange on 127.0.0.1, replaying bars on its own clock, with a new key."""
    market = _local_market(request)
    instruments = {s.instrument: instrument_from_symbol(s.instrument) for s in market}
    quotes = {i.quote for i in instruments.values()}
    venue = Venue(instruments, market, balances=dict.fromkeys(quotes, request.cash))
    replaying = threading.Event()
    interval_ns = min(s.interval_ns for s in market)
    with serve_https(lambda keys, _: create_app(venue, keys)) as local:
        ticker = threading.Thread(
            target=_replay, args=(venue, request.bar_seconds, replaying), daemon=True
        )
        ticker.start()
        try:
            yield _Exchange(
                local.server.base_url,
                f"wss://{local.server.host}",
                local.credentials,
                local.trust,
                request.products or tuple(instruments),
                time_scale=request.bar_seconds * NS_PER_SECOND / interval_ns,
            )
        finally:
            replaying.set()
            ticker.join(timeout=5.0)


def _paced(profile: RiskProfile, time_scale: float, say: Callable[[str], None]) -> RiskProfile:
    """Return `profile` with its breaker's durations scaled to the exchange's pace."""
    if time_scale == 1.0:
        return profile
    breaker = profile.breaker.scaled(time_scale)
    say(
        f"the exchange replays market time {1 / time_scale:,.0f} times faster than real time: "
        f"the circuit breaker's cool-down is {breaker.cooldown_ns / NS_PER_SECOND:g} s "
        f"(one hour of market time)"
    )
    return replace(profile, breaker=breaker)


def _local_market(request: SessionRequest) -> list[BarSeries]:
    if request.data:
        return bootstrap.load_market(bootstrap.BacktestRequest(data=request.data))
    return [synthetic_market(instrument="BTC-USD", bars=LOCAL_BARS, seed=bootstrap.SYNTHETIC_SEED)]


def _replay(venue: Venue, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        venue.advance(1)
