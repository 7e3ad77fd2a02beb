"""POST /api/control/pause|resume|stop: the operator's hands, each one audited.

Operator only. The body names the mode and says why, in one line; the answer is the mode's
risk state once the action is in its state file (see `api.control`). A resume the API may
not do (a loss limit's stop holds) is 409 with the command a person at the machine runs.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.requests import Request

from coinswarm.api.audit import AUDITOR, Auditor, AuditWriteError
from coinswarm.api.auth import Operator, client_of
from coinswarm.api.control import CONTROLS, ControlOutcome, ControlRefusedError, Controls, Kind
from coinswarm.api.services import Services, services
from coinswarm.risk.errors import RiskStateError

__all__ = ["ControlRequest", "router"]

router = APIRouter(prefix="/api/control", tags=["control"])

ONE_LINE = r"^[^\x00-\x1f\x7f]+$"
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE)
]


class ControlRequest(BaseModel):
    """Which mode, and why (one line: it goes to the state file's log and the audit log)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["paper", "sandbox", "live"]
    reason: Reason


Found = Annotated[Services, Depends(services)]
_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "a viewer's token: viewers may look but not act"},
    409: {"description": "the action cannot be done through the API; the error says why"},
    422: {"description": "the body is not {mode, reason}"},
    503: {"description": "the state file or the audit log cannot be written"},
}


@router.post("/pause", responses=_ANSWERS)
def pause(body: ControlRequest, role: Operator, request: Request, found: Found) -> ControlOutcome:
    """Refuse the strategy's orders and cancel open ones; keep positions as they are."""
    return _act("pause", body, role, request, found)


@router.post("/resume", responses=_ANSWERS)
def resume(body: ControlRequest, role: Operator, request: Request, found: Found) -> ControlOutcome:
    """Lift a pause or a person's stop; a total-loss or other loss-limit stop is refused (409)."""
    return _act("resume", body, role, request, found)


@router.post("/stop", responses=_ANSWERS)
def stop(body: ControlRequest, role: Operator, request: Request, found: Found) -> ControlOutcome:
    """Emergency stop: kill switch and breaker, cancel every open order, flatten."""
    return _act("stop", body, role, request, found)


def _act(
    kind: Kind, body: ControlRequest, role: str, request: Request, found: Services
) -> ControlOutcome:
    controls: Controls | None = found.parts.get(CONTROLS)
    auditor: Auditor | None = found.parts.get(AUDITOR)
    if controls is None or auditor is None:
        raise HTTPException(503, "control is not set up on this server (no control or audit part)")
    client = client_of(request)

    def audit(outcome: str, **detail: Any) -> None:
        auditor.control(
            role=role,
            client=client,
            action=f"control.{kind}",
            reason=body.reason,
            outcome=outcome,
            detail={"mode": body.mode, **detail},
        )

    try:
        done = controls.act(kind, body.mode, body.reason, by=f"api {role} at {client}")
    except ControlRefusedError as refused:
        with suppress(AuditWriteError):  # logged; the refusal stands either way
            audit("refused", why=str(refused))
        raise HTTPException(409, str(refused)) from None
    except (RiskStateError, OSError) as error:
        with suppress(AuditWriteError):
            audit("failed", why=str(error))
        line = f"{body.mode}: the risk state cannot be changed: {error}"
        raise HTTPException(503, line) from None
    try:
        audit("done", events=done.events, where=done.where, warnings=done.warnings)
    except AuditWriteError:
        line = f"{body.mode}: {kind} done, but the audit log could not be written (server log)"
        raise HTTPException(503, line) from None
    return done
