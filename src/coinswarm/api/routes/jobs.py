"""Jobs: an operator starts a backtest or a discovery run; anyone who may look lists them.

POST /api/jobs/backtest and /api/jobs/evolve (operator, audited) answer 202 with the job; a
job whose arguments cannot run is 422 with the field named, one more than the server runs at
once is 409. GET /api/jobs lists them, newest first (see `api.jobs`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from starlette.requests import Request

from coinswarm.api.audit import AUDITOR, Auditor, AuditWriteError
from coinswarm.api.auth import Operator, Viewer, client_of
from coinswarm.api.jobs import (
    JOBS,
    BacktestJob,
    EvolveJob,
    JobRefusedError,
    Jobs,
    JobsBusyError,
    JobView,
)
from coinswarm.api.services import Services, services

__all__ = ["router"]

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

Found = Annotated[Services, Depends(services)]
_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "a viewer's token: viewers may look but not act"},
    409: {"description": "as many jobs run as the server allows at once"},
    422: {"description": "the job cannot run as given; the error names the field"},
    503: {"description": "jobs are not set up, or the audit log cannot be written"},
}


@router.get("")
def jobs(_role: Viewer, found: Found) -> list[JobView]:
    """Every job this server started, newest first: status, exit code, run id, last line."""
    return _jobs(found).views()


@router.post("/backtest", status_code=202, responses=_ANSWERS)
def backtest(body: BacktestJob, role: Operator, request: Request, found: Found) -> JobView:
    """Start `coinswarm backtest --json` with these options."""
    return _launch("backtest", lambda jobs: jobs.backtest_command(body), role, request, found)


@router.post("/evolve", status_code=202, responses=_ANSWERS)
def evolve(body: EvolveJob, role: Operator, request: Request, found: Found) -> JobView:
    """Start `coinswarm evolve --json` (a discovery run) with these options."""
    return _launch("evolve", lambda jobs: jobs.evolve_command(body), role, request, found)


def _jobs(found: Services) -> Jobs:
    jobs: Jobs | None = found.parts.get(JOBS)
    if jobs is None:
        raise HTTPException(503, "jobs are not set up on this server")
    return jobs


def _launch(
    kind: Literal["backtest", "evolve"],
    command: Callable[[Jobs], list[str]],
    role: str,
    request: Request,
    found: Services,
) -> JobView:
    jobs = _jobs(found)
    auditor: Auditor | None = found.parts.get(AUDITOR)
    if auditor is None:
        raise HTTPException(503, "jobs need the audit log, which is not set up on this server")
    client = client_of(request)

    def audit(outcome: str, **detail: Any) -> None:
        auditor.control(
            role=role,
            client=client,
            action=f"job.{kind}",
            reason=None,
            outcome=outcome,
            detail=detail,
        )

    try:
        args = command(jobs)
    except JobRefusedError as refused:
        raise HTTPException(422, str(refused)) from None
    try:
        started = jobs.launch(kind, args, by=f"api {role} at {client}")
    except JobsBusyError as busy:
        with suppress(AuditWriteError):  # logged; refused either way
            audit("refused", command=args, why=str(busy))
        raise HTTPException(409, str(busy)) from None
    except OSError as error:
        raise HTTPException(503, f"the job could not start: {error.strerror}") from None
    try:
        audit("started", job=started.id, command=args)
    except AuditWriteError:
        line = f"{started.id} started, but the audit log could not be written (server log)"
        raise HTTPException(503, line) from None
    return started
