"""Build what `coinswarm serve` runs: the services and each of their parts, in start order.

Each part is built here, in one flat list, from the settings; the app starts them in this
order and stops them in reverse (see `app.create_app`). A part that needs another finds it in
`Services.parts` by name when it starts, so construction stays a plain list.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from coinswarm.api.routes.metrics import METRICS
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.infra.metrics import Metrics

__all__ = ["build_services"]


def build_services(
    settings: ServeSettings, *, clock_ns: Callable[[], int] = time.time_ns
) -> Services:
    """Return the services of one server over `settings`, every part built but not started."""
    found = Services(settings=settings, clock_ns=clock_ns)
    found.parts[METRICS] = Metrics(clock_ns)  # before the feed: it counts every live event
    return found
