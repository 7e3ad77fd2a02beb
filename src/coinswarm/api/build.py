"""Build what `coinswarm serve` runs: the services and each of their parts, in start order.

Each part is built here, in one flat list, from the settings; the app starts them in this
order and stops them in reverse (see `app.create_app`). A part that needs another finds it in
`Services.parts` by name when it starts, so construction stays a plain list.
"""

from __future__ import annotations

<<<<<<< HEAD
import os
import time
from collections.abc import Callable
from typing import Any

from coinswarm.api.audit import AUDITOR, Auditor
from coinswarm.api.control import CONTROLS, Controls
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.infra.state import shared_state

__all__ = ["SHARED_STATE_VARIABLE", "build_services"]

SHARED_STATE_VARIABLE = "COINSWARM_REDIS_URL"
"""The shared kill switch's Redis, as `coinswarm risk stop --state-url` reads it."""
=======
import time
from collections.abc import Callable

from coinswarm.api.routes.metrics import METRICS
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.infra.metrics import Metrics

__all__ = ["build_services"]
>>>>>>> main


def build_services(
    settings: ServeSettings, *, clock_ns: Callable[[], int] = time.time_ns
) -> Services:
<<<<<<< HEAD
    """Return the services of one server over `settings`, every part built but not started.

    Raises `StateUnavailableError` when COINSWARM_REDIS_URL names a server that does not answer:
    a stop that could not reach the shared kill switch would be worse than no server.
    """
    found = Services(settings=settings, clock_ns=clock_ns)
    parts: list[tuple[str, Any]] = [
        (AUDITOR, Auditor(settings.db, clock_ns=clock_ns)),
        (
            CONTROLS,
            Controls(shared=shared_state(os.environ.get(SHARED_STATE_VARIABLE)), clock_ns=clock_ns),
        ),
    ]
    found.parts.update(parts)
=======
    """Return the services of one server over `settings`, every part built but not started."""
    found = Services(settings=settings, clock_ns=clock_ns)
    found.parts[METRICS] = Metrics(clock_ns)  # before the feed: it counts every live event
>>>>>>> main
    return found
