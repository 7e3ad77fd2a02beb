"""The operator's hands on a running mode: pause, resume and emergency stop.

The API reaches a paper, sandbox or live session the way `coinswarm risk stop|reset` does:
it appends a person's action to the mode's risk state file (`record_action`), which the
session applies between two bars, and, when the server knows the shared kill switch
(`COINSWARM_API_STATE_URL`, else `COINSWARM_REDIS_URL`), a stop sets that too and a resume
clears it. What each action does
is `risk.person`'s:

- stop: the emergency stop (kill switch and breaker), then cancel and flatten;
- pause: the strategy's orders are refused and open ones cancelled; positions are kept;
- resume: lifts a pause or a person's stop, nothing else. A total-loss, losing-days or
  system-error stop, or a breaker the market latched, is refused with 409 and the command a
  person at the machine runs: the API never clears a loss limit's stop, raises a limit or
  reads a key.

Each answer is the mode's risk state once the action is in the file: what a session will
obey from its next bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from coinswarm.backtest.defaults import PERSON_MODES, risk_state_path
from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.state import HotState, KillSwitchFlag, StateUnavailableError
from coinswarm.orchestration.door import describe_event
from coinswarm.orchestration.state_file_operator import record_action
from coinswarm.risk.kill_switch import PERSON_STOPS, StopKind
from coinswarm.risk.person import in_force, latched_by_person, machines, resume_blockers
from coinswarm.risk.profiles import NS_PER_DAY
from coinswarm.risk.state_file import PersonAction, StoredRiskState, load_risk_state

__all__ = [
    "CONTROLS",
    "MODES",
    "BreakerSummary",
    "ControlOutcome",
    "ControlRefusedError",
    "Controls",
    "Kind",
    "RiskSummary",
]

CONTROLS = "control"
"""The Controls' name in `Services.parts`."""

MODES = PERSON_MODES
Kind = Literal["pause", "resume", "stop"]
Trading = Literal["allowed", "paused", "stopped", "halted"]
_RECENT = 5


class ControlRefusedError(CoinswarmError):
    """The action cannot be done through the API (409): the message says why and who can."""


class BreakerSummary(BaseModel):
    tripped: bool
    latched: bool
    reason: str | None
    resumes_at_ns: int | None


class RiskSummary(BaseModel):
    """A mode's stops as its session will obey them from its next bar."""

    mode: str
    state_file: str
    trading: Trading
    """allowed; paused (a person's pause); stopped (exits only, or none until the breaker
    cools down); halted (a system error: no order at all)."""
    stops: dict[str, str]
    daily_stop: str | None
    breaker: BreakerSummary
    pending_actions: int
    """Actions written to the file that the file's own machines did not reflect yet."""
    shared_kill_switch: str | None
    recent: list[str]


class ControlOutcome(BaseModel):
    action: Kind
    mode: str
    by: str
    events: list[str]
    """What the action changed, one line each (empty: it changed nothing)."""
    where: list[str]
    warnings: list[str]
    state: RiskSummary


