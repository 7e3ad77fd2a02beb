"""The commands that run strategies: backtest, demo, resume, and explain."""

from __future__ import annotations

import json
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coinswarm.backtest.defaults import (
    DEFAULT_CHECKPOINT_EVERY,
    SIMULATED,
    STORE_FULL,
    STORE_NONE,
    SYNTHETIC_BARS,
    default_runs_dir,
    risk_state_path,
)
from coinswarm.backtest.replay import ReplayPacer
from coinswarm.cli._beside import (
    EvolveEveryOption,
    EvolveOption,
    closed_bars_for,
    evolving,
)
from coinswarm.cli._live import (
    DEFAULT_SERVE_PORT,
    BusOption,
    HeartbeatOption,
    ServeOption,
    ServePortOption,
    broadcasting,
)
from coinswarm.cli._shared import (
    DEFAULT_REPORT,
    STRATEGY_HELP,
    DbOption,
    PatternsOption,
    ReportOption,
    SharedOption,
    TimeframeOption,
    app,
    bound,
    data_files,
    decimal_option,
    fail,
    parameters,
    replay_speed,
    report_path,
    runs_folder,
    stdout,
    stop_on_interrupt,
    tell,
    with_patterns,
)
from coinswarm.cli.risk import warn_if_stopped
from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.slippage import MODEL, FixedSlippage, Slippage, SlippageModel

if TYPE_CHECKING:
    from rich.table import Table

    from coinswarm import bootstrap
    from coinswarm.data.closed_bars import ClosedBars
    from coinswarm.infra.telemetry import Telemetry

# Only stdlib, typer and light modules load here: bootstrap (numpy, polars, the database) loads
# inside the commands that run something, so `coinswarm --help` answers at once.
_HIDDEN_IN_TABLE = frozenset({"max_drawdown_duration_ns"})  # shown in days beside it


def _metrics_table(outcome: bootstrap.BacktestOutcome) -> Table:
    from rich.table import Table  # noqa: PLC0415 - only a finished run prints one

    from coinswarm.backtest.metrics import ANNUALISED, MIN_ANNUALISED_DAYS  # noqa: PLC0415

    ours, hold = outcome.metrics.to_dict(), outcome.benchmark.to_dict()
    table = Table(title=f"{outcome.result.strategy} vs buy-and-hold", title_justify="left")
    table.add_column("metric")
    table.add_column(outcome.result.strategy, justify="right")
    table.add_column("buy-and-hold", justify="right")
    # Under a month of bars, a figure extrapolated to a year measures noise (--json keeps it).
    short = not outcome.metrics.annualised_meaningful
    for key, value in ours.items():
        if key in _HIDDEN_IN_TABLE:
            continue
        if short and key in ANNUALISED:
            table.add_row(key, "-", "-")
            continue
        table.add_row(key, _cell(value), _cell(hold.get(key)))
    if short:
        table.caption = f"cagr, sharpe, sortino: only for runs of {MIN_ANNUALISED_DAYS}+ days"
        table.caption_justify = "left"
    return table


_SLIPPAGE_HELP = (
    "adverse slippage of a taker fill: 'model' (10 bps, plus 0.1 x the bar's high-low range, "
    "plus 100 bps x the square root of the order's share of the bar's volume; at most 1000 "
    "bps) or a fixed number of basis points (0: none, to compare with peers)"
)
SlippageOption = Annotated[str, typer.Option("--slippage-bps", help=_SLIPPAGE_HELP)]


def slippage_option(text: str) -> Slippage:
    """Return the slippage `--slippage-bps` asks for: the model, or a fixed figure."""
    if text.strip().lower() == MODEL:
        return SlippageModel()
    return FixedSlippage(bps=decimal_option(text, "--slippage-bps"))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}"
    return str(value)


