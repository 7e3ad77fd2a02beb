"""Wire one mode's adapters into the one engine.

Today there is one mode, the backtest: files or the synthetic market as the feed, the
historical clock, the simulated exchange. Paper, sandbox and live will swap those three and
keep everything else, the risk layer included.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from coinswarm.backtest.defaults import (
    DEFAULT_CHECKPOINT_EVERY,
    EXCHANGES,
    LOCAL,
    LOCAL_CCXT,
    PERSON_MODES,
    SIMULATED,
    STORE_FULL,
    STORE_LEVELS,
    STORE_NONE,
    STORE_SUMMARY,
    SYNTHETIC_BARS,
    SYNTHETIC_SEED,
    risk_state_path,
    store_level,
)
from coinswarm.backtest.engine import (
    BacktestConfig,
    OperatorFactory,
    Progress,
    VenueFactory,
    run_backtest,
    simulated_venue,
)
from coinswarm.backtest.explain import Explanation, explanations
from coinswarm.backtest.metrics import (
    Metrics,
    buy_and_hold_benchmark,
    compute_metrics,
    no_bars_metrics,
)
from coinswarm.backtest.recording import HISTORICAL, Recorder, journal_path, shared_to_json
from coinswarm.backtest.report import RunHeading, write_report
from coinswarm.backtest.result import BacktestResult, EquityCurve
from coinswarm.backtest.runs import (
    RunNotFoundError,
    file_digest,
    run_id,
    save_run,
)
from coinswarm.data import load_bars, synthetic_market
from coinswarm.data.closed_bars import ClosedBars, ReplayClosing
from coinswarm.data.timeframe import on_timeframe, timeframe_ns
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.domain.clock import Clock, WallClock
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.errors import CoinswarmError, DataError
from coinswarm.domain.fill import Liquidity
from coinswarm.domain.instrument import Instrument, instrument_from_symbol
from coinswarm.domain.slippage import FixedSlippage, Slippage, SlippageModel, slippage_from_json
from coinswarm.exchanges.base import Venue
from coinswarm.execution.journal import Journal, MemoryJournal
from coinswarm.infra.audit_anchor import require_intact
from coinswarm.infra.bus import NatsBus, NatsBusConfig
from coinswarm.infra.bus_journal import BusJournal, FanoutJournal
from coinswarm.infra.journal import DivergenceError, StoreJournal
from coinswarm.infra.state import HotState, KillSwitchFlag
from coinswarm.infra.state import shared_state as open_shared_state
from coinswarm.infra.storage import RunRecord, StorageError, Store, sqlite_path
from coinswarm.infra.storage.database import describe, mode_url
from coinswarm.infra.telemetry import SessionTelemetry, Telemetry, told
from coinswarm.orchestration.door import Door, describe_event
from coinswarm.orchestration.state_file_operator import StateFileOperator
from coinswarm.risk.errors import RiskConfigError
from coinswarm.risk.profiles import RiskProfile, profile_for
from coinswarm.risk.settings import RiskSettings
from coinswarm.risk.state_file import PersonAction, StoredRiskState, load_risk_state
from coinswarm.strategies import (
    build_strategy,
    check_intervals,
    default_phase,
    pin_parameters,
    pin_strategy,
)

__all__ = [
    "DEFAULT_PHASES",
    "PERSON_MODES",
    "REBUILT_MODES",
    "SIMULATED",
    "SYNTHETIC_BARS",
    "SYNTHETIC_SEED",
    "BacktestOutcome",
    "BacktestRequest",
    "NotResumableError",
    "RunInterrupted",
    "find_resumable",
    "in_period",
    "load_market",
    "open_store",
    "person",
    "resolve_risk",
    "resume",
    "risk_state_path",
    "run",
    "stored_profile",
    "stored_request",
]

DEFAULT_PHASE = "default"
NS_PER_DAY = 24 * NS_PER_HOUR
NO_LIMITS = "none"
# The client each lockstep choice reaches the local exchange through (local_session.CLIENTS).
_LOCKSTEP_CLIENTS = {LOCAL: "coinbase", LOCAL_CCXT: "ccxt"}
EXCHANGE_MODES = ("sandbox", "live")
"""The modes whose fills and fees are an exchange's own, not the simulated costs'."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestRequest:
    """A backtest as a user asks for it: where the data is and how to trade it.

    `store` is what the run keeps in the database at `database` (a URL; by default the
    embedded SQLite file) and in its folder of the runs folder. "full": everything, written in
    checkpoints, so a run that was killed resumes where its last checkpoint left it.
    "summary": the run and its inputs, orders with their history, fills, deposits and the
    final ledger (no verdicts, votes, risk decisions or intermediate snapshots), written once
    when it ends; its folder keeps the metrics and every order's explanation. It cannot be
    resumed. "none": nothing at all. What is kept does not change what the run does, so it is
    not part of the run's id; a full run replaces a summary stored under the same id.

    `phase` is a risk phase "0" to "5", "none" (no limits: research backtests only), or
    "default": `COINSWARM_PHASE` or the risk file if set, else the strategy's own default.

    `reset_after_days` is when the simulated operator of a backtest resets a stop that waits
    for a person (None or 0: never, so a total-loss stop ends trading for the rest of the run,
    as it would end real trading). A paper run has a person instead: it follows the mode's
    risk state file (`state_file`, by default `risk_state_path("paper")`) and the shared kill
    switch at `shared_state`, as sandbox and live do. A backtest reads the shared kill switch
    once, when it starts; what it read is part of the run's identity.

    `exchange` is where orders go: "simulated" (the in-process matching engine), "local" (a
    local Coinbase-compatible exchange served over HTTPS and reached through our Coinbase
    adapter, replaying the same bars in lockstep) or "local-ccxt" (the same exchange, reached
    through ccxt's `coinbase` class under our CCXT adapter).

    `slippage` is by default the slippage model (at least 10 bps a taker fill, more on a
    turbulent bar or for a large share of its volume); `FixedSlippage` is a flat figure, 0
    for cross-checks against peers that assume none.

    `timeframe` ('4h', '1d', ...) resamples every series after loading, as `coinswarm data
    resample` would; None trades the bars as they are.

    `started_ns` is when a paper run started, by the wall clock (None: now). It is part of a
    paper run's identity, since a person may act on the run while it runs; stored with the
    request, it lets `resume` find the same run again.
    """

    data: tuple[Path, ...] = ()
    pair: str | None = None
    timeframe: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    strategy: str = "sma-cross"
    parameters: Mapping[str, str] = field(default_factory=dict)
    fee_bps: Decimal = Decimal(60)
    slippage: Slippage = field(default_factory=SlippageModel)
    max_volume_share: Decimal | None = None
    cash: Decimal = Decimal(10_000)
    seed: int = SYNTHETIC_SEED
    synthetic_bars: int = SYNTHETIC_BARS
    phase: str = DEFAULT_PHASE
    risk_file: Path | None = None
    reset_after_days: int | None = 0
    database: str | None = None
    store: str = STORE_FULL
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    shared_state: str | None = None
    bus: str | None = None
    mode: str = "backtest"
    exchange: str = SIMULATED
    state_file: Path | None = None
    shared_stop: KillSwitchFlag | None = None
    started_ns: int | None = None

    def __post_init__(self) -> None:
        # Everything a request can get wrong is refused here, before a bar is loaded or a run
        # stored: a run must never be done (or half done) only to fail at its end.
        if self.exchange not in EXCHANGES:
            msg = f"exchange: expected one of {', '.join(EXCHANGES)}, found {self.exchange!r}"
            raise DataError(msg)
        _check_request_figures(self)
        repeated = [p for i, p in enumerate(self.data) if p in self.data[:i]]
        if repeated:
            raise DataError(f"--data: {repeated[0]} is given twice (each file may appear once)")
        if self.timeframe is not None:
            timeframe_ns(self.timeframe)  # an unknown label is refused before any work
        if self.store not in STORE_LEVELS:
            msg = f"--store: expected one of {', '.join(STORE_LEVELS)}, found {self.store!r}"
            raise DataError(msg)


