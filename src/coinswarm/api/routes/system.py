"""The server itself: is it up, which version, since when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from coinswarm import __version__
from coinswarm.api.services import Services, services

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["system"])


class Health(BaseModel):
    status: str
    version: str
    uptime_s: float


@router.get("/health")
def health(found: Annotated[Services, Depends(services)]) -> Health:
    """Answer without a token, so a load balancer or a dead-man's switch can ask."""
    uptime = (found.clock_ns() - found.started_ns) / 1e9
    return Health(status="ok", version=__version__, uptime_s=max(uptime, 0.0))
