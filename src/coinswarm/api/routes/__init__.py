"""One router per area of the API; `ROUTERS` is every one the app serves, in order."""

from fastapi import APIRouter

from coinswarm.api.routes import (
    agents,
    alerts,
    control,
    evolution,
    jobs,
    live,
    metrics,
    patterns,
    risk,
    runs,
    system,
    trades,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    runs.router,
    trades.router,
    risk.router,
    patterns.router,
    agents.router,
    evolution.router,
    metrics.router,
    control.router,
    jobs.router,
    alerts.router,
    live.router,
)
