"""What a person's action does to the kill switch and the circuit breaker.

A person acts on a mode through its risk state file (`coinswarm risk stop|reset`, the API's
stop, pause and resume); a running session applies each action through its door, and the
command line and the API apply it to the file's own machines, to show what will hold and to
refuse what cannot be done. This module is the one place that says what each kind does:

- stop: the kill switch's manual stop and the breaker's emergency stop (a session then cancels
  open orders and flattens);
- reset: clear every stop that waits for a person and reopen the breaker (a daily-loss stop
  still ends with its day);
- pause: the kill switch's pause: the strategy's orders are refused and open ones cancelled,
  positions kept;
- resume: lift the pauses and manual stops, and the breaker's latch when a person's stop set
  it; nothing else. A total-loss, losing-days or system-error stop, and a breaker the market
  latched, still hold: `resume_blockers` names them, so that an operator who may only resume
  is told why trading cannot start again rather than shown a resume that changed nothing.
"""

from __future__ import annotations

from coinswarm.risk.circuit_breaker import CircuitBreaker
from coinswarm.risk.events import RiskEvent
from coinswarm.risk.kill_switch import PERSON_STOPS, KillSwitch, StopKind
from coinswarm.risk.profiles import profile_for
from coinswarm.risk.state_file import PersonAction, StoredRiskState

__all__ = [
    "apply_action",
    "in_force",
    "latched_by_person",
    "machines",
    "resume",
    "resume_blockers",
]


def machines(stored: StoredRiskState) -> tuple[KillSwitch, CircuitBreaker]:
    """Return the two machines as the file saved them (their profile does not matter here:
    only marks and bars, which a file view never feeds, depend on it)."""
    profile = profile_for(0)
    return KillSwitch(profile, stored.kill_switch), CircuitBreaker(profile.breaker, stored.breaker)


def in_force(stored: StoredRiskState) -> tuple[KillSwitch, CircuitBreaker]:
    """Return the machines as a session will see them: with the actions it has yet to apply."""
    kill, breaker = machines(stored)
    for action in stored.pending:
        apply_action(action, kill, breaker)
    return kill, breaker


def latched_by_person(kill: KillSwitch, breaker: CircuitBreaker) -> bool:
    """Return True when the breaker's latch is a person's emergency stop.

    A person's stop sets the manual stop and the breaker's emergency stop with one reason; a
    breaker that latched on the market carries the market's reason instead.
    """
    manual = kill.stops.get(StopKind.MANUAL)
    return breaker.latched and manual is not None and breaker.state().reason == manual


def resume_blockers(kill: KillSwitch, breaker: CircuitBreaker) -> list[str]:
    """Return each stop a resume would leave in place, as one line; empty when none."""
    blockers = [
        f"a {str(kind).lower().replace('_', '-')} stop holds ({why})"
        for kind, why in sorted(kill.stops.items())
        if kind not in PERSON_STOPS
    ]
    if breaker.latched and not latched_by_person(kill, breaker):
        blockers.append(f"the circuit breaker is latched ({breaker.state().reason})")
    return blockers


def apply_action(
    action: PersonAction, kill: KillSwitch, breaker: CircuitBreaker, ts: int | None = None
) -> list[RiskEvent]:
    """Apply `action` to the two machines at `ts` (default: when it was asked for); return
    the events it caused."""
    at = action.ts if ts is None else ts
    by, reason = action.by, action.reason
    if action.kind == "stop":
        return [
            kill.manual_stop(at, reason, by=by),
            breaker.emergency_stop(at, reason, by=by),
        ]
    if action.kind == "reset":
        return [kill.reset(at, by=by, reason=reason), breaker.reset(at, by=by, reason=reason)]
    if action.kind == "pause":
        return [kill.pause(at, reason, by=by)]
    return resume(kill, breaker, at, by=by, reason=reason)


def resume(
    kill: KillSwitch, breaker: CircuitBreaker, ts: int, *, by: str, reason: str
) -> list[RiskEvent]:
    """Lift a person's pause and stop (the breaker too, if that stop latched it); keep the rest."""
    reopen = latched_by_person(kill, breaker)
    events: list[RiskEvent] = []
    if PERSON_STOPS & kill.stops.keys():
        events.append(kill.resume(ts, by=by, reason=reason))
    if reopen:
        events.append(breaker.reset(ts, by=by, reason=reason))
    return events
