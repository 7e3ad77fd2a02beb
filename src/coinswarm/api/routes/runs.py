"""Runs: every stored run, one run, and runs side by side."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from coinswarm.api.auth import Viewer
from coinswarm.api.reads.models import RunComparison, RunDetail, RunSummary
from coinswarm.api.reads.runs import compare_runs, list_runs, run_detail
from coinswarm.api.routes._depends import MAX_LIMIT, ReadsPart, RunPath

__all__ = ["router"]

router = APIRouter(prefix="/api/runs", tags=["runs"])

Mode = Literal["backtest", "paper", "sandbox", "live"]
Status = Literal["running", "finished", "failed", "interrupted", "killed"]
RunId = Annotated[str, Query(min_length=1, max_length=128)]


@router.get("")
def runs(
    _role: Viewer,
    part: ReadsPart,
    mode: Annotated[list[Mode] | None, Query(description="only these modes")] = None,
    status: Annotated[list[Status] | None, Query(description="only these statuses")] = None,
    strategy: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[RunSummary]:
    """Every stored run of every mode's database, newest first (by when it started)."""
    return list_runs(part.databases, modes=mode, statuses=status, strategy=strategy, limit=limit)


@router.get("/compare")
def compare(
    _role: Viewer,
    part: ReadsPart,
    run: Annotated[list[RunId], Query(min_length=1, max_length=10, description="run ids")],
) -> RunComparison:
    """Runs side by side: each key figure of each run, in the order asked."""
    return compare_runs(part.databases, run)


@router.get("/{run}")
def one_run(_role: Viewer, part: ReadsPart, run: RunPath) -> RunDetail:
    """Everything known about one run: status, inputs, rows, last checkpoint, summary."""
    return run_detail(part.databases, run)
