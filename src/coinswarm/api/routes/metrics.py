"""GET /metrics: the server's Prometheus metrics in the text exposition format.

The metrics need the viewer's token like every other read (or none in public mode): they name
the running sessions and show their equity, which is not everyone's to see. Prometheus sends
the token from a file (`authorization: {credentials_file: ...}` in deploy/prometheus.yml), so
scraping needs no exception to the roles.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from coinswarm.api.auth import Viewer
from coinswarm.api.services import Services, services
from coinswarm.infra.metrics import CONTENT_TYPE, Metrics

__all__ = ["METRICS", "metrics_of", "router"]

METRICS = "metrics"
"""The part's name in `Services.parts` (the feed shows it every live event)."""
HUB = "hub"
"""The live hub's part (api/live.py), whose count of dropped websocket clients is read here."""

router = APIRouter(tags=["system"])


def metrics_of(found: Services) -> Metrics:
    """Return the server's metrics, made on first use (on the server's clock)."""
    metrics = found.parts.get(METRICS)
    if metrics is None:
        metrics = found.parts[METRICS] = Metrics(found.clock_ns)
    assert isinstance(metrics, Metrics)
    return metrics


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(_role: Viewer, found: Annotated[Services, Depends(services)]) -> Response:
    """Return every metric for Prometheus to scrape (a viewer's token, or public mode)."""
    metrics = metrics_of(found)
    dropped = getattr(found.parts.get(HUB), "dropped_clients", None)
    if isinstance(dropped, int):
        metrics.clients_dropped_up_to(dropped)  # the hub counts its slow clients itself
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)
