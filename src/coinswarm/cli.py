"""`coinswarm ...`: the command line. It parses, calls bootstrap, and prints; nothing else.

Every failure a user can cause (a bad file, a bad parameter) ends as one line on stderr that
starts with `error:` and exit code 2, and nothing is written.
"""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from coinswarm import __version__, bootstrap
from coinswarm.backtest.engine import DEFAULT_CHECKPOINT_EVERY
from coinswarm.backtest.runs import default_runs_dir, find_explanation
from coinswarm.data import inspect_series, load_bars
from coinswarm.data.timefmt import parse_timestamp
from coinswarm.domain.clock import WallClock
from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.audit import AuditKind, append, verify
from coinswarm.infra.storage import resolve_url, upgrade
from coinswarm.orchestration.door import RiskEvent, describe_event
from coinswarm.risk.circuit_breaker import CircuitBreaker
from coinswarm.risk.kill_switch import KillSwitch
from coinswarm.risk.profiles import profile_for
from coinswarm.risk.state_file import StoredRiskState, load_risk_state, save_risk_state

__all__ = ["app", "main"]

app = typer.Typer(
    name="coinswarm",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Coinswarm: backtest, then paper, sandbox and live trading through one engine.",
)
data_app = typer.Typer(no_args_is_help=True, help="Look at market data files.")
app.add_typer(data_app, name="data")
risk_app = typer.Typer(
    no_args_is_help=True, help="See, set and reset the stops that wait for a person."
)
app.add_typer(risk_app, name="risk")
db_app = typer.Typer(no_args_is_help=True, help="Create and migrate the database.")
app.add_typer(db_app, name="db")
audit_app = typer.Typer(no_args_is_help=True, help="Check the tamper-evident audit log.")
app.add_typer(audit_app, name="audit")

stdout = Console()
stderr = Console(stderr=True)

DEFAULT_REPORT = Path("coinswarm-report.html")

SharedOption = Annotated[
    str | None,
    typer.Option(
        "--state-url",
        envvar="COINSWARM_REDIS_URL",
        help="Redis URL of the kill switch shared by every process",
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(help="database URL (default: COINSWARM_DATABASE_URL, else the SQLite file)"),
]


class UsageError(CoinswarmError, ValueError):
    """A command-line value that cannot be used as given."""


class _LazyProgress:
    """A progress bar that appears only once a run has taken more than a second."""

    def __init__(self, label: str, *, quiet: bool) -> None:
        self._label = label
        self._quiet = quiet
        self._started = time.monotonic()  # display timing only: never reaches the engine
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._quiet:
            return
        if self._bar is None:
            if time.monotonic() - self._started < 1.0:
                return
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,}"),
                TextColumn("/ {task.total:,} bars"),
                TimeRemainingColumn(),
                console=stderr,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self._label, total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"{option}: expected a number, found {text!r}") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"{option}: expected a finite number of 0 or more, found {text!r}")
    return value


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param: expected KEY=VALUE, found {pair!r}")
        parameters[key.strip()] = value.strip()
    return parameters


def _bound(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    stamp = text if "T" in text or " " in text else f"{text}T00:00:00Z"
    try:
        return parse_timestamp(stamp if stamp.endswith(("Z", "+00:00")) else f"{stamp}Z")
    except ValueError as exc:
        raise UsageError(f"{option}: expected a UTC date like 2021-01-31, found {text!r}") from exc


_HIDDEN_IN_TABLE = frozenset({"max_drawdown_duration_ns"})  # shown in days beside it


def _metrics_table(outcome: bootstrap.BacktestOutcome) -> Table:
    ours, hold = outcome.metrics.to_dict(), outcome.benchmark.to_dict()
    table = Table(title=f"{outcome.result.strategy} vs buy-and-hold", title_justify="left")
    table.add_column("metric")
    table.add_column(outcome.result.strategy, justify="right")
    table.add_column("buy-and-hold", justify="right")
    for key, value in ours.items():
        if key in _HIDDEN_IN_TABLE:
            continue
        table.add_row(key, _cell(value), _cell(hold.get(key)))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}"
    return str(value)