def _check_request_figures(request: BacktestRequest) -> None:
    problems = [
        (request.cash.is_finite() and request.cash > 0, "--cash", "a number above 0"),
        (request.fee_bps.is_finite() and request.fee_bps >= 0, "--fee-bps", "0 or more"),
        (request.synthetic_bars >= 2, "--bars", "2 or more"),
        (request.checkpoint_every >= 1, "--checkpoint-every", "1 or more"),
        ((request.reset_after_days or 0) >= 0, "--reset-after-days", "0 or more"),
    ]
    share = request.max_volume_share
    if share is not None:
        problems.append((share.is_finite() and 0 < share <= 1, "--max-volume-share", "(0, 1]"))
    for fine, option, expected in problems:
        if not fine:
            value = getattr(request, _FIELD_OF[option])
            raise DataError(f"{option}: expected {expected}, found {value}")


_FIELD_OF = {
    "--cash": "cash",
    "--fee-bps": "fee_bps",
    "--bars": "synthetic_bars",
    "--checkpoint-every": "checkpoint_every",
    "--reset-after-days": "reset_after_days",
    "--max-volume-share": "max_volume_share",
}


@dataclass(frozen=True, slots=True)
class BacktestOutcome:
    """A finished run, its metrics, buy-and-hold over the same bars, and its explanations.

    `mode` is what ran: a backtest, or a paper, sandbox or live session (the same engine).
    """

    run_id: str
    result: BacktestResult
    metrics: Metrics
    benchmark: Metrics
    benchmark_curve: EquityCurve
    explanations: tuple[Explanation, ...]
    risk: RiskProfile | None
    mode: str = "backtest"
    store: str = STORE_FULL

    def write_report(self, path: Path, *, notes: Sequence[str] = ()) -> Path:
        """Write the self-contained HTML report of this run to `path`.

        Every mode writes the same report; `notes` are said under its title (how a session
        ended, say).
        """
        heading = RunHeading(
            mode=self.mode,
            run_id=self.run_id,
            notes=tuple(notes),
            exchange_costs=self.mode in EXCHANGE_MODES,
        )
        return write_report(
            self.result,
            self.metrics,
            self.benchmark,
            path,
            heading=heading,
            benchmark_curve=self.benchmark_curve,
            explanations={e.client_order_id: e.render() for e in self.explanations},
            total_loss_limit=None
            if self.risk is None
            else float(self.risk.max_total_loss_fraction),
        )

    def summary(self) -> dict[str, Any]:
        """Return the run's figures as one JSON-safe dict, the same every time."""
        result = self.result
        return {
            **self.metrics.to_dict(),
            "run": self.run_id,
            "strategy": result.strategy,
            "parameters": result.parameters,
            "instruments": sorted(result.market),
            "risk_phase": None if self.risk is None else self.risk.phase,
            "risk_events": [describe_event(e) for e in result.risk_events],
            "orders": len(result.orders),
            "refused_orders": len(self.refused()),
            "fills": len(result.fills),
            "costs": result.costs.to_json(),
            "store": self.store,
            "buy_and_hold": self.benchmark.to_dict(),
        }

    def refused(self) -> list[str]:
        """Return why the risk layer refused each order it refused, in order."""
        return [
            f"{note.action}: {note.reason}"
            for note in self.result.risk_notes.values()
            if note.sent is None
        ]

    def risk_lines(self) -> list[str]:
        """Return what a person must read about the run's risk: stops, resets and refusals.

        A run whose orders a stop refused says so, with the most common reasons, so that a
        quiet run is never mistaken for one that chose not to trade.
        """
        events = self.result.risk_events
        lines = [f"risk events: {len(events)} (see the report)"] if events else []
        lines += [f"  {describe_event(e)}" for e in events[:3]]
        if len(events) > 3:
            lines.append(f"  ... and {len(events) - 3} more")
        refused = self.refused()
        if refused:
            total = len(self.result.orders)
            lines.append(f"refused by the risk layer: {len(refused)} of {total} orders")
            counts = Counter(refused).most_common(3)
            lines += [f"  {count} x {reason}" for reason, count in counts]
        return lines

    def save(self, runs_dir: Path) -> Path:
        """Keep the summary and explanations under `runs_dir` for `coinswarm explain`."""
        return save_run(runs_dir, self.run_id, self.summary(), self.explanations)