class Controls:
    """Pause, resume and stop the sessions of this machine through their risk state files."""

    def __init__(
        self,
        *,
        state_path: Callable[[str], Path] = risk_state_path,
        shared: HotState | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._state_path = state_path
        self._shared = shared
        self._clock_ns = clock_ns

    async def start(self) -> None:
        """Nothing to start: each action reads and writes the files it needs."""

    async def stop(self) -> None:
        """Close the shared kill switch's connection, if there is one."""
        close = getattr(self._shared, "close", None)
        if close is not None:
            close()

    def summary(self, mode: str) -> RiskSummary:
        """Return the stops `mode` obeys now, its pending actions applied."""
        path = self._state_path(_known(mode))
        return self._summary(mode, path, load_risk_state(path), self._clock_ns())

    def act(self, kind: Kind, mode: str, reason: str, *, by: str) -> ControlOutcome:
        """Write a person's `kind` for `mode` to its state file (and the shared switch).

        Raises `ControlRefusedError` for a resume the API may not do; `RiskStateError` for a
        state file that cannot be read, `OSError` for one that cannot be written.
        """
        path = self._state_path(_known(mode))
        # To the microsecond, as `WallClock`: the state file's log writes times as ISO text.
        now = self._clock_ns() // 1_000 * 1_000
        action = PersonAction(kind=kind, by=by, reason=reason, ts=now)
        warnings: list[str] = []
        check = None
        if kind == "resume":
            flag = self._shared_flag(warnings)
            check = _resume_check(mode, shared_set=flag is not None)
        events, saved = record_action(path, action, check=check)
        where = [mode, *self._follow_shared(kind, by, reason, now, warnings)]
        return ControlOutcome(
            action=kind,
            mode=mode,
            by=by,
            events=[describe_event(e) for e in events],
            where=where,
            warnings=warnings,
            state=self._summary(mode, path, saved, now),
        )

    def _follow_shared(
        self, kind: Kind, by: str, reason: str, now: int, warnings: list[str]
    ) -> list[str]:
        """Set the shared switch on a stop, clear it on a resume; return where it went."""
        if self._shared is None or kind == "pause":
            return []
        try:
            if kind == "stop":
                self._shared.set_kill_switch(reason, by, now)
            else:
                self._shared.clear_kill_switch(by, now)
        except StateUnavailableError as error:
            warnings.append(f"shared kill switch not changed: {error}")
            return []
        return ["shared kill switch"]

    def _shared_flag(self, warnings: list[str]) -> KillSwitchFlag | None:
        if self._shared is None:
            return None
        try:
            return self._shared.kill_switch()
        except StateUnavailableError as error:
            warnings.append(f"shared kill switch unreadable: {error}")
            return None

    def _summary(self, mode: str, path: Path, stored: StoredRiskState, now: int) -> RiskSummary:
        kill, breaker = in_force(stored)
        state, kept = kill.state(), breaker.state()
        daily = (
            state.daily_stop_reason
            if state.daily_stop_day is not None and now // NS_PER_DAY <= state.daily_stop_day
            else None
        )
        warnings: list[str] = []
        flag = self._shared_flag(warnings)
        shared = f"set by {flag.by}: {flag.reason}" if flag is not None else None
        return RiskSummary(
            mode=mode,
            state_file=str(path),
            trading=_trading(dict(kill.stops), daily, blocked=not breaker.allows_new_orders(now)),
            stops={str(k): why for k, why in sorted(kill.stops.items())},
            daily_stop=daily,
            breaker=BreakerSummary(
                tripped=kept.tripped,
                latched=kept.latched,
                reason=kept.reason,
                resumes_at_ns=kept.resume_at,
            ),
            pending_actions=len(stored.pending),
            shared_kill_switch=shared if not warnings else warnings[0],
            recent=list(stored.log[-_RECENT:]),
        )


def _known(mode: str) -> str:
    if mode not in MODES:
        raise ControlRefusedError(f"mode: expected one of {', '.join(MODES)}, found {mode!r}")
    return mode


def _trading(stops: dict[StopKind, str], daily: str | None, *, blocked: bool) -> Trading:
    if StopKind.SYSTEM_ERROR in stops:
        return "halted"
    if StopKind.PAUSED in stops:
        return "paused"
    if stops or daily is not None or blocked:
        return "stopped"
    return "allowed"


def _resume_check(mode: str, *, shared_set: bool) -> Callable[[StoredRiskState], None]:
    """Return the check a resume of `mode` must pass, under the state file's lock."""

    def check(stored: StoredRiskState) -> None:
        kill, breaker = machines(stored)
        blockers = resume_blockers(kill, breaker)
        if blockers:
            raise ControlRefusedError(
                f"{mode}: cannot resume: {'; '.join(blockers)}. The API does not clear it: a "
                f"person at the machine runs `coinswarm risk reset --mode {mode} --by NAME "
                "--reason TEXT`"
            )
        person_stops = PERSON_STOPS & kill.stops.keys()
        if not person_stops and not latched_by_person(kill, breaker) and not shared_set:
            raise ControlRefusedError(f"{mode}: nothing to resume: no pause or stop holds")

    return check
