"""What the risk layer reports: a note per request, and the events of its breaker and switch.

These types live here, beside the limits that produce them, so that the journal port and the
stores that write them down import inward (to `risk`) rather than up to the door.
"""

from __future__ import annotations

from dataclasses import dataclass

from coinswarm.risk.circuit_breaker import BreakerEvent
from coinswarm.risk.kill_switch import KillSwitchEvent

__all__ = ["RiskEvent", "RiskNote"]


@dataclass(frozen=True, slots=True)
class RiskNote:
    """What the risk layer did with a request: approved, shrunk, rejected or blocked, and why."""

    action: str
    reason: str
    requested: str
    sent: str | None


RiskEvent = BreakerEvent | KillSwitchEvent
