"""Agents: each agent's votes, weight and hit rate over time, in one run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from coinswarm.api.auth import Viewer
from coinswarm.api.reads.agents import has_verdicts
from coinswarm.api.reads.models import AgentsReport
from coinswarm.api.reads.runs import list_runs
from coinswarm.api.routes._depends import ReadsPart

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["agents"])


def _latest_with_verdicts(part: ReadsPart) -> str | None:
    for summary in list_runs(part.databases):
        with part.run(summary.run) as (_located, store):
            if has_verdicts(store, summary.run):
                return summary.run
    return None


@router.get("/agents")
def agents(
    _role: Viewer,
    part: ReadsPart,
    run: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="default: the newest run that voted"),
    ] = None,
) -> AgentsReport:
    """Each agent's votes, weight and hit rate (next bar's close), in total and per UTC day."""
    chosen = run or _latest_with_verdicts(part)
    if chosen is None:
        return AgentsReport(run=None, hit_basis="unavailable", agents=[])
    with part.run(chosen) as (located, store):
        return part.agents.report(located.key, store, chosen, part.market(located))