def load_market(request: BacktestRequest) -> list[BarSeries]:
    """Load every data file (or make the synthetic market) and cut it to the asked period."""
    if request.pair is not None and len(request.data) > 1:
        raise DataError("--pair names the instrument of a single data file, found several files")
    if request.data:
        market = [load_bars(path, instrument=request.pair) for path in request.data]
    else:
        market = [
            synthetic_market(
                instrument=request.pair or "SYN-USDT",
                bars=request.synthetic_bars,
                seed=request.seed,
            )
        ]
    if request.timeframe is not None:
        # Resampled before the period is cut, so that a file resampled first gives the same run.
        interval = timeframe_ns(request.timeframe)
        market = [on_timeframe(series, interval) for series in market]
    return in_period(market, request)


def in_period(market: Sequence[BarSeries], request: BacktestRequest) -> list[BarSeries]:
    """Cut a loaded market to the request's period; refuse a repeated or near-empty series."""
    market = [series.between(request.start_ns, request.end_ns) for series in market]
    names = [series.instrument for series in market]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        # Before the run is stored: the engine would refuse it only once it is marked running.
        msg = f"--data: {', '.join(twice)} is in more than one file (each may appear once)"
        raise DataError(msg)
    for series in market:
        if len(series) < 2:
            raise DataError(
                f"{series.instrument}: expected at least 2 bars in the chosen period, "
                f"found {len(series)}"
            )
    return market


def resolve_risk(request: BacktestRequest) -> RiskProfile | None:
    """Return the risk profile the run must obey, or None for an unlimited research run."""
    if request.phase == NO_LIMITS:
        return None
    values: dict[str, Any] = {}
    if request.phase != DEFAULT_PHASE:
        values["phase"] = _phase_number(request.phase)
    elif request.risk_file is None and "COINSWARM_PHASE" not in os.environ:
        phase = default_phase(request.strategy)
        if phase is None:
            return None
        values["phase"] = phase
    if request.risk_file is not None:
        return RiskSettings.from_toml(request.risk_file, **values).to_profile()
    return RiskSettings(**values).to_profile()


