"""The commands of the people who stop and restart trading: risk status, stop, reset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

import typer

from coinswarm.backtest.defaults import PERSON_MODES, risk_state_path
from coinswarm.cli._shared import (
    DbOption,
    SharedOption,
    UsageError,
    fail,
    risk_app,
    stderr,
    stdout,
)
from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from coinswarm.infra.state import HotState, KillSwitchFlag
    from coinswarm.risk.circuit_breaker import CircuitBreaker
    from coinswarm.risk.events import RiskEvent
    from coinswarm.risk.kill_switch import KillSwitch
    from coinswarm.risk.state_file import PersonAction, StoredRiskState

# `risk status` is what a person runs when something is wrong: it reads the state files with
# the risk layer alone. The database, Redis and the engine load only for the commands (or the
# --state-url) that need them.

StateOption = Annotated[
    Path | None, typer.Option("--state", help="one risk state file (default: every mode's)")
]
ModeOption = Annotated[
    str | None,
    typer.Option(help="only this mode's stops: paper, sandbox or live (default: every mode)"),
]
ByOption = Annotated[str, typer.Option(help="who does this: a person's name")]
ReasonOption = Annotated[str, typer.Option(help="why, in a few words")]


def _state_files(state: Path | None, mode: str | None) -> list[tuple[str, Path]]:
    """Return the risk state files a command acts on, each with the mode that obeys it."""
    if state is not None:
        return [("file", state)]
    if mode is None:
        return [(m, risk_state_path(m)) for m in PERSON_MODES]
    if mode not in PERSON_MODES:
        expected = ", ".join(PERSON_MODES)
        raise UsageError(f"--mode: expected one of {expected}, found {mode!r}")
    return [(mode, risk_state_path(mode))]


def _in_force(stored: StoredRiskState) -> tuple[KillSwitch, CircuitBreaker]:
    """Return the machines as a session will see them: with the actions it has yet to apply."""
    # The risk layer loads with the commands that read stops, not for every command's --help.
    from coinswarm.risk.person import in_force  # noqa: PLC0415

    return in_force(stored)


def _load(path: Path) -> StoredRiskState:
    from coinswarm.risk.state_file import load_risk_state  # noqa: PLC0415

    return load_risk_state(path)


def _person_action(kind: Literal["stop", "reset"], by: str, reason: str) -> PersonAction:
    from coinswarm.domain.clock import WallClock  # noqa: PLC0415
    from coinswarm.risk.state_file import PersonAction  # noqa: PLC0415

    return PersonAction(kind=kind, by=by, reason=reason, ts=WallClock().now_ns())


def _act(path: Path, action: PersonAction) -> list[RiskEvent]:
    """Apply a person's stop or reset to the state file; a running session follows it."""
    from coinswarm.orchestration.state_file_operator import record_action  # noqa: PLC0415

    events, _saved = record_action(path, action)
    return events


def _audit(db: str | None, events: list[tuple[Path, RiskEvent]]) -> None:
    # Every manual stop and reset is also in the tamper-evident audit log.
    from coinswarm import bootstrap  # noqa: PLC0415
    from coinswarm.infra.audit import AuditKind, append  # noqa: PLC0415

    with bootstrap.open_store(db) as store, store.transaction() as session:
        for path, event in events:
            kind = AuditKind.RESET if event.kind == "RESET" else AuditKind.MANUAL_STOP
            append(
                session,
                ts=event.ts,
                kind=kind,
                actor=event.by or "unknown",
                payload={"event": str(event.kind), "reason": event.reason, "state": str(path)},
            )


def _everywhere(
    action: PersonAction, files: list[tuple[str, Path]], state_url: str | None, db: str | None
) -> list[str]:
    """Apply `action` to every file and to the shared kill switch; return where it went."""
    done: list[tuple[Path, RiskEvent]] = []
    for _mode, path in files:
        done.extend((path, event) for event in _act(path, action))
    _audit(db, done)
    where = [mode for mode, _path in files]
    shared = _shared_state(state_url)
    if shared is not None:
        if action.kind == "stop":
            shared.set_kill_switch(action.reason, action.by, action.ts)
        else:
            shared.clear_kill_switch(action.by, action.ts)
        where.append("shared kill switch")
    return where


def _shared_state(url: str | None) -> HotState | None:
    if url is None:
        return None
    from coinswarm.infra.state import shared_state  # noqa: PLC0415 - Redis only when asked for

    return shared_state(url)


