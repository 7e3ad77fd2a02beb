"""The commands of the people who stop and restart trading: risk status, stop, reset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coinswarm import bootstrap
from coinswarm.backtest.runs import default_runs_dir
from coinswarm.cli._shared import DbOption, SharedOption, fail, risk_app, stdout
from coinswarm.domain.clock import WallClock
from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.audit import AuditKind, append
from coinswarm.orchestration.door import describe_event
from coinswarm.risk.circuit_breaker import CircuitBreaker
from coinswarm.risk.events import RiskEvent
from coinswarm.risk.kill_switch import KillSwitch
from coinswarm.risk.profiles import profile_for
from coinswarm.risk.state_file import (
    PersonAction,
    StoredRiskState,
    load_risk_state,
    update_risk_state,
)

StateOption = Annotated[
    Path | None, typer.Option("--state", help="risk state file (default: in the data folder)")
]
ByOption = Annotated[str, typer.Option(help="who does this: a person's name")]
ReasonOption = Annotated[str, typer.Option(help="why, in a few words")]


def _state_path(state: Path | None) -> Path:
    return state or default_runs_dir().parent / "risk-state.json"


def _risk_machines(stored: StoredRiskState) -> tuple[KillSwitch, CircuitBreaker]:
    profile = profile_for(0)
    return KillSwitch(profile, stored.kill_switch), CircuitBreaker(profile.breaker, stored.breaker)


def _apply(action: PersonAction, kill: KillSwitch, breaker: CircuitBreaker) -> None:
    if action.kind == "stop":
        kill.manual_stop(action.ts, action.reason, by=action.by)
        breaker.emergency_stop(action.ts, action.reason, by=action.by)
    else:
        kill.reset(action.ts, by=action.by, reason=action.reason)
        breaker.reset(action.ts, by=action.by, reason=action.reason)


def _act(path: Path, action: PersonAction, db: str | None) -> None:
    """Apply a person's stop or reset to the state file; a running session follows it."""
    events: list[RiskEvent] = []

    def change(stored: StoredRiskState) -> StoredRiskState:
        kill, breaker = _risk_machines(stored)
        for each in stored.pending:  # asked for earlier, not yet applied by a session
            _apply(each, kill, breaker)
        k, b = len(kill.events), len(breaker.events)
        _apply(action, kill, breaker)
        events.extend([*kill.events[k:], *breaker.events[b:]])
        log = (*stored.log, *(describe_event(e) for e in events))
        actions = (*stored.actions, action)
        return StoredRiskState(kill.state(), breaker.state(), log, actions, len(actions))

    update_risk_state(path, change)
    # Every manual stop and reset is also in the tamper-evident audit log.
    with bootstrap.open_store(db) as store, store.transaction() as session:
        for event in events:
            kind = AuditKind.RESET if event.kind == "RESET" else AuditKind.MANUAL_STOP
            append(
                session,
                ts=event.ts,
                kind=kind,
                actor=event.by or "unknown",
                payload={"event": str(event.kind), "reason": event.reason, "state": str(path)},
            )


@risk_app.command("status")
def risk_status(state: StateOption = None) -> None:
    """Print the stops in force and the circuit breaker's state."""
    path = _state_path(state)
    try:
        stored = load_risk_state(path)
        kill, breaker = _risk_machines(stored)
    except CoinswarmError as error:
        raise fail(error) from None
    stops = kill.stops
    stdout.print(f"state file: {path}", markup=False, highlight=False)
    if not stops and not breaker.tripped:
        stdout.print("no stops: trading allowed")
    for kind, why in sorted(stops.items()):
        stdout.print(f"stop {kind}: {why}", markup=False, highlight=False)
    if breaker.tripped:
        latch = "latched until reset" if breaker.latched else "cooling down"
        stdout.print(f"circuit breaker {latch}: {breaker.state().reason}", markup=False)
    for line in stored.log[-10:]:
        stdout.print(f"  {line}", markup=False, highlight=False)


@risk_app.command("stop")
def risk_stop(
    by: ByOption,
    reason: ReasonOption,
    state: StateOption = None,
    state_url: SharedOption = None,
    db: DbOption = None,
) -> None:
    """Stop all trading now (kill switch and circuit breaker) until a person resets it."""
    path = _state_path(state)
    try:
        now = WallClock().now_ns()
        _act(path, PersonAction(kind="stop", by=by, reason=reason, ts=now), db)
        shared = bootstrap.shared_state(state_url)
        if shared is not None:
            shared.set_kill_switch(reason, by, now)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    stdout.print(f"stopped by {by}: {reason}", markup=False, highlight=False)


@risk_app.command("reset")
def risk_reset(
    by: ByOption,
    reason: ReasonOption,
    state: StateOption = None,
    state_url: SharedOption = None,
    db: DbOption = None,
) -> None:
    """Clear the stops that wait for a person (a daily-loss stop still ends with its day)."""
    path = _state_path(state)
    try:
        now = WallClock().now_ns()
        _act(path, PersonAction(kind="reset", by=by, reason=reason, ts=now), db)
        shared = bootstrap.shared_state(state_url)
        if shared is not None:
            shared.clear_kill_switch(by, now)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    stdout.print(f"reset by {by}: {reason}", markup=False, highlight=False)