def _phase_number(text: str) -> int:
    if text.isdigit() and 0 <= int(text) <= 5:
        return int(text)
    msg = f"--phase: expected 0 to 5, 'none' or 'default', found {text!r}"
    raise RiskConfigError(msg)


def _run_inputs(request: BacktestRequest, parameters: dict[str, str], risk: Any) -> dict[str, Any]:
    data = [file_digest(p) for p in request.data] or [
        f"synthetic:{request.seed}:{request.synthetic_bars}"
    ]
    inputs = {
        "data": data,
        "pair": request.pair,
        **({} if request.timeframe is None else {"timeframe": request.timeframe}),
        "start": request.start_ns,
        "end": request.end_ns,
        "strategy": request.strategy,
        "parameters": parameters,
        "fee_bps": str(request.fee_bps),
        # A fixed figure keeps the text runs stored before the model had, so they still resume.
        "slippage_bps": request.slippage.identity(),
        "max_volume_share": str(request.max_volume_share),
        "cash": str(request.cash),
        "risk": repr(risk),
        "reset_after_days": request.reset_after_days,
        **({} if request.exchange == SIMULATED else {"exchange": request.exchange}),
    }
    if request.shared_stop is not None:
        # A stop in force when the backtest started changed what it did: another run.
        inputs["shared_stop"] = shared_to_json(request.shared_stop)
    if request.mode in PERSON_MODES:
        # A person may stop and reset a paper run while it runs: two are never the same run.
        inputs["mode"] = request.mode
        inputs["started"] = request.started_ns
    return inputs


def run(
    request: BacktestRequest,
    *,
    progress: Progress | None = None,
    pace: Callable[[int], None] | None = None,
    journal_path: Path | None = None,
    stopped: Callable[[], bool] | None = None,
    market: Sequence[BarSeries] | None = None,
    closed_bars: ClosedBars | None = None,
    telemetry: Telemetry | None = None,
) -> BacktestOutcome:
    """Run the backtest (or paper session) `request` describes, beside buy-and-hold.

    `market` is the request's market as `load_market` loaded it with no period: a search that
    backtests many windows of one file loads it once and each run cuts its own period.
    `pace` replays the bars at a chosen speed instead of as fast as possible. A paper session
    writes its session journal (for `coinswarm replay`) to `journal_path`, by default a new
    file under `sessions/` in the data folder; a backtest writes one only if given a path.
    `progress` hears how far the run got; once `stopped` says so (Ctrl-C), the run ends
    before its next timestamp and the outcome covers the bars stepped until then.
    `closed_bars` (a paper session's discovery beside it) is fed each bar as the replay's
    time passes its close; it changes nothing the run does. `telemetry` hears the run as it
    happens (its live events, see `infra.telemetry`); it changes nothing the run does either.
    """
    # Pinned: a user's file (and a committee's patterns file) by its content digest, so the
    # run id changes when the file does and `resume` or `replay` refuse a file edited since.
    spec = pin_strategy(request.strategy)
    request = replace(request, strategy=spec, parameters=pin_parameters(spec, request.parameters))
    strategy, parameters = build_strategy(request.strategy, request.parameters)
    risk = resolve_risk(request)
    market = load_market(request) if market is None else in_period(market, request)
    check_intervals(strategy, {series.instrument: series.interval_ns for series in market})
    request = _read_shared_stop(request)
    if closed_bars is not None:
        pace = ReplayClosing(market, closed_bars).pacing(pace)
    watched = request.mode in PERSON_MODES
    if watched and request.started_ns is None:
        request = replace(request, started_ns=WallClock().now_ns())
    state_file = request.state_file or risk_state_path(request.mode)
    fill_model = FillModel(
        fees=FeeSchedule.flat(request.fee_bps),
        slippage=request.slippage,
        max_volume_share=request.max_volume_share,
    )
    reset_after = None if watched else request.reset_after_days
    config = BacktestConfig(
        initial_cash=request.cash,
        fill_model=fill_model,
        parameters=parameters,
        risk=risk,
        operator_reset_after_ns=None if not reset_after else reset_after * NS_PER_DAY,
        checkpoint_every=request.checkpoint_every,
        shared_stop=request.shared_stop,
        risk_state=load_risk_state(state_file) if watched else None,
    )
    identifier = run_id(_run_inputs(request, parameters, risk))
    end = _RunEnd()
    live = _session_telemetry(telemetry, identifier, request, risk)
    with (
        _journal(request, identifier, parameters, market, end) as journal,
        _venue(request, market) as served,
        _recorder(request, identifier, config, market, journal_path) as recorder,
        told(
            live,
            strategy=request.strategy,
            instruments=[s.instrument for s in market],
            cash=request.cash,
            phase=None if risk is None else risk.phase,
            stopped=stopped or _never,
            ts_ns=min(int(s.ts[0]) for s in market),
        ),
    ):
        venue = served if recorder is None else recorder.venue(served)
        operator = None
        if watched and recorder is not None and config.risk_state is not None:
            hot = shared_state(request.shared_state)
            # Each paper run trades a new simulated account: what its market tripped (a loss
            # stop, a breaker trip) ends with it; a person's stop holds until a person resets.
            operator = person(
                recorder, state_file, config.risk_state, shared=hot, keep_market_stops=False
            )
        result = run_backtest(
            market,
            strategy,
            config,
            progress=progress,
            journal=journal if live is None else FanoutJournal([journal or MemoryJournal(), live]),
            pace=pace,
            venue=venue,
            operator=operator,
            stopped=stopped,
            watch=live,
        )
        curve = result.curve.ts
        end.ts = int(curve[-1]) if len(curve) else min(int(s.ts[0]) for s in market)
        if recorder is not None:
            recorder.finish(result)
    fee_rate = fill_model.fees.rate(Liquidity.TAKER)
    done = outcome(identifier, result, fee_rate=fee_rate, risk=risk, mode=request.mode)
    return replace(done, store=request.store)


