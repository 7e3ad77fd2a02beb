"""Patterns: the leaderboard of every discovered pattern, and one pattern with its lineage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from coinswarm.api.auth import Viewer
from coinswarm.api.reads.models import PatternDetail, PatternItem
from coinswarm.api.reads.patterns import list_patterns, pattern_detail
from coinswarm.api.routes._depends import MAX_LIMIT, ReadsPart

__all__ = ["router"]

router = APIRouter(prefix="/api/patterns", tags=["patterns"])

RunQuery = Annotated[
    str | None, Query(min_length=1, max_length=128, description="one discovery run's")
]


@router.get("")
def patterns(
    _role: Viewer,
    part: ReadsPart,
    proven: Annotated[
        bool | None, Query(description="true: only the proven; false: all but the proven")
    ] = None,
    status: Annotated[
        str | None, Query(min_length=1, max_length=32, description="only this status")
    ] = None,
    run: RunQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[PatternItem]:
    """Every pattern, best first: proven first, then by out-of-sample deflated Sharpe."""
    return list_patterns(part.databases, proven=proven, status=status, run_id=run, limit=limit)


@router.get("/{pattern}")
def pattern(
    _role: Viewer,
    part: ReadsPart,
    pattern: Annotated[str, Path(min_length=1, max_length=64, description="a pattern id")],
    run: RunQuery = None,
) -> PatternDetail:
    """One pattern: its scores (each naming its sample), lineage, standing and reason."""
    return pattern_detail(part.databases, pattern, run)
