"""Risk: each mode's profile, how close each limit is, its stops, breaker history, kill switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from coinswarm.api.auth import Viewer
from coinswarm.api.reads.models import RiskReport
from coinswarm.api.reads.risk import RiskReader
from coinswarm.api.routes._depends import ReadsPart
from coinswarm.api.services import Services, services

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["risk"])


@router.get("/risk")
def risk(
    _role: Viewer, part: ReadsPart, found: Annotated[Services, Depends(services)]
) -> RiskReport:
    """Every mode a person watches (paper, sandbox, live), and the shared kill switch."""
    reader = RiskReader(part.databases, part.markets, part.accounts)
    return reader.report(part.shared(), part.settings.state_url, found.clock_ns())
