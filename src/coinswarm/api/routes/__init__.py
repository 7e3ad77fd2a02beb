"""One router per area of the API; `ROUTERS` is every one the app serves, in order."""

from fastapi import APIRouter

from coinswarm.api.routes import alerts, system

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (system.router, alerts.router)
