"""The operator's window: a REST and websocket API and the dashboards, served by one process.

`create_app` builds the FastAPI application over the stored runs (and, beside a session, over
the live events it publishes on the bus); `coinswarm serve` runs it with uvicorn.
"""

from coinswarm.api.app import create_app
from coinswarm.api.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
