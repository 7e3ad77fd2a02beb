"""The server beside a session: `coinswarm paper|sandbox|live --serve`.

The API and the dashboards run in the session's own process, uvicorn on a thread of its own,
and the session hands its live events straight to the server's feed: no NATS needed, the
embedded default. The server stops when the session ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from coinswarm.api.app import create_app
from coinswarm.api.build import build_services
from coinswarm.api.feed import Feed, install_live
from coinswarm.api.settings import ServeSettings
from coinswarm.domain.errors import CoinswarmError

__all__ = ["ServeError", "Served", "running", "serve_beside"]

_START_S = 15.0


class ServeError(CoinswarmError):
    """The server beside a session could not start (a port in use, say)."""


@dataclass(frozen=True, slots=True)
class Served:
    """A server running beside the session: where it listens, and its feed's entry."""

    url: str
    feed: Feed

    def submit(self, event: Mapping[str, Any]) -> bool:
        """Hand one live event to the server, from any thread, without waiting."""
        return self.feed.submit(event)


@contextmanager
def serve_beside(settings: ServeSettings) -> Iterator[Served]:
    """Run the API server on `settings.host:port` in this process until the block ends."""
    found = build_services(settings.with_keyring())
    feed = install_live(found)
    with running(create_app(found.settings, found=found), settings.host, settings.port) as url:
        yield Served(url, feed)


@contextmanager
def running(app: ASGIApp, host: str, port: int) -> Iterator[str]:
    """Serve `app` with uvicorn on a thread of its own; yield its base URL (port 0: any free
    port); stop it when the block ends."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,  # a websocket's URL carries its token: never write request lines
        # Measured (benchmarks/bench_websocket.py): the sans-I/O protocol without per-message
        # compression fans out to 100 clients with a p50 of tens of ms where the legacy one
        # with compression (uvicorn's defaults) falls seconds behind; each client would
        # compress the same event again, and live events are small.
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="serve-beside", daemon=True)
    thread.start()
    try:
        bound = _started(server, thread, f"{host}:{port}")
        yield f"http://{_host(host)}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10.0)


def _started(server: uvicorn.Server, thread: threading.Thread, where: str) -> int:
    """Wait until the server listens (and its parts started); return its port."""
    deadline = time.monotonic() + _START_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            msg = f"--serve: the API server could not start on {where} (is the port in use?)"
            raise ServeError(msg)
        time.sleep(0.02)
    sockets = [s for listening in server.servers for s in listening.sockets]
    return int(sockets[0].getsockname()[1])


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
