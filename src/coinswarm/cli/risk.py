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
from coinswarm.orchestration.door import RiskEvent, describe_event
from coinswarm.risk.circuit_breaker import CircuitBreaker
from coinswarm.risk.kill_switch import KillSwitch
from coinswarm.risk.profiles import profile_for
from coinswarm.risk.state_file import StoredRiskState, load_risk_state, save_risk_state

StateOption = Annotated[
    Path | None, typer.Option("--state", help="risk state file (default: in the data folder)")
]
ByOption = Annotated[str, typer.Option(help="who does this: a person's name")]
ReasonOption = Annotated[str, typer.Option(help="why, in a few words")]


def _state_path(state: Path | None) -> Path:
    return state or default_runs_dir().parent / "risk-state.json"


def _risk_machines(path: Path) -> tuple[KillSwitch, CircuitBreaker, StoredRiskState]:
    stored = load_risk_state(path)
    profile = profile_for(0)
    return (
        KillSwitch(profile, stored.kill_switch),
        CircuitBreaker(profile.breaker, stored.breaker),
        stored,
    )


def _save_machines(
    path: Path, kill: KillSwitch, breaker: CircuitBreaker, stored: StoredRiskState, db: str | None
) -> None:
    events: list[RiskEvent] = sorted([*kill.events, *breaker.events], key=lambda e: e.ts)
    log = (*stored.log, *(describe_event(e) for e in events))
    save_risk_state(path, StoredRiskState(kill.state(), breaker.state(), log))
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
        kill, breaker, stored = _risk_machines(path)
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
        kill, breaker, stored = _risk_machines(path)
        now = WallClock().now_ns()
        kill.manual_stop(now, reason, by=by)
        breaker.emergency_stop(now, reason, by=by)
        _save_machines(path, kill, breaker, stored, db)
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
        kill, breaker, stored = _risk_machines(path)
        now = WallClock().now_ns()
        kill.reset(now, by=by, reason=reason)
        breaker.reset(now, by=by, reason=reason)
        _save_machines(path, kill, breaker, stored, db)
        shared = bootstrap.shared_state(state_url)
        if shared is not None:
            shared.clear_kill_switch(by, now)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    stdout.print(f"reset by {by}: {reason}", markup=False, highlight=False)