def _run(request: bootstrap.BacktestRequest, *, quiet: bool) -> bootstrap.BacktestOutcome:
    progress = _LazyProgress(f"backtest {request.strategy}", quiet=quiet)
    try:
        return bootstrap.run(request, progress=progress)
    finally:
        progress.close()


def _fail(error: Exception) -> typer.Exit:
    stderr.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


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
    start: Annotated[str | None, typer.Option(help="first bar, UTC date or time")] = None,
    end: Annotated[str | None, typer.Option(help="stop before this UTC date or time")] = None,
    strategy: Annotated[str, typer.Option(help="strategy name")] = "sma-cross",
    param: Annotated[list[str] | None, typer.Option(help="strategy parameter KEY=VALUE")] = None,
    fee_bps: Annotated[str, typer.Option(help="maker and taker fee, basis points")] = "60",
    slippage_bps: Annotated[str, typer.Option(help="adverse slippage, basis points")] = "0",
    max_volume_share: Annotated[
        str | None, typer.Option(help="fill at most this share of a bar's volume")
    ] = None,
    cash: Annotated[str, typer.Option(help="starting cash in the quote currency")] = "10000",
    seed: Annotated[int, typer.Option(help="seed of the synthetic market")] = 7,
    bars: Annotated[
        int, typer.Option(help="hourly bars of the synthetic market", min=2)
    ] = bootstrap.SYNTHETIC_BARS,
    phase: Annotated[str, typer.Option(help="risk phase 0-5, 'none' or 'default'")] = "default",
    risk_file: Annotated[Path | None, typer.Option(help="TOML file of risk settings")] = None,
    reset_after_days: Annotated[
        int,
        typer.Option(help="days before the simulated operator resets a stop; 0: never", min=0),
    ] = 7,
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are kept")] = None,
    db: DbOption = None,
    state_url: Annotated[
        str | None, typer.Option(help="Redis URL of the shared kill switch this run obeys")
    ] = None,
    bus: Annotated[
        str | None, typer.Option(help="NATS URL to publish orders, fills and risk events to")
    ] = None,
    checkpoint_every: Annotated[
        int, typer.Option(help="bars between two checkpoints in the database", min=1)
    ] = DEFAULT_CHECKPOINT_EVERY,
    report: Annotated[Path | None, typer.Option(help="write the HTML report here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Run a backtest and print its metrics (or, with --json, one JSON object)."""
    try:
        request = bootstrap.BacktestRequest(
            data=tuple(data or ()),
            pair=pair,
            start_ns=_bound(start, "--start"),
            end_ns=_bound(end, "--end"),
            strategy=strategy,
            parameters=_parameters(param or []),
            fee_bps=_decimal(fee_bps, "--fee-bps"),
            slippage_bps=_decimal(slippage_bps, "--slippage-bps"),
            max_volume_share=None
            if max_volume_share is None
            else _decimal(max_volume_share, "--max-volume-share"),
            cash=_decimal(cash, "--cash"),
            seed=seed,
            synthetic_bars=bars,
            phase=phase,
            risk_file=risk_file,
            reset_after_days=reset_after_days,
            database=db,
            checkpoint_every=checkpoint_every,
            shared_state=state_url,
            bus=bus,
        )
        outcome = _run(request, quiet=quiet or as_json)
        if report is not None:
            outcome.write_report(report)
        outcome.save(runs_dir or default_runs_dir())
    except (CoinswarmError, OSError) as error:
        raise _fail(error) from None
    if as_json:
        typer.echo(json.dumps(outcome.summary(), sort_keys=True))
        return
    stdout.print(_metrics_table(outcome))
    _print_run(outcome, report)


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
    try:
        request = bootstrap.BacktestRequest(
            data=tuple(data or ()), strategy="committee", database=db
        )
        outcome = _run(request, quiet=quiet)
        written = outcome.write_report(report)
        outcome.save(runs_dir or default_runs_dir())
    except (CoinswarmError, OSError) as error:
        raise _fail(error) from None
    market = ", ".join(f"{s} ({len(b):,} bars)" for s, b in outcome.result.market.items())
    stdout.print(f"market: {market}")
    stdout.print(_metrics_table(outcome))
    _print_run(outcome, written)


def _print_run(outcome: bootstrap.BacktestOutcome, report: Path | None) -> None:
    phase = "no limits" if outcome.risk is None else f"phase {outcome.risk.phase}"
    stdout.print(f"run: {outcome.run_id} ({phase}, {len(outcome.result.orders)} orders)")
    if outcome.result.risk_events:
        stdout.print(f"risk events: {len(outcome.result.risk_events)} (see the report)")
    if report is not None:
        stdout.print(f"report: {report}")
    stdout.print(f"why did it trade: coinswarm explain {outcome.run_id} ORDER_ID")


@app.command()
def resume(
    run: Annotated[str, typer.Argument(help="the run id of a backtest that was interrupted")],
    db: DbOption = None,
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are kept")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Finish a run that was killed, from its last checkpoint; a finished one is re-checked."""
    progress = _LazyProgress(f"resume {run}", quiet=quiet or as_json)
    try:
        outcome = bootstrap.resume(run, database=db, progress=progress)
        outcome.save(runs_dir or default_runs_dir())
    except (CoinswarmError, OSError) as error:
        raise _fail(error) from None
    finally:
        progress.close()
    if as_json:
        typer.echo(json.dumps(outcome.summary(), sort_keys=True))
        return
    stdout.print(_metrics_table(outcome))
    _print_run(outcome, None)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Bring the database to the newest migration (creating it if it is empty)."""
    try:
        revision = upgrade(resolve_url(db))
    except (CoinswarmError, OSError) as error:
        raise _fail(error) from None
    stdout.print(f"database at revision {revision}", markup=False, highlight=False)


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Walk the audit chain and report the first broken entry, if any (exit 1 when broken)."""
    try:
        with bootstrap.open_store(db) as store:
            report = verify(store.engine)
    except (CoinswarmError, OSError) as error:
        raise _fail(error) from None
    stdout.print(str(report), markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def explain(
    run: Annotated[str, typer.Argument(help="run id, as printed by backtest or demo")],
    order_id: Annotated[str, typer.Argument(help="exchange or client order id")],
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are kept")] = None,
) -> None:
    """Print why an order was placed: the bar, the votes, the verdict, risk and fills."""
    try:
        lines = find_explanation(runs_dir or default_runs_dir(), run, order_id)
    except (CoinswarmError, OSError) as error:
        raise _fail(error) from None
    for line in lines:
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)


@data_app.command("inspect")
def data_inspect(
    file: Annotated[Path, typer.Argument(help="OHLCV CSV/Parquet file")],
    top: Annotated[int, typer.Option(help="how many of the largest moves to list")] = 10,
) -> None:
    """Print a file's coverage, its gaps and its largest one-bar moves."""
    try:
        inspection = inspect_series(load_bars(file), top=top)
    except (CoinswarmError, OSError) as error:
        raise _fail(error) from None
    for line in inspection.render_lines():
        stdout.print(line, markup=False, highlight=False)


StateOption = Annotated[
    Path | None, typer.Option("--state", help="risk state file (default: in the data folder)")
]
ByOption = Annotated[str, typer.Option(help="who does this: a person's name")]
ReasonOption = Annotated[str, typer.Option(help="why, in a few words")]


def _state_path(state: Path | None) -> Path:
    return state or default_runs_dir().parent / "risk-state.json"


def _risk_machines(path: Path) -> tuple[KillSwitch, CircuitBreaker, StoredRiskState]:
    stored = load_risk_state(path)
    profile = profile_for(0)
    return (
        KillSwitch(profile, stored.kill_switch),
        CircuitBreaker(profile.breaker, stored.breaker),
        stored,
    )


def _save_machines(
    path: Path, kill: KillSwitch, breaker: CircuitBreaker, stored: StoredRiskState, db: str | None
) -> None:
    events: list[RiskEvent] = sorted([*kill.events, *breaker.events], key=lambda e: e.ts)
    log = (*stored.log, *(describe_event(e) for e in events))
    save_risk_state(path, StoredRiskState(kill.state(), breaker.state(), log))
    # Every manual stop and reset is also in the tamper-evident audit log.
    with bootstrap.open_store(db) as store, store.transaction() as session:
        for event in events:
            kind = AuditKind.RESET if event.kind == "RESET" else AuditKind.MANUAL_STOP
            append(
                session,
                ts=event.ts,
                kind=kind,
                actor=event.by or "unknown",
                payload={"event": str(event.kind), "reason": event.reason, "state": str(path)},
            )


@risk_app.command("status")
def risk_status(state: StateOption = None) -> None:
    """Print the stops in force and the circuit breaker's state."""
    path = _state_path(state)
    try:
        kill, breaker, stored = _risk_machines(path)
    except CoinswarmError as error:
        raise _fail(error) from None
    stops = kill.stops
    stdout.print(f"state file: {path}", markup=False, highlight=False)
    if not stops and not breaker.tripped:
        stdout.print("no stops: trading allowed")
    for kind, why in sorted(stops.items()):
        stdout.print(f"stop {kind}: {why}", markup=False, highlight=False)
    if breaker.tripped:
        latch = "latched until reset" if breaker.latched else "cooling down"
        stdout.print(f"circuit breaker {latch}: {breaker.state().reason}", markup=False)
    for line in stored.log[-10:]:
        stdout.print(f"  {line}", markup=False, highlight=False)


@risk_app.command("stop")
def risk_stop(
    by: ByOption,
    reason: ReasonOption,
    state: StateOption = None,
    state_url: SharedOption = None,
    db: DbOption = None,
) -> None:
    """Stop all trading now (kill switch and circuit breaker) until a person resets it."""
    path = _state_path(state)
    try:
        kill, breaker, stored = _risk_machines(path)
        now = WallClock().now_ns()
        kill.manual_stop(now, reason, by=by)
        breaker.emergency_stop(now, reason, by=by)
        _save_machines(path, kill, breaker, stored, db)
        shared = bootstrap.shared_state(state_url)
        if shared is not None:
            shared.set_kill_switch(reason, by, now)
    except (CoinswarmError, OSError) as error:
        raise _fail(error) from None
    stdout.print(f"stopped by {by}: {reason}", markup=False, highlight=False)


@risk_app.command("reset")
def risk_reset(
    by: ByOption,
    reason: ReasonOption,
    state: StateOption = None,
    state_url: SharedOption = None,
    db: DbOption = None,
) -> None:
    """Clear the stops that wait for a person (a daily-loss stop still ends with its day)."""
    path = _state_path(state)
    try:
        kill, breaker, stored = _risk_machines(path)
        now = WallClock().now_ns()
        kill.reset(now, by=by, reason=reason)
        breaker.reset(now, by=by, reason=reason)
        _save_machines(path, kill, breaker, stored, db)
        shared = bootstrap.shared_state(state_url)
        if shared is not None:
            shared.clear_kill_switch(by, now)
    except (CoinswarmError, OSError) as error:
        raise _fail(error) from None
    stdout.print(f"reset by {by}: {reason}", markup=False, highlight=False)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _log_to_file() -> None:
    """Send library log records to coinswarm.log in the data folder, not over our errors."""
    folder = default_runs_dir().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "coinswarm.log", encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def main() -> None:
    """Run the command line."""
    _log_to_file()
    app()
