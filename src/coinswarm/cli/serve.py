"""`coinswarm serve`: the API and the dashboards, on 127.0.0.1 unless told otherwise.

The settings are `COINSWARM_API_*` variables (tokens also from the keyring), each overridden
by its option. Reachable from other machines (a --host that is not a loopback address), the
server must not be open by mistake: it wants both tokens, or --public for a read-only view,
and tokens long enough not to be guessed over the network. The web server, the API and the
engine load only when the command runs (tests/unit/test_cli_startup.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import socket
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from coinswarm.cli._shared import (
    UsageError,
    app,
    database_option,
    fail,
    runs_folder,
    stderr,
    stdout,
    tell,
)
from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from coinswarm.api.settings import ServeSettings

__all__ = ["refuse_exposure", "serve", "serve_settings", "warn_without_tokens"]

REDIS_VARIABLE = "COINSWARM_REDIS_URL"
MIN_TOKEN = 16
"""The shortest token a server reachable from other machines accepts."""
BUS_SCHEMES = ("nats", "tls", "ws", "wss")
_GRACE_S = 2  # an open websocket must not hold Ctrl-C for long


@app.command()
def serve(
    *,
    host: Annotated[
        str | None,
        typer.Option(help="address to listen on (default 127.0.0.1: this machine only)"),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="port (default 8787; 0: any free port)", min=0, max=65535)
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="database URL (default: COINSWARM_API_DB, else the embedded SQLite file)",
            callback=database_option,
        ),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are kept")] = None,
    bus: Annotated[
        str | None,
        typer.Option(help="NATS URL to follow sessions in other processes or on other machines"),
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="let anyone read (GETs without a token); never act")
    ] = False,
) -> None:
    """Serve the API and the live dashboards until Ctrl-C.

    Viewers (COINSWARM_API_VIEWER_TOKEN) may look, the operator (COINSWARM_API_OPERATOR_TOKEN)
    may also pause, resume, stop and start jobs; every action goes to the audit log.
    """
    try:
        settings = serve_settings(
            host=host, port=port, db=db, runs_dir=runs_dir, bus=bus, public=public or None
        )
        refuse_exposure(settings)
        listening = _listen(settings.host, settings.port)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    warn_without_tokens(settings)
    try:
        _serve(settings, listening)
    finally:
        listening.close()


def serve_settings(**given: Any) -> ServeSettings:
    """Return the variables' settings, each option given overriding its variable."""
    from pydantic import ValidationError  # noqa: PLC0415

    from coinswarm.api.settings import ServeSettings  # noqa: PLC0415

    runs_folder(given.get("runs_dir"))
    bus = given.get("bus")
    if bus is not None and urlsplit(bus).scheme not in BUS_SCHEMES:
        raise UsageError(f"--bus: expected a NATS URL such as nats://127.0.0.1:4222, found {bus!r}")
    try:
        settings = ServeSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as error:
        first = error.errors()[0]
        where = "COINSWARM_API_" + "_".join(str(p) for p in first["loc"]).upper()
        raise UsageError(f"{where}: {first['msg']}") from None
    if settings.state_url is None and os.environ.get(REDIS_VARIABLE):
        # The shared kill switch `coinswarm risk stop` and the sessions use.
        settings = settings.model_copy(update={"state_url": os.environ[REDIS_VARIABLE]})
    return settings.with_keyring()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def refuse_exposure(settings: ServeSettings) -> None:
    """Refuse to listen beyond this machine without the tokens that guard it."""
    host = settings.host
    if _loopback(host):
        return
    tokens = {
        "COINSWARM_API_VIEWER_TOKEN": settings.viewer_token,
        "COINSWARM_API_OPERATOR_TOKEN": settings.operator_token,
    }
    missing = [name for name, token in tokens.items() if token is None]
    if missing and not settings.public:
        raise UsageError(
            f"--host {host} is reachable from other machines: set {' and '.join(missing)} "
            "(or --public to let anyone read; acting always needs the operator token)"
        )
    short = [n for n, t in tokens.items() if t is not None and len(t.get_secret_value()) < 16]
    if short:
        raise UsageError(
            f"--host {host} is reachable from other machines: {' and '.join(short)} must be "
            f"at least {MIN_TOKEN} characters (a short one can be guessed over the network)"
        )


def warn_without_tokens(settings: ServeSettings) -> None:
    if settings.operator_token is None:
        tell(
            "note: COINSWARM_API_OPERATOR_TOKEN is not set: nobody can pause, resume, stop or "
            "start jobs through this server"
        )
    if settings.viewer_token is None and settings.operator_token is None and not settings.public:
        tell("note: no token is set and the server is not --public: only /api/health answers")


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen before the server starts, so that port 0's choice is known to print
    and a port in use is one error line, not a log entry."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )[0]
    except socket.gaierror as error:
        raise UsageError(f"--host: {host!r} is not an address of this machine ({error})") from None
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(128)
    except OSError as error:
        listening.close()
        raise UsageError(f"cannot listen on {host} port {port}: {error.strerror}") from None
    listening.set_inheritable(True)
    return listening


def _url(listening: socket.socket) -> str:
    host, port = listening.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _serve(settings: ServeSettings, listening: socket.socket) -> None:
    """Run the server until Ctrl-C or SIGTERM; exit 0 once it stopped cleanly."""
    import uvicorn  # noqa: PLC0415 - heavy: only when the server runs

    from coinswarm.api.app import create_app  # noqa: PLC0415
    from coinswarm.api.build import build_services  # noqa: PLC0415

    try:
        found = build_services(settings)
    except CoinswarmError as error:
        raise fail(error) from None
    url = _url(listening)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                stdout.print(
                    f"serving {url} (API docs: {url}docs); Ctrl-C stops",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )

    config = uvicorn.Config(
        create_app(found=found),
        lifespan="on",
        loop="asyncio",
        ws="websockets-sansio",
        # Compressing each event costs more CPU than the bytes it saves on a fan-out to many
        # dashboards (bench_websocket.py fell seconds behind with it).
        ws_per_message_deflate=False,
        log_config=None,  # uvicorn's records go to coinswarm.log with every other library's
        access_log=False,  # a websocket's URL carries its token: never write request lines
        timeout_graceful_shutdown=_GRACE_S,
    )
    server = Server(config)
    previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        asyncio.run(server.serve(sockets=[listening]))
    except KeyboardInterrupt:
        pass  # uvicorn stopped on the signal, then raised it again for us: a clean stop
    except SystemExit:
        stderr.print(
            "error: the server did not start: coinswarm.log in the data folder says why",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1) from None
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    tell("stopped")


def _interrupt(_signal: int, _frame: FrameType | None) -> None:
    # Before uvicorn takes the signals, and when it hands them back after a clean shutdown.
    raise KeyboardInterrupt
