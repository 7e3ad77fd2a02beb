"""The commands that trade on live market data: sandbox and live."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from coinswarm.backtest.defaults import default_runs_dir, risk_state_path
from coinswarm.cli._shared import (
    DbOption,
    SharedOption,
    app,
    decimal_option,
    fail,
    parameters,
    stderr,
    stdout,
)
from coinswarm.cli.risk import warn_if_stopped
from coinswarm.cli.runs import show_outcome
from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from coinswarm.sessions import SessionRequest

# The engine, the exchange clients and the local exchange load only when a session starts:
# every other command (and every test that runs the command line) starts faster without them.
SANDBOX, LIVE = "sandbox", "live"

StrategyOption = Annotated[str, typer.Option(help="strategy name")]
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


def _state_file(mode: str, state: Path | None) -> Path:
    return state or risk_state_path(mode)


@contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """Yield an event that Ctrl-C (or SIGTERM, from a service manager) sets, so the session
    finishes its bar and ends cleanly."""
    stop = threading.Event()

    def interrupted(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    stopping = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, interrupted) for number in stopping}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _tell_resume(request: SessionRequest, run_id: str) -> None:
    """Tell a person who stopped a session its run id and the command that continues it."""
    from coinswarm.backtest.catalog import session_resume_command  # noqa: PLC0415

    _tell(f"interrupted: session {run_id} stopped after its current bar")
    if request.url is None:
        _tell("it ran on the default local exchange, which ended with it: start a new session")
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
    _tell(f"resume it with: {command}")


def _tell(line: str) -> None:
    stderr.print(line, markup=False, highlight=False, soft_wrap=True)


def _session(request: SessionRequest, *, as_json: bool) -> None:
    from coinswarm import sessions  # noqa: PLC0415

    try:
        if request.state_file is not None:
            warn_if_stopped(request.mode, request.state_file)
        with _stop_on_interrupt() as stop:
            # The guard's pauses and the shadow's gap go to stderr: stdout may be --json.
            outcome = sessions.run_session(request, stop=stop, say=_tell)
        outcome.save(default_runs_dir())
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    show_outcome(outcome, as_json=as_json, report=None)
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
    as_json: JsonOption = False,
) -> None:
    """Trade against an exchange's test environment: the engine of the backtest, live data.

    Without --url a local Coinbase-compatible exchange starts on 127.0.0.1 with a new key.
    With --url the key comes from COINSWARM_SANDBOX_KEY_NAME and COINSWARM_SANDBOX_PRIVATE_KEY.
    """
    from coinswarm.sessions import SessionRequest  # noqa: PLC0415

    try:
        request = SessionRequest(
            mode=SANDBOX,
            url=url,
            ws_url=ws_url,
            products=tuple(product or ()),
            data=tuple(data or ()),
            bar_seconds=bar_seconds,
            cash=decimal_option(cash, "--cash"),
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
    _session(request, as_json=as_json)


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
    as_json: JsonOption = False,
) -> None:
    """Trade real money under a real-money risk profile, after every start-up check passes.

    The key comes from COINSWARM_COINBASE_KEY_NAME and COINSWARM_COINBASE_PRIVATE_KEY (or the
    keyring). Live trading refuses to start on a kill switch that is set, a key that can
    transfer funds, or an exchange that does not reconcile with a flat book.
    """
    from coinswarm.preflight import confirmation_text  # noqa: PLC0415
    from coinswarm.sessions import SessionRequest  # noqa: PLC0415

    expected = confirmation_text(url)
    if confirm is None:
        stdout.print(f"To trade real money, type: {expected}")
        confirm = typer.prompt("confirmation", default="", show_default=False)
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
    _session(request, as_json=as_json)