def _never() -> bool:
    return False


def _session_telemetry(
    telemetry: Telemetry | None, identifier: str, request: BacktestRequest, risk: RiskProfile | None
) -> SessionTelemetry | None:
    """Return the run's telemetry: its events stamped with market time (the replay's clock)."""
    if telemetry is None:
        return None
    return telemetry.session(
        run_id=identifier,
        mode=request.mode,
        initial_equity=request.cash,
        wall=False,
        daily_loss_fraction=None if risk is None else risk.max_daily_loss_fraction,
    )


@dataclass(slots=True)
class _RunEnd:
    """The time of a run's last bar, once it ran: before its market's end if it was stopped."""

    ts: int | None = None


def _read_shared_stop(request: BacktestRequest) -> BacktestRequest:
    """Return `request` with the shared kill switch a backtest starts under, read once.

    A backtest that cannot read the switch refuses to start: it would not know what it obeys.
    A resumed run keeps what its first start read (stored with its inputs).
    """
    if request.mode != "backtest" or request.shared_stop is not None:
        return request
    hot = shared_state(request.shared_state)
    if hot is None:
        return request
    return replace(request, shared_stop=hot.kill_switch())


def person(
    recorder: Recorder,
    path: Path,
    state: StoredRiskState,
    *,
    shared: HotState | None,
    on_action: Callable[[PersonAction], None] | None = None,
    keep_market_stops: bool = True,
) -> OperatorFactory:
    """Return the person watching a paper, sandbox or live run, every step journalled.

    The person acts through the mode's risk state file (`coinswarm risk stop|reset`) and the
    shared kill switch; `on_action` also hears each stop or reset, after the journal.
    `keep_market_stops` False saves only the person's actions to the file (a demo exchange).
    """

    def heard(action: PersonAction) -> None:
        recorder.person(action)
        if on_action is not None:
            on_action(action)

    def build(door: Door) -> StateFileOperator:
        return StateFileOperator(
            door,
            path,
            door.clock,
            applied=state.applied,
            on_action=heard,
            shared=shared,
            on_shared=recorder.shared,
            keep_market_stops=keep_market_stops,
        )

    return build


def outcome(
    identifier: str,
    result: BacktestResult,
    *,
    fee_rate: Decimal,
    risk: RiskProfile | None,
    mode: str = "backtest",
) -> BacktestOutcome:
    """Return a finished run with its metrics, buy-and-hold beside it and its explanations.

    `mode` is what ran ("backtest", "paper", "sandbox", "live"): the report says so.
    """
    explained = tuple(explanations(result, result.rationales, result.risk_notes))
    if not len(result.curve.ts):  # stopped before its first bar: nothing to measure
        empty = partial(no_bars_metrics, bar_interval_ns=result.bar_interval_ns)
        start = result.initial_cash
        metrics = empty(
            initial_cash=start, final_equity=result.final_equity, fees_paid=result.fees_paid
        )
        benchmark = empty(initial_cash=start, final_equity=start, fees_paid=Decimal(0))
        return BacktestOutcome(
            identifier, result, metrics, benchmark, result.curve, explained, risk, mode
        )
    metrics = compute_metrics(
        result.curve,
        result.trades,
        fees_paid=result.fees_paid,
        initial_cash=result.initial_cash,
        bar_interval_ns=result.bar_interval_ns,
    )
    hold_curve, benchmark = buy_and_hold_benchmark(result, fee_rate=fee_rate)
    return BacktestOutcome(
        identifier, result, metrics, benchmark, hold_curve, explained, risk, mode
    )


