"""`--bus`, `--serve` and `--heartbeat` on paper, sandbox and live: the session's live events.

With `--bus nats://...` the session publishes what it does on NATS, for a `coinswarm serve
--bus` in another process or on another machine; with `--serve` it runs the API and the
dashboards in its own process and feeds them directly (no NATS). Both may be given. Only
typer loads with this module; the publisher, NATS and the web server load when asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from coinswarm.cli._shared import tell

if TYPE_CHECKING:
    from coinswarm.infra.telemetry import Telemetry

__all__ = [
    "BusOption",
    "HeartbeatOption",
    "ServeOption",
    "ServePortOption",
    "broadcasting",
]

DEFAULT_SERVE_PORT = 8787
_BUS_SCHEMES = ("nats", "tls")


def _bus_url(url: str | None) -> str | None:
    """Refuse, as the command line is parsed, a --bus that is no NATS URL."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in _BUS_SCHEMES or not parts.hostname:
        raise typer.BadParameter(
            f"expected a NATS URL such as nats://127.0.0.1:4222, found {url!r}"
        )
    return url


def _heartbeat(seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds > 0):
        raise typer.BadParameter(f"expected seconds above 0, found {seconds:g}")
    return seconds


BusOption = Annotated[
    str | None,
    typer.Option(
        "--bus",
        help="NATS URL to publish the session's live events to (bars, verdicts, orders, "
        "fills, risk, equity, heartbeats), for `coinswarm serve --bus` elsewhere; a bus "
        "that is down costs dropped events, never the session",
        callback=_bus_url,
    ),
]
ServeOption = Annotated[
    bool,
    typer.Option(
        "--serve",
        help="serve the API and the live dashboards from this process while the session "
        "runs, fed directly (no NATS); tokens and host as for `coinswarm serve`",
    ),
]
ServePortOption = Annotated[
    int, typer.Option("--serve-port", min=0, max=65535, help="the port of --serve (0: any free)")
]
HeartbeatOption = Annotated[
    float,
    typer.Option(
        "--heartbeat",
        help="seconds between two heartbeats of the live events (--bus, --serve); a server "
        "that hears none for twice this long says the session is down",
        callback=_heartbeat,
    ),
]


@contextmanager
def broadcasting(
    *,
    bus: str | None,
    serve: bool,
    serve_port: int = DEFAULT_SERVE_PORT,
    heartbeat_s: float = 5.0,
    database: str | None = None,
    runs_dir: Path | None = None,
    say: Callable[[str], None] = tell,
) -> Iterator[Telemetry | None]:
    """Yield where the session publishes its live events (None without --bus or --serve);
    flush them, then stop the server beside it, when the block ends."""
    if bus is None and not serve:
        yield None
        return
    from coinswarm.infra.telemetry import Telemetry  # noqa: PLC0415 - only when asked for
    from coinswarm.infra.telemetry_send import (  # noqa: PLC0415
        CallbackTransport,
        NatsTransport,
        Publisher,
        Publishers,
        bus_config,
    )

    with ExitStack() as stack:
        publishers = []
        if serve:
            from coinswarm.api.beside import serve_beside  # noqa: PLC0415 - the web server
            from coinswarm.cli import serve as serving  # noqa: PLC0415

            # The settings, and the refusals and notes, of `coinswarm serve` itself.
            settings = serving.serve_settings(port=serve_port, db=database, runs_dir=runs_dir)
            serving.refuse_exposure(settings)
            serving.warn_without_tokens(settings)
            served = stack.enter_context(serve_beside(settings))
            say(f"serving the API and dashboards at {served.url}")
            publishers.append(Publisher(CallbackTransport(served.submit, name="server beside")))
        if bus is not None:
            publishers.append(Publisher(NatsTransport(bus_config(bus))))
        sink = Publishers(publishers)
        stack.callback(sink.close)  # flushed before the server beside stops
        yield Telemetry(sink, heartbeat_s=heartbeat_s)