def _shared_flag(shared: HotState) -> KillSwitchFlag | None:
    from coinswarm.domain.clock import WallClock  # noqa: PLC0415
    from coinswarm.infra.state import fail_safe_kill_switch  # noqa: PLC0415

    return fail_safe_kill_switch(shared, now_ns=WallClock().now_ns())


@risk_app.command("status")
def risk_status(
    *, state: StateOption = None, mode: ModeOption = None, state_url: SharedOption = None
) -> None:
    """Print every stop a running mode would obey: each mode's file and the shared switch."""
    try:
        files = [(m, p, _load(p)) for m, p in _state_files(state, mode)]
        shared = _shared_state(state_url)
        flag = None if shared is None else _shared_flag(shared)
    except CoinswarmError as error:
        raise fail(error) from None
    stopped = [m for m, _p, stored in files if _show_file(m, _p, stored)]
    if shared is not None:
        if flag is None:
            _say(f"shared kill switch ({_where(state_url)}): clear")
        else:
            from coinswarm.data.timefmt import format_timestamp  # noqa: PLC0415

            when = format_timestamp(flag.ts_ns)
            where = _where(state_url)
            _say(f"shared kill switch ({where}): set by {flag.by} at {when}: {flag.reason}")
            stopped = [m for m, _p, _s in files]
    if stopped:
        _say(
            f"stopped: {', '.join(stopped)}; `coinswarm risk reset --by NAME --reason TEXT` "
            "lifts what waits for a person"
        )
    else:
        _say("no stops: trading allowed")


def _show_file(mode: str, path: Path, stored: StoredRiskState) -> bool:
    """Print one file's stops; return True when they stop trading."""
    kill, breaker = _in_force(stored)
    stops = kill.stops
    _say(f"{mode}: {path}")
    if not stops and not breaker.tripped:
        _say("  no stops")
    for kind, why in sorted(stops.items()):
        _say(f"  stop {kind}: {why}")
    if breaker.tripped:
        latch = "latched until reset" if breaker.latched else "cooling down"
        _say(f"  circuit breaker {latch}: {breaker.state().reason}")
    for line in stored.log[-5:]:
        _say(f"    {line}")
    return bool(stops) or breaker.tripped


def warn_if_stopped(mode: str, path: Path) -> None:
    """Tell on stderr, before a run starts, that a stop in `path` will block it, and how to
    lift it: a run that only refuses orders must never look like one that chose not to trade.
    """
    kill, breaker = _in_force(_load(path))
    why = [f"{kind}: {reason}" for kind, reason in sorted(kill.stops.items())]
    if breaker.latched:
        why.append(f"circuit breaker latched: {breaker.state().reason}")
    if not why:
        return
    where = "" if path == risk_state_path(mode) else f" --state {path}"
    stderr.print(
        f"warning: {mode} trading is stopped ({'; '.join(why)}); new orders will be refused "
        f"until a person runs `coinswarm risk reset --mode {mode}{where} --by NAME --reason TEXT`",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _where(url: str | None) -> str:
    """Return the server of `url` without its password: a status line is no place for one."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


def _say(line: str) -> None:
    stdout.print(line, markup=False, highlight=False, soft_wrap=True)


@risk_app.command("stop")
def risk_stop(
    *,
    by: ByOption,
    reason: ReasonOption,
    state: StateOption = None,
    mode: ModeOption = None,
    state_url: SharedOption = None,
    db: DbOption = None,
) -> None:
    """Stop all trading now, in every mode (kill switch and circuit breaker), until reset."""
    try:
        files = _state_files(state, mode)
        action = _person_action("stop", by, reason)
        where = _everywhere(action, files, state_url, db)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    _say(f"stopped by {by}: {reason} ({', '.join(where)})")


@risk_app.command("reset")
def risk_reset(
    *,
    by: ByOption,
    reason: ReasonOption,
    state: StateOption = None,
    mode: ModeOption = None,
    state_url: SharedOption = None,
    db: DbOption = None,
) -> None:
    """Clear the stops that wait for a person (a daily-loss stop still ends with its day)."""
    try:
        files = _state_files(state, mode)
        action = _person_action("reset", by, reason)
        where = _everywhere(action, files, state_url, db)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    _say(f"reset by {by}: {reason} ({', '.join(where)})")