@contextmanager
def _recorder(
    request: BacktestRequest,
    identifier: str,
    config: BacktestConfig,
    market: list[BarSeries],
    path: Path | None,
) -> Iterator[Recorder | None]:
    """Yield the session journal's recorder of a paper run (or of any run given a path)."""
    if path is None and request.mode != "paper":
        yield None
        return
    recorder = Recorder(
        path or journal_path(identifier),
        mode=request.mode,
        strategy=request.strategy,
        config=config,
        instruments=[s.instrument for s in market],
        interval_ns=min(s.interval_ns for s in market),
        clock=HISTORICAL,
        run_id=identifier,
    )
    try:
        yield recorder
    finally:
        recorder.close()


@contextmanager
def _venue(request: BacktestRequest, market: list[BarSeries]) -> Iterator[VenueFactory]:
    """Yield how the run builds its exchange; a local exchange is stopped when the run ends."""
    if request.exchange == SIMULATED:
        yield simulated_venue
        return
    client = _LOCKSTEP_CLIENTS[request.exchange]  # the request checked the name
    with ExitStack() as running:

        def local(
            instruments: Mapping[str, Instrument], clock: Clock, config: BacktestConfig
        ) -> Venue:
            # The local exchange (FastAPI, the chosen client) loads only when it is used.
            from coinswarm.exchanges.local_session import lockstep_venue  # noqa: PLC0415

            served = lockstep_venue(
                market,
                instruments,
                clock=clock,
                cash=config.initial_cash,
                fill_model=config.fill_model,
                client=client,
            )
            return running.enter_context(served)

        yield local


def shared_state(url: str | None) -> HotState | None:
    """Return the shared hot state at `url` (Redis), or None when there is none."""
    return open_shared_state(url)


def request_to_json(request: BacktestRequest) -> dict[str, Any]:
    """Return the request as JSON-safe values, so that `resume` can rebuild it exactly."""
    # Where the run is stored, and which kill switch it obeys, are not inputs of the run.
    values = {
        f.name: getattr(request, f.name)
        for f in fields(request)
        if f.name not in ("database", "shared_state", "bus")
    }
    values["data"] = [str(path) for path in request.data]
    values["risk_file"] = None if request.risk_file is None else str(request.risk_file)
    values["state_file"] = None if request.state_file is None else str(request.state_file)
    values["shared_stop"] = shared_to_json(request.shared_stop)
    values["parameters"] = dict(request.parameters)
    for name in ("fee_bps", "max_volume_share", "cash"):
        values[name] = None if values[name] is None else str(values[name])
    values["slippage"] = request.slippage.to_json()
    if request.started_ns is None:  # a backtest: its stored request stays as it was
        del values["started_ns"]
    return values


def request_from_json(values: Mapping[str, Any]) -> BacktestRequest:
    """Rebuild a request stored by `request_to_json`."""
    data = dict(values)
    data.pop("persist", None)  # stored before `store`: such runs were always kept in full
    data["data"] = tuple(Path(p) for p in data["data"])
    data["risk_file"] = None if data["risk_file"] is None else Path(data["risk_file"])
    state_file, shared_stop = data.get("state_file"), data.get("shared_stop")
    data["state_file"] = None if state_file is None else Path(state_file)
    data["shared_stop"] = None if shared_stop is None else KillSwitchFlag(**shared_stop)
    for name in ("fee_bps", "max_volume_share", "cash"):
        data[name] = None if data[name] is None else Decimal(data[name])
    if "slippage_bps" in data:  # stored before the slippage model: always a fixed figure
        data["slippage"] = FixedSlippage(bps=Decimal(data.pop("slippage_bps")))
    else:
        data["slippage"] = slippage_from_json(data["slippage"])
    return BacktestRequest(**data)


REBUILT_MODES = frozenset({"backtest", "paper"})
"""The modes whose bars load again from the request `run` stored with the run."""
DEFAULT_PHASES = {"backtest": 0, "paper": 1, "sandbox": 2, "live": 3}
"""The risk phase each mode runs in when its run stored none."""
_UNREADABLE = (CoinswarmError, OSError, KeyError, TypeError, ValueError, AttributeError)


def stored_request(record: RunRecord) -> BacktestRequest | None:
    """Return the request a backtest or paper run was started with; None if it cannot be read
    again (another mode, or stored by an older Coinswarm)."""
    if record.mode not in REBUILT_MODES:
        return None
    try:
        return request_from_json(record.inputs)
    except _UNREADABLE:
        return None


def stored_profile(record: RunRecord) -> RiskProfile | None:
    """Return the risk profile the run obeyed; None for a run without limits."""
    request = stored_request(record)
    if request is not None:
        try:
            return resolve_risk(request)
        except _UNREADABLE:
            pass
    phase: Any = record.inputs.get("phase")
    try:
        return profile_for(int(phase))
    except _UNREADABLE:  # none stored, or "default": the mode's own phase
        return profile_for(DEFAULT_PHASES.get(record.mode, 0))


