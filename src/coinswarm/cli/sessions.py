"""The commands that trade on live market data: sandbox and live."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coinswarm.backtest.defaults import default_runs_dir, risk_state_path
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
    STRATEGY_HELP,
    DbOption,
    ReportOption,
    SharedOption,
    UsageError,
    app,
    data_files,
    decimal_option,
    fail,
    parameters,
    report_path,
    stdout,
    stop_on_interrupt,
    tell,
)
from coinswarm.cli.risk import warn_if_stopped
from coinswarm.cli.runs import show_outcome, stopped_note
from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from coinswarm.sessions import SessionRequest

# The engine, the exchange clients and the local exchange load only when a session starts:
# every other command (and every test that runs the command line) starts faster without them.
SANDBOX, LIVE = "sandbox", "live"

StrategyOption = Annotated[str, typer.Option(help=STRATEGY_HELP)]
ParamOption = Annotated[list[str] | None, typer.Option(help="strategy parameter KEY=VALUE")]
ProductOption = Annotated[
    list[str] | None, typer.Option("--product", help="product to trade, e.g. BTC-USD; repeat")
]
BarsOption = Annotated[
    int | None, typer.Option(help="stop after this many closed bars (default: until Ctrl-C)")
]
WsOption = Annotated[str | None, typer.Option(help="websocket URL (default: beside --url)")]
CaOption = Annotated[Path | None, typer.Option(help="extra certificate authority to trust")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]
ResumeOption = Annotated[
    str | None, typer.Option(help="continue this session after a crash (its run id)")
]
StateOption = Annotated[
    Path | None,
    typer.Option(help="the risk state file to obey and save (default: the mode's own)"),
]

WarmupOption = Annotated[int, typer.Option(help="closed bars of REST history to start from")]
ReconcileOption = Annotated[float, typer.Option(help="seconds between two reconciliations")]
ShadowOption = Annotated[
    int, typer.Option(help="report the shadow backtest's gap every this many bars (0: at the end)")
]
QuietOption = Annotated[bool, typer.Option(help="no progress display")]


def _state_file(mode: str, state: Path | None) -> Path:
    return state or risk_state_path(mode)


def _tell_resume(request: SessionRequest, run_id: str) -> None:
    """Tell a person who stopped a session its run id and the command that continues it."""
    from coinswarm.backtest.catalog import session_resume_command  # noqa: PLC0415

    tell(f"interrupted: session {run_id} stopped after its current bar")
    if request.url is None:
        tell("it ran on the default local exchange, which ended with it: start a new session")
        return
    command = session_resume_command(
        request.mode,
        run_id,
        url=request.url,
        products=request.products,
        strategy=request.strategy,
        parameters=request.parameters,
        phase=request.phase,
        database=request.database,
        ws_url=request.ws_url,
        ca_file=request.ca_file,
    )
    tell(f"resume it with: {command}")


@dataclass(frozen=True, slots=True)
class _Broadcast:
    """Where the session's live events go: --bus, --serve, --serve-port, --heartbeat."""

    bus: str | None = None
    serve: bool = False
    serve_port: int = DEFAULT_SERVE_PORT
    heartbeat_s: float = 5.0


def _session(
    request: SessionRequest,
    *,
    as_json: bool,
    quiet: bool,
    report: Path | None,
    evolve: bool = False,
    evolve_every: float = 60.0,
    broadcast: _Broadcast | None = None,
) -> None:
    """Run the session, with discovery beside it when `evolve` and its live events going
    where `broadcast` says; write its report (`report`, checked already) however it ends
    cleanly."""
    from coinswarm import sessions  # noqa: PLC0415
    from coinswarm.cli._progress import RunProgressView  # noqa: PLC0415

    progress = RunProgressView(
        f"{request.mode} {request.strategy}", quiet=quiet or as_json, lines_when_piped=True
    )
    try:
        if request.state_file is not None:
            warn_if_stopped(request.mode, request.state_file)
        closed = closed_bars_for(evolve)
        live = broadcast or _Broadcast()
        with stop_on_interrupt() as stop:
            try:
                with (
                    broadcasting(
                        bus=live.bus,
                        serve=live.serve,
                        serve_port=live.serve_port,
                        heartbeat_s=live.heartbeat_s,
                        database=request.database,
                    ) as telemetry,
                    evolving(
                        closed, mode=request.mode, database=request.database, every_s=evolve_every
                    ),
                ):
                    # The guard's pauses, the shadow's gap and discovery go to stderr: stdout
                    # may be --json.
                    outcome = sessions.run_session(
                        request,
                        stop=stop,
                        say=tell,
                        progress=progress,
                        closed_bars=closed,
                        telemetry=telemetry,
                    )
            finally:
                progress.close()
        if report is not None:
            outcome.write_report(report, notes=stopped_note(stop, request.mode))
        outcome.save(default_runs_dir())
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    show_outcome(outcome, as_json=as_json, report=report)
    if stop.is_set():
        _tell_resume(request, outcome.run_id)