def _run(
    request: bootstrap.BacktestRequest,
    *,
    quiet: bool,
    pace: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
    closed_bars: ClosedBars | None = None,
    telemetry: Telemetry | None = None,
) -> bootstrap.BacktestOutcome:
    from coinswarm import bootstrap  # noqa: PLC0415 - heavy: loads the engine
    from coinswarm.backtest.defaults import PERSON_MODES  # noqa: PLC0415
    from coinswarm.cli._progress import RunProgressView  # noqa: PLC0415 - rich loads when a run does

    progress = RunProgressView(
        f"{request.mode} {request.strategy}",
        quiet=quiet,
        lines_when_piped=request.mode in PERSON_MODES,
    )
    try:
        return bootstrap.run(
            request,
            progress=progress,
            pace=pace,
            stopped=None if stop is None else stop.is_set,
            closed_bars=closed_bars,
            telemetry=telemetry,
        )
    finally:
        progress.close()


SPEED_HELP = (
    "replay speed, a multiple of real time: 1 replays the bars at the pace they happened, 60 "
    "replays an hour of market time a minute (hourly bars: one bar a minute), 3600 an hour a "
    "second; max: as fast as the engine goes"
)


def _speed(text: str, stop: threading.Event | None = None) -> ReplayPacer | None:
    """Return the pacer `--speed` asks for; its wait ends early when `stop` is set (Ctrl-C)."""
    speed = replay_speed(text)
    if speed is None:
        return None
    return ReplayPacer(speed) if stop is None else ReplayPacer(speed, sleep=stop.wait)


def stopped_note(stop: threading.Event, mode: str) -> list[str]:
    """Return what the report says of a run that Ctrl-C ended, or nothing."""
    if not stop.is_set():
        return []
    return [f"Stopped with Ctrl-C: this report covers the {mode} session until then."]