def open_store(url: str | None, *, mode: str = "backtest") -> Store:
    """Open the database; the embedded SQLite file is created and migrated on first use.

    Each mode but the backtest keeps its own embedded file (`paper.db`, ...), so that paper
    money and research runs can never be mistaken for each other.
    """
    resolved = mode_url(mode, url)
    return Store.open(resolved, upgrade=resolved.drivername.startswith("sqlite"))


@contextmanager
def _journal(
    request: BacktestRequest,
    identifier: str,
    parameters: dict[str, str],
    market: list[BarSeries],
    end: _RunEnd,
) -> Iterator[Journal | None]:
    """Yield the run's journal: the store's (resuming a stored run), the bus's, both or none.

    The bus connects first: a server that cannot be reached refuses the run before it is
    stored, rather than leaving a stored run that never started.
    """
    if request.bus is None:
        with _stored(request, identifier, parameters, market, end) as stored:
            yield stored
        return
    with (
        _published(request.bus, identifier) as published,
        _stored(request, identifier, parameters, market, end) as stored,
    ):
        yield FanoutJournal([stored or MemoryJournal(), published])


@contextmanager
def _published(url: str, identifier: str) -> Iterator[BusJournal]:
    config = NatsBusConfig(
        url=url,
        stream=os.environ.get("COINSWARM_BUS_STREAM", "COINSWARM"),
        prefix=os.environ.get("COINSWARM_BUS_PREFIX", "coinswarm"),
    )
    loop = asyncio.new_event_loop()
    try:
        bus = loop.run_until_complete(NatsBus.connect(config))
        try:
            yield BusJournal(bus, loop, identifier)
        finally:
            loop.run_until_complete(bus.close())
    finally:
        loop.close()


@contextmanager
def _stored(
    request: BacktestRequest,
    identifier: str,
    parameters: dict[str, str],
    market: list[BarSeries],
    end: _RunEnd,
) -> Iterator[StoreJournal | None]:
    """Yield the journal of a stored run (resuming a stored one), or None if nothing is kept.

    A run ends by marking itself finished; a summary run writes everything it kept then, in the
    same transaction, so a killed one leaves just its `running` record.

    The run is held (`RunLocks`) while it runs, so that a second process cannot run it at
    the same time and `coinswarm runs` can tell it from a run whose process died. A person
    who stops it before its market's end leaves it `interrupted`: a paper run's Ctrl-C ends it
    cleanly; a KeyboardInterrupt (the command line makes SIGTERM one) raises RunInterrupted,
    which names it for `coinswarm resume`. One that raises ends `failed` with its reason.
    """
    if request.store == STORE_NONE:
        yield None
        return
    first = min(int(s.ts[0]) for s in market)
    last = max(int(s.ts[-1]) for s in market)
    with (
        open_store(request.database, mode=request.mode) as store,
        store.locks().hold(identifier),
    ):
        try:
            stored = _kept_before(store, request, identifier)
            if stored is None:
                store.create_run(
                    RunRecord(
                        run_id=identifier,
                        mode=request.mode,
                        venue=f"{request.exchange}:{identifier}",
                        strategy=request.strategy,
                        parameters=parameters,
                        inputs=request_to_json(request),
                        status="running",
                        created_ts=first,
                        updated_ts=first,
                    )
                )
            elif request.store == STORE_SUMMARY and (
                store_level(stored.inputs) == STORE_FULL or stored.status == "finished"
            ):
                # Already kept in full, or this summary already written: nothing to add.
                yield None
                return
            journal = _journal_of(store, request, identifier, market, stored)
            with _failing(store, identifier):
                yield journal
        except KeyboardInterrupt as interrupted:
            if store.get_run(identifier) is None:
                raise
            _mark_interrupted(store, identifier, first)
            resumable = request.store == STORE_FULL
            raise RunInterrupted(identifier, request.mode, resumable=resumable) from interrupted
        if end.ts is not None and end.ts < last:  # stopped before its market's end
            journal.finish(end.ts, status="interrupted")
        elif stored is None or stored.status != "finished":
            journal.finish(last)


@contextmanager
def _failing(store: Store, identifier: str) -> Iterator[None]:
    """Mark the run `failed`, with the error as its reason in the audit log, if the block
    raises an Exception.

    A run left `running` would look alive (or merely killed) to a person; a failed one says
    why, and may be resumed once that is fixed. An interrupt is not an Exception: `_stored`
    marks it `interrupted`.
    """
    try:
        yield
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        try:
            store.set_run_status(identifier, "failed", WallClock().now_ns(), reason=reason)
        except StorageError as unrecorded:  # the database itself may be what failed
            error.add_note(f"the run could not be marked failed: {unrecorded}")
        raise


def _kept_before(store: Store, request: BacktestRequest, identifier: str) -> RunRecord | None:
    """Return the run stored under `identifier`, unless this run replaces it (then None).

    A summary keeps part of what a full run of the same inputs writes, so a full run replaces
    it; the deletion is in the audit log.
    """
    stored = store.get_run(identifier)
    if stored is None or request.store != STORE_FULL:
        return stored
    if store_level(stored.inputs) != STORE_SUMMARY:
        return stored
    store.delete_run(identifier, ts=WallClock().now_ns(), actor="engine")
    return None