@app.command()
def sandbox(
    *,
    url: Annotated[
        str | None, typer.Option(help="the sandbox's REST URL; default: a local exchange")
    ] = None,
    ws_url: WsOption = None,
    product: ProductOption = None,
    data: Annotated[
        list[Path] | None, typer.Option(help="bars the local exchange replays; default: synthetic")
    ] = None,
    bar_seconds: Annotated[
        float, typer.Option(help="the local exchange reveals a bar every this many seconds")
    ] = 1.0,
    cash: Annotated[str, typer.Option(help="the local exchange's starting balance")] = "100000",
    strategy: StrategyOption = "committee",
    param: ParamOption = None,
    phase: Annotated[str | None, typer.Option(help="risk phase (default 2: sandbox)")] = None,
    bars: BarsOption = None,
    ca_file: CaOption = None,
    state: StateOption = None,
    state_url: SharedOption = None,
    resume: ResumeOption = None,
    warmup: WarmupOption = 300,
    reconcile_every: ReconcileOption = 60.0,
    shadow_every: ShadowOption = 24,
    db: DbOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    evolve: EvolveOption = False,
    evolve_every: EvolveEveryOption = 60.0,
    bus: BusOption = None,
    serve: ServeOption = False,
    serve_port: ServePortOption = DEFAULT_SERVE_PORT,
    heartbeat: HeartbeatOption = 5.0,
) -> None:
    """Trade against an exchange's test environment: the engine of the backtest, live data.

    Without --url a local Coinbase-compatible exchange starts on 127.0.0.1 with a new key.
    With --url the key comes from COINSWARM_SANDBOX_KEY_NAME and COINSWARM_SANDBOX_PRIVATE_KEY.
    Ctrl-C ends the session after its current bar; its --report covers it until then.
    With --evolve, discovery learns beside it from its closed bars, warm-up first (no
    exchange, no orders); it stops with the session, after the cycle in hand.
    """
    from coinswarm.sessions import SessionRequest  # noqa: PLC0415

    try:
        report = report_path(report)
        request = SessionRequest(
            mode=SANDBOX,
            url=url,
            ws_url=ws_url,
            products=tuple(product or ()),
            data=data_files(data),
            bar_seconds=bar_seconds,
            cash=decimal_option(cash, "--cash", positive=True),
            strategy=strategy,
            parameters=parameters(param or []),
            phase=phase,
            bars=bars,
            ca_file=ca_file,
            database=db,
            state_file=_state_file(SANDBOX, state),
            shared_state=state_url,
            resume=resume,
            warmup_bars=warmup,
            reconcile_every_s=reconcile_every,
            shadow_every=shadow_every,
        )
    except CoinswarmError as error:
        raise fail(error) from None
    _session(
        request,
        as_json=as_json,
        quiet=quiet,
        report=report,
        evolve=evolve,
        evolve_every=evolve_every,
        broadcast=_Broadcast(bus, serve, serve_port, heartbeat),
    )


@app.command()
def live(
    *,
    url: Annotated[str, typer.Option(help="the exchange's REST URL")],
    phase: Annotated[str | None, typer.Option(help="real-money risk phase: 3, 4 or 5")] = None,
    product: ProductOption = None,
    ws_url: WsOption = None,
    strategy: StrategyOption = "committee",
    param: ParamOption = None,
    bars: BarsOption = None,
    confirm: Annotated[
        str | None, typer.Option(help="the confirmation sentence, instead of typing it")
    ] = None,
    state: StateOption = None,
    state_url: SharedOption = None,
    resume: ResumeOption = None,
    warmup: WarmupOption = 300,
    reconcile_every: ReconcileOption = 60.0,
    shadow_every: ShadowOption = 24,
    ca_file: CaOption = None,
    db: DbOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    evolve: EvolveOption = False,
    evolve_every: EvolveEveryOption = 60.0,
    bus: BusOption = None,
    serve: ServeOption = False,
    serve_port: ServePortOption = DEFAULT_SERVE_PORT,
    heartbeat: HeartbeatOption = 5.0,
) -> None:
    """Trade real money under a real-money risk profile, after every start-up check passes.

    The key comes from COINSWARM_COINBASE_KEY_NAME and COINSWARM_COINBASE_PRIVATE_KEY (or the
    keyring). Live trading refuses to start on a kill switch that is set, a key that can
    transfer funds, or an exchange that does not reconcile with a flat book. Ctrl-C ends the
    session after its current bar; its --report covers it until then.
    With --evolve, discovery runs beside the session on its closed bars: it has no exchange
    and never places an order; it runs in this process, one cycle a minute, no worker
    processes, so trading keeps the rest of the machine.
    """
    from coinswarm.preflight import confirmation_text  # noqa: PLC0415
    from coinswarm.sessions import SessionRequest, check_request  # noqa: PLC0415

    try:
        report = report_path(report)  # before the confirmation is asked for
        request = SessionRequest(
            mode=LIVE,
            url=url,
            ws_url=ws_url,
            products=tuple(product or ()),
            strategy=strategy,
            parameters=parameters(param or []),
            phase=phase,
            bars=bars,
            confirm=confirm,
            database=db,
            state_file=_state_file(LIVE, state),
            shared_state=state_url,
            ca_file=ca_file,
            resume=resume,
            warmup_bars=warmup,
            reconcile_every_s=reconcile_every,
            shadow_every=shadow_every,
        )
        # The phase, the URL, the key and all else that needs no network, before a person is
        # asked to type anything: a sentence typed for a session that cannot start is wasted.
        check_request(request)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    if confirm is None:
        expected = confirmation_text(url)
        stdout.print(f"To trade real money, type: {expected}")
        try:
            typed = typer.prompt("confirmation", default="", show_default=False)
        except typer.Abort:  # end of input: nobody there to type it
            msg = f"live: no confirmation was typed; type {expected!r} or pass --confirm"
            raise fail(UsageError(msg)) from None
        request = replace(request, confirm=typed)
    _session(
        request,
        as_json=as_json,
        quiet=quiet,
        report=report,
        evolve=evolve,
        evolve_every=evolve_every,
        broadcast=_Broadcast(bus, serve, serve_port, heartbeat),
    )
