"""One router per area of the API; `ROUTERS` is every one the app serves, in order."""

from fastapi import APIRouter

from coinswarm.api.routes import control, system

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (system.router, control.router)