def _as_interrupt(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _interruptible(
    *, db: str | None, runs_dir: Path | None, as_json: bool = False
) -> Iterator[None]:
    """Run the block with SIGTERM taken as Ctrl-C; an interrupted run ends with its id and the
    exact command that resumes it (exit 130, as a shell reports Ctrl-C)."""
    previous = signal.signal(signal.SIGTERM, _as_interrupt)
    try:
        yield
    except KeyboardInterrupt as interrupted:
        raise _interrupted(interrupted, db=db, runs_dir=runs_dir, as_json=as_json) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(
    interrupted: KeyboardInterrupt, *, db: str | None, runs_dir: Path | None, as_json: bool
) -> typer.Exit:
    run_id = getattr(interrupted, "run_id", None)  # a bootstrap.RunInterrupted once stored
    if run_id is None:
        tell("interrupted before the run was stored: there is nothing to resume")
        return typer.Exit(130)
    if not getattr(interrupted, "resumable", True):
        tell(f"interrupted: run {run_id} stopped before its end; --store summary kept nothing")
        tell("it cannot be resumed: run it again (with --store full to be able to resume it)")
        return typer.Exit(130)
    command = _resume_command(run_id, db=db, runs_dir=runs_dir)
    if as_json:
        typer.echo(json.dumps({"run": run_id, "status": "interrupted", "resume": command}))
    _tell_resume(run_id, command, kept="its last checkpoint is kept")
    return typer.Exit(130)


def _resume_command(run_id: str, *, db: str | None, runs_dir: Path | None) -> str:
    words = ["coinswarm", "resume", run_id]
    words += [] if db is None else ["--db", db]
    words += [] if runs_dir is None else ["--runs-dir", str(runs_dir)]
    return shlex.join(words)


def _tell_resume(run_id: str, command: str, *, kept: str) -> None:
    tell(f"interrupted: run {run_id} stopped before its end; {kept}")
    tell(f"resume it with: {command}")


@app.command()
def paper(
    *,
    data: Annotated[
        list[Path] | None, typer.Option(help="recorded bars to replay; default: synthetic")
    ] = None,
    speed: Annotated[str, typer.Option(help=SPEED_HELP)] = "60",
    bars: Annotated[
        int, typer.Option(help="hourly bars of the synthetic market", min=2)
    ] = SYNTHETIC_BARS,
    exchange: Annotated[
        str,
        typer.Option(
            help="simulated: fills matched in-process; local: orders go over HTTPS to a local "
            "Coinbase-compatible exchange replaying the same bars; local-ccxt: the same "
            "exchange, reached through ccxt's coinbase class"
        ),
    ] = SIMULATED,
    timeframe: TimeframeOption = None,
    strategy: Annotated[str, typer.Option(help=STRATEGY_HELP)] = "committee",
    param: Annotated[list[str] | None, typer.Option(help="strategy parameter KEY=VALUE")] = None,
    patterns: PatternsOption = None,
    cash: Annotated[str, typer.Option(help="fake money to start with")] = "100000",
    fee_bps: Annotated[str, typer.Option(help="maker and taker fee, basis points")] = "60",
    slippage_bps: SlippageOption = MODEL,
    phase: Annotated[str, typer.Option(help="risk phase (1: paper trading)")] = "1",
    db: DbOption = None,
    state: Annotated[
        Path | None,
        typer.Option(help="the risk state file to obey and save (default: paper's own)"),
    ] = None,
    state_url: SharedOption = None,
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are kept")] = None,
    report: ReportOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress display")] = False,
    evolve: EvolveOption = False,
    evolve_every: EvolveEveryOption = 60.0,
    bus: BusOption = None,
    serve: ServeOption = False,
    serve_port: ServePortOption = DEFAULT_SERVE_PORT,
    heartbeat: HeartbeatOption = 5.0,
) -> None:
    """Paper-trade on replayed bars: simulated fills, fake money, the engine of the backtest.

    A person stops and resets it with `coinswarm risk stop|reset`, as a live session. Ctrl-C
    ends it after the current bar; the run and its --report keep what happened until then.
    With --evolve, discovery learns beside it from the bars whose close the replay has passed
    (market time); it stops with the session, after the cycle in hand. With --bus it
    publishes its live events on NATS; with --serve it serves the dashboards itself.
    """
    from coinswarm import bootstrap  # noqa: PLC0415 - heavy: loads the engine

    try:
        report = report_path(report)
        request = bootstrap.BacktestRequest(
            data=data_files(data),
            synthetic_bars=bars,
            timeframe=timeframe,
            strategy=strategy,
            parameters=with_patterns(parameters(param or []), patterns, strategy),
            cash=decimal_option(cash, "--cash", positive=True),
            fee_bps=decimal_option(fee_bps, "--fee-bps"),
            slippage=slippage_option(slippage_bps),
            phase=phase,
            database=db,
            mode="paper",
            exchange=exchange,
            state_file=state,
            shared_state=state_url,
            # A paced session writes each bar as it passes, so that what it has done is in the
            # database (and the API) at once; a run at full speed checkpoints like a backtest.
            checkpoint_every=DEFAULT_CHECKPOINT_EVERY if replay_speed(speed) is None else 1,
        )
        runs_folder(runs_dir)
        closed = closed_bars_for(evolve)
        with stop_on_interrupt() as stop:
            pace = _speed(speed, stop)
            warn_if_stopped("paper", state or risk_state_path("paper"))
            with (
                broadcasting(
                    bus=bus,
                    serve=serve,
                    serve_port=serve_port,
                    heartbeat_s=heartbeat,
                    database=db,
                    runs_dir=runs_dir,
                ) as telemetry,
                evolving(closed, mode="paper", database=db, every_s=evolve_every),
            ):
                outcome = _run(
                    request,
                    quiet=quiet or as_json,
                    pace=pace,
                    stop=stop,
                    closed_bars=closed,
                    telemetry=telemetry,
                )
        if report is not None:
            outcome.write_report(report, notes=stopped_note(stop, "paper"))
        outcome.save(runs_dir or default_runs_dir())
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    show_outcome(outcome, as_json=as_json, report=report)
    if stop.is_set():
        command = _resume_command(outcome.run_id, db=db, runs_dir=runs_dir)
        _tell_resume(outcome.run_id, command, kept="what it did until then is kept")


@app.command()
def backtest(
    *,
    data: Annotated[
        list[Path] | None,
        typer.Option(
            help="OHLCV CSV/Parquet file; repeat for more instruments. Default: synthetic."
        ),
    ] = None,
    pair: Annotated[str | None, typer.Option(help="instrument name, e.g. BTC-USDT")] = None,
    timeframe: TimeframeOption = None,
    start: Annotated[str | None, typer.Option(help="first bar, UTC date or time")] = None,
    end: Annotated[str | None, typer.Option(help="stop before this UTC date or time")] = None,
    strategy: Annotated[str, typer.Option(help=STRATEGY_HELP)] = "sma-cross",
    param: Annotated[list[str] | None, typer.Option(help="strategy parameter KEY=VALUE")] = None,
    patterns: PatternsOption = None,
    fee_bps: Annotated[str, typer.Option(help="maker and taker fee, basis points")] = "60",
    slippage_bps: SlippageOption = MODEL,
    max_volume_share: Annotated[
        str | None, typer.Option(help="fill at most this share of a bar's volume")
    ] = None,
    cash: Annotated[str, typer.Option(help="starting cash in the quote currency")] = "10000",
    seed: Annotated[int, typer.Option(help="seed of the synthetic market")] = 7,
    bars: Annotated[
        int, typer.Option(help="hourly bars of the synthetic market", min=2)
    ] = SYNTHETIC_BARS,
    phase: Annotated[
        str, typer.Option(envvar="COINSWARM_PHASE", help="risk phase 0-5, 'none' or 'default'")
    ] = "default",
    risk_file: Annotated[Path | None, typer.Option(help="TOML file of risk settings")] = None,
    reset_after_days: Annotated[
        int,
        typer.Option(
            help="days before a simulated operator resets a stop that waits for a person; "
            "0: never, a total-loss stop ends trading as it would in real life",
            min=0,
        ),
    ] = 0,
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are kept")] = None,
    db: DbOption = None,
    state_url: Annotated[
        str | None,
        typer.Option(help="Redis URL of the shared kill switch this run obeys (read at start)"),
    ] = None,
    bus: Annotated[
        str | None, typer.Option(help="NATS URL to publish orders, fills and risk events to")
    ] = None,
    checkpoint_every: Annotated[
        int, typer.Option(help="bars between two checkpoints in the database", min=1)
    ] = DEFAULT_CHECKPOINT_EVERY,
    store: Annotated[
        str,
        typer.Option(
            help="what the run keeps: full (everything, in checkpoints; resumable), summary "
            "(the run, its orders, fills, metrics and explanations, written at the end; not "
            "resumable) or none (nothing: the metrics are printed, --report still written)"
        ),
    ] = STORE_FULL,
    report: ReportOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Run a backtest and print its metrics (or, with --json, one JSON object)."""
    from coinswarm import bootstrap  # noqa: PLC0415 - heavy: loads the engine

    try:
        report = report_path(report)
        runs_folder(runs_dir)
        request = bootstrap.BacktestRequest(
            data=data_files(data),
            pair=pair,
            timeframe=timeframe,
            start_ns=bound(start, "--start"),
            end_ns=bound(end, "--end"),
            strategy=strategy,
            parameters=with_patterns(parameters(param or []), patterns, strategy),
            fee_bps=decimal_option(fee_bps, "--fee-bps"),
            slippage=slippage_option(slippage_bps),
            max_volume_share=None
            if max_volume_share is None
            else decimal_option(max_volume_share, "--max-volume-share"),
            cash=decimal_option(cash, "--cash", positive=True),
            seed=seed,
            synthetic_bars=bars,
            phase=phase,
            risk_file=risk_file,
            reset_after_days=reset_after_days,
            database=db,
            checkpoint_every=checkpoint_every,
            store=store,
            shared_state=state_url,
            bus=bus,
        )
        with _interruptible(db=db, runs_dir=runs_dir, as_json=as_json):
            outcome = _run(request, quiet=quiet or as_json)
        if report is not None:
            outcome.write_report(report)
        if request.store != STORE_NONE:
            folder = outcome.save(runs_dir or default_runs_dir())
            if report is not None:
                from coinswarm.backtest.runs import note_report  # noqa: PLC0415

                note_report(folder, report)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    show_outcome(outcome, as_json=as_json, report=report)


@app.command()
def demo(
    *,
    data: Annotated[
        list[Path] | None,
        typer.Option(help="OHLCV files in the shared format; default: the synthetic market"),
    ] = None,
    report: Annotated[Path, typer.Option(help="where to write the HTML report")] = DEFAULT_REPORT,
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are kept")] = None,
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Backtest the committee in the phase-0 profile, print its metrics, write the report."""
    from coinswarm import bootstrap  # noqa: PLC0415 - heavy: loads the engine

    try:
        report_path(report)
        runs_folder(runs_dir)
        request = bootstrap.BacktestRequest(
            data=data_files(data), strategy="committee", database=db
        )
        with _interruptible(db=db, runs_dir=runs_dir):
            outcome = _run(request, quiet=quiet)
        written = outcome.write_report(report)
        from coinswarm.backtest.runs import note_report  # noqa: PLC0415

        note_report(outcome.save(runs_dir or default_runs_dir()), written)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    market = ", ".join(f"{s} ({len(b):,} bars)" for s, b in outcome.result.market.items())
    stdout.print(f"market: {market}")
    stdout.print(_metrics_table(outcome))
    _print_run(outcome, written)


def show_outcome(outcome: bootstrap.BacktestOutcome, *, as_json: bool, report: Path | None) -> None:
    """Print a finished run: one JSON object, or the metrics table and where to look next."""
    if as_json:
        typer.echo(json.dumps(outcome.summary(), sort_keys=True))
        return
    stdout.print(_metrics_table(outcome))
    _print_run(outcome, report)


def _print_run(outcome: bootstrap.BacktestOutcome, report: Path | None) -> None:
    phase = "no limits" if outcome.risk is None else f"phase {outcome.risk.phase}"
    stdout.print(f"run: {outcome.run_id} ({phase}, {len(outcome.result.orders)} orders)")
    for line in outcome.result.costs.describe():
        stdout.print(f"costs: {line}", markup=False, highlight=False, soft_wrap=True)
    for line in outcome.risk_lines():
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)
    if report is not None:  # a path is never wrapped: it is copied from the terminal
        stdout.print(f"report: {report}", markup=False, highlight=False, soft_wrap=True)
    if outcome.store == STORE_NONE:
        stdout.print("why did it trade: not kept (--store none); --store summary keeps it")
    else:
        stdout.print(f"why did it trade: coinswarm explain {outcome.run_id} ORDER_ID")


@app.command()
def resume(
    run: Annotated[str, typer.Argument(help="the run id of a backtest that was interrupted")],
    db: DbOption = None,
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are kept")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Finish a backtest or paper run that was killed or interrupted, from its last checkpoint.

    The run is looked up in the backtest's database, then in paper's (unless --db names
    one); a paper run resumes at full speed. A finished run is re-checked.
    """
    from coinswarm import bootstrap  # noqa: PLC0415 - heavy: loads the engine
    from coinswarm.cli._progress import RunProgressView  # noqa: PLC0415 - rich loads when a run does

    progress = RunProgressView(f"resume {run}", quiet=quiet or as_json)
    try:
        runs_folder(runs_dir)
        with _interruptible(db=db, runs_dir=runs_dir, as_json=as_json):
            outcome = bootstrap.resume(run, database=db, progress=progress)
        outcome.save(runs_dir or default_runs_dir())
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    finally:
        progress.close()
    show_outcome(outcome, as_json=as_json, report=None)


@app.command()
def explain(
    run: Annotated[str, typer.Argument(help="run id, as printed by backtest or demo")],
    order_id: Annotated[str, typer.Argument(help="exchange or client order id")],
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are kept")] = None,
) -> None:
    """Print why an order was placed: the bar, the votes, the verdict, risk and fills."""
    from coinswarm.backtest.runs import find_explanation  # noqa: PLC0415

    try:
        lines = find_explanation(runs_dir or default_runs_dir(), run, order_id)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    for line in lines:
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)
