"""What one server holds, shared by every route: settings, clock, live hub, metrics, alerts.

Routes reach it through `services(request)`. Tests build one with fakes (a fixed clock, a
memory bus) and hand it to `create_app`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from coinswarm.api.settings import ServeSettings

__all__ = ["Services", "services"]

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """The parts of a running server. Optional parts are None until their slice is wired."""

    settings: ServeSettings
    clock_ns: Callable[[], int] = time.time_ns
    started_ns: int = field(default_factory=time.time_ns)
    parts: dict[str, Any] = field(default_factory=dict)
    """Named parts that start and stop with the app (hub, feed, alerts, jobs...)."""

    def part(self, name: str) -> Any:
        """Return the part called `name`; a KeyError names the missing part."""
        return self.parts[name]


def services(connection: HTTPConnection) -> Services:
    """Return the server's services (a FastAPI dependency; works for HTTP and websockets)."""
    found: Services = connection.app.state.services
    return found