def _journal_of(
    store: Store,
    request: BacktestRequest,
    identifier: str,
    market: list[BarSeries],
    stored: RunRecord | None,
) -> StoreJournal:
    """Return the journal that writes the run, resuming a full run stored before."""
    if request.store == STORE_SUMMARY:
        # A summary stored before and not finished was killed before its one write.
        return StoreJournal(store, identifier, summary=True)
    resume_after = None
    if stored is not None:
        snapshot = store.latest_snapshot(identifier)
        resume_after = None if snapshot is None else snapshot.ts
        # The stored fills must still add up to the stored snapshot before anything resumes.
        instruments = {s.instrument: instrument_from_symbol(s.instrument) for s in market}
        quote = next(iter(instruments.values())).quote
        store.restore_ledger(identifier, instruments, quote)
    return StoreJournal(store, identifier, resume_after_ts=resume_after)


class NotResumableError(CoinswarmError):
    """The run asked for was stored without the checkpoints a resume replays against."""


def _mark_interrupted(store: Store, identifier: str, first: int) -> None:
    # A second Ctrl-C while this writes leaves the run `running`, which `coinswarm runs`
    # shows as killed once this process is gone: resumable all the same, so it may.
    with suppress(KeyboardInterrupt):
        snapshot = store.latest_snapshot(identifier)
        ts = first if snapshot is None else snapshot.ts
        store.set_run_status(identifier, "interrupted", ts)


class RunInterrupted(KeyboardInterrupt):
    """A stored run stopped by Ctrl-C (or SIGTERM): `coinswarm resume` finishes it."""

    def __init__(self, run_id: str, mode: str, *, resumable: bool = True) -> None:
        super().__init__(run_id)
        self.run_id = run_id
        self.mode = mode
        self.resumable = resumable  # False: stored without checkpoints (--store summary)


_RESUMABLE_MODES = ("backtest", "paper")


def find_resumable(identifier: str, database: str | None = None) -> RunRecord:
    """Return the stored backtest or paper run `identifier`, looked up where it can be.

    With `database`, only there; otherwise in the backtest's database, then in paper's
    (`paper.db`, unless one URL serves every mode). RunNotFoundError names where it looked;
    a sandbox or live session found instead is refused with the command that resumes it.
    Refused (AuditMismatchError) unless the audit chain of its database holds and agrees with
    its anchors: a run is not continued on top of a history that was cut or rewritten.
    """
    looked: list[str] = []
    for url in dict.fromkeys(mode_url(mode, database) for mode in _RESUMABLE_MODES):
        path = sqlite_path(url)
        if path is not None and not path.exists():
            looked.append(f"{describe(url)} (no such file)")
            continue
        looked.append(describe(url))
        with Store.open(url, upgrade=path is not None) as store:
            stored = store.get_run(identifier)
            if stored is not None:
                require_intact(store.engine, f"run {identifier} cannot be resumed")
                break
    else:
        msg = f"no run {identifier!r} in {' or '.join(looked)}"
        raise RunNotFoundError(msg)
    if stored.mode not in _RESUMABLE_MODES:
        msg = (
            f"run {identifier} is a {stored.mode} session: resume it with "
            f"`coinswarm {stored.mode} ... --resume {identifier}` "
            f"(`coinswarm runs show {identifier}` gives the whole command)"
        )
        raise RunNotFoundError(msg)
    return stored


def resume(
    identifier: str, *, database: str | None = None, progress: Progress | None = None
) -> BacktestOutcome:
    """Resume (or re-check) the stored run `identifier` from its last checkpoint.

    A backtest or a paper run, found by `find_resumable`; a paper run resumes at full speed.
    """
    stored = find_resumable(identifier, database)
    kept = store_level(stored.inputs)
    if kept != STORE_FULL:
        msg = (
            f"run {identifier} was stored with --store {kept}, which keeps no checkpoints: it "
            "cannot be resumed or re-checked; run the backtest again (with --store full to "
            "be able to resume it)"
        )
        raise NotResumableError(msg)
    request = replace(request_from_json(stored.inputs), database=database)
    if request.mode in PERSON_MODES and request.started_ns is None:
        msg = (
            f"run {identifier} cannot be resumed: it is a {request.mode} run stored before "
            "such runs recorded when they started, which is part of their identity"
        )
        raise RunNotFoundError(msg)
    outcome = run(request, progress=progress)
    if outcome.run_id != identifier:
        msg = (
            f"run {identifier} cannot be resumed: its data or settings changed "
            f"(they now give run {outcome.run_id})"
        )
        raise DivergenceError(msg)
    return outcome
