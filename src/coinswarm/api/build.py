"""Build what `coinswarm serve` runs: the services and each of their parts, in start order.

Each part is built here, in one flat list, from the settings; the app starts them in this
order and stops them in reverse (see `app.create_app`). A part that needs another finds it in
`Services.parts` by name when it starts, so construction stays a plain list.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from coinswarm.api.audit import AUDITOR, Auditor
from coinswarm.api.control import CONTROLS, Controls
from coinswarm.api.feed import install_live
from coinswarm.api.jobs import JOBS, Jobs
from coinswarm.api.routes.alerts import ALERTS
from coinswarm.api.routes.metrics import METRICS
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.infra.alerts import AlertEngine, AlertSettings
from coinswarm.infra.metrics import Metrics
from coinswarm.infra.state import shared_state
from coinswarm.reporting.schedule import DAILY, DailyReports

__all__ = ["build_services"]


def build_services(
    settings: ServeSettings, *, clock_ns: Callable[[], int] = time.time_ns
) -> Services:
    """Return the services of one server over `settings`, every part built but not started.

    Raises `StateUnavailableError` when `settings.state_url` names a Redis that does not
    answer: a stop that could not reach the shared kill switch would be worse than no server;
    `AlertConfigError` (one line naming the variable) for unusable COINSWARM_ALERT_* settings.
    """
    found = Services(settings=settings, clock_ns=clock_ns)
    shared = shared_state(settings.state_url)
    parts: list[tuple[str, Any]] = [
        (METRICS, Metrics(clock_ns)),  # before the feed: it counts every live event
        (AUDITOR, Auditor(settings.db, clock_ns=clock_ns)),
        (CONTROLS, Controls(shared=shared, clock_ns=clock_ns)),
        (JOBS, Jobs(settings, clock_ns=clock_ns)),
        # Finds the hub and the metrics in `found.parts` when it sends, whatever their order.
        (
            ALERTS,
            AlertEngine(AlertSettings(), url=settings.db, clock_ns=clock_ns, parts=found.parts),
        ),
        # At 00:00 UTC the day's reports, sent through the alerts part (started before it).
        (DAILY, DailyReports(db=settings.db, clock_ns=clock_ns, parts=found.parts)),
    ]
    found.parts.update(parts)
    install_live(found)  # the live hub, the session board and the feed (live.py, feed.py)
    return found
