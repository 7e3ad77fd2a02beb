"""Evolution: the discovery loop's runs, cycles, trials, candidates and proven patterns."""

from __future__ import annotations

from fastapi import APIRouter

from coinswarm.api.auth import Viewer
from coinswarm.api.reads.evolution import evolution_progress
from coinswarm.api.reads.models import EvolutionProgress
from coinswarm.api.routes._depends import ReadsPart

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["evolution"])


@router.get("/evolution")
def evolution(_role: Viewer, part: ReadsPart) -> EvolutionProgress:
    """Every discovery run, newest first, with its progress, and the totals."""
    return evolution_progress(part.databases)
