"""Run an exchange app with uvicorn on 127.0.0.1 in a background thread (tests, demos)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from coinswarm.exchanges.local_coinbase.tls import TlsFiles

__all__ = ["LOOPBACK", "RunningServer", "serve_in_thread"]

LOOPBACK = "127.0.0.1"


@dataclass(slots=True)
class RunningServer:
    """A server running in a thread; `host` is "127.0.0.1:port", the SDK's `base_url`."""

    host: str
    base_url: str
    tls: TlsFiles | None
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the server to finish and wait for its thread; raise if it will not stop."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            msg = f"server {self.base_url} did not stop within {timeout_s} s"
            raise TimeoutError(msg)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(
    app: FastAPI, *, port: int = 0, tls: TlsFiles | None = None, timeout_s: float = 10.0
) -> RunningServer:
    """Start `app` on 127.0.0.1 (any free port by default) and return once it listens."""
    config = uvicorn.Config(
        app,
        host=LOOPBACK,
        port=port,
        log_level="warning",
        lifespan="off",
        # The plain asyncio loop on every machine: uvloop (which ccxt installs) would otherwise
        # be picked up silently and make servers behave differently from one machine to another.
        loop="asyncio",
        # The websocket feed (ws.py); the sans-I/O implementation avoids the deprecated legacy API.
        ws="websockets-sansio",
        # A client's idle keep-alive connection must not hold a test's teardown hostage.
        timeout_graceful_shutdown=1,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="local-coinbase", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            msg = f"local exchange did not start within {timeout_s} s"
            raise RuntimeError(msg)
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    host = f"{LOOPBACK}:{bound_port}"
    scheme = "https" if tls else "http"
    return RunningServer(host, f"{scheme}://{host}", tls, server, thread)
