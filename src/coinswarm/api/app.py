"""Build the FastAPI application: the routers, the error handlers, the dashboards, the parts.

Parts that run beside the requests (the bus feed, the alert engine, the daily report's timer)
start in the lifespan and stop with it, in reverse order: each is an object with async
`start()` and `stop()` held in `Services.parts`.

Once they have started, what is alive (the imports, the parts) is frozen out of the garbage
collector's full passes for the server's life (`backtest.collector`): walking those 200,000
objects made each full pass a pause of 100 to 300 ms, the worst latency a dashboard saw.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from coinswarm import __version__
from coinswarm.api.errors import install_error_handlers
from coinswarm.api.reads import Reads
from coinswarm.api.routes import ROUTERS
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.backtest.collector import long_lived_frozen

__all__ = ["STATIC", "create_app"]

STATIC = Path(__file__).parent / "static"


def create_app(settings: ServeSettings | None = None, *, found: Services | None = None) -> FastAPI:
    """Return the application over `found` (or fresh services built from `settings`)."""
    if found is None:
        found = Services(settings=settings or ServeSettings())
    found.parts.setdefault("reads", Reads(found.settings))  # its databases close with the app

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        started = []
        try:
            for part in list(found.parts.values()):
                if hasattr(part, "start"):
                    await part.start()
                    started.append(part)
            with long_lived_frozen():
                yield
        finally:
            for part in reversed(started):
                await part.stop()

    app = FastAPI(
        title="Coinswarm",
        version=__version__,
        summary="Runs, orders, risk, patterns and agents of a Coinswarm installation.",
        lifespan=lifespan,
    )
    app.state.services = found
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="dashboards")
    return app
