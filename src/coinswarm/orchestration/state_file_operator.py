"""The person watching a session, reached through the risk state file and the shared switch.

A backtest has a simulated operator (`backtest.operator`); a paper, sandbox or live session has
a person, who acts with `coinswarm risk stop` and `coinswarm risk reset` (or the API's stop,
pause and resume: `record_action`). Those commands write
the mode's risk state file and, when there is one, the kill switch every process shares
(Redis). On every bar this operator applies the file's actions the session has not applied yet
(a stop cancels every open order and flattens, through the door), follows the shared switch (a
level: set, it blocks new orders; unreadable counts as set), shows the bar to the risk layer,
and saves the state whenever the risk layer changed, so that a stop tripped by the market holds
across a restart until a person resets it (reliability scenario 19).

Everything a person does reaches the engine here, between two bars, and each step is heard
first by `on_action` / `on_shared` (the session journal records them), so a replay applies
them at the same place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from coinswarm.domain.bar import Bar
from coinswarm.domain.clock import Clock
from coinswarm.infra.state import HotState, KillSwitchFlag, StateUnavailableError
from coinswarm.orchestration.door import Door, describe_event
from coinswarm.risk.events import RiskEvent
from coinswarm.risk.person import apply_action, machines
from coinswarm.risk.state_file import (
    PersonAction,
    StoredRiskState,
    load_risk_state,
    update_risk_state,
)

__all__ = ["StateFileOperator", "apply_person", "follow_shared", "read_shared", "record_action"]


class StateFileOperator:
    """Follow a person's stops and resets from the state file; save every change of the door's."""

    __slots__ = (
        "_applied",
        "_clock",
        "_door",
        "_keep",
        "_logged",
        "_on_action",
        "_on_shared",
        "_path",
        "_shared",
        "_shared_flag",
    )

    def __init__(
        self,
        door: Door,
        path: Path,
        clock: Clock,
        *,
        applied: int,
        on_action: Callable[[PersonAction], None] | None = None,
        shared: HotState | None = None,
        on_shared: Callable[[KillSwitchFlag | None], None] | None = None,
        keep_market_stops: bool = True,
    ) -> None:
        """`applied` counts the file's actions the door's machines started with; `on_action`
        hears each action just before it is applied (the session journal records it).
        `shared` is the kill switch every process shares; `on_shared` hears each change of
        it just before the door follows it. Without `keep_market_stops` (a demo exchange
        that is new each run) only a person's actions are saved, never what the market
        tripped, so a demo's crash does not block the next demo."""
        self._door = door
        self._on_action = on_action
        self._on_shared = on_shared
        self._path = path
        self._clock = clock
        self._applied = applied
        self._shared = shared
        self._shared_flag: KillSwitchFlag | None = None
        self._keep = keep_market_stops
        self._logged = len(door.events)

    def watch(self, bar: Bar) -> None:
        # One small file read a bar: a person's stop must reach the session within a bar.
        pending = load_risk_state(self._path).actions[self._applied :]
        for action in pending:
            self._apply(action)
            self._applied += 1
        self._follow_shared()
        self._door.on_bar(bar)
        # An action that changed nothing (a reset with nothing stopped) is saved as applied
        # too, or the file would show it pending for ever.
        if pending or len(self._door.events) > self._logged:
            self._save()

    def _apply(self, action: PersonAction) -> None:
        if self._on_action is not None:
            self._on_action(action)
        apply_person(self._door, self._clock.now_ns(), action)

    def _follow_shared(self) -> None:
        if self._shared is None:
            return
        flag = read_shared(self._shared)
        if _level(flag) == _level(self._shared_flag):
            return
        self._shared_flag = flag
        if self._on_shared is not None:
            self._on_shared(flag)
        # Heard first, then the clock read: a replay takes them from its tape in that order.
        follow_shared(self._door, self._clock.now_ns(), flag)

    def _save(self) -> None:
        risk = self._door.risk
        if risk is None:
            return
        events = self._door.events[self._logged :]
        self._logged = len(self._door.events)

        def merged(stored: StoredRiskState) -> StoredRiskState:
            # Actions a person added since `_follow` stay pending: `applied` says so.
            if not self._keep:
                return replace(stored, applied=self._applied)
            return replace(
                stored,
                kill_switch=risk.kill_switch.state(),
                breaker=risk.breaker.state(),
                log=(*stored.log, *(describe_event(e) for e in events)),
                applied=self._applied,
            )

        update_risk_state(self._path, merged)


def apply_person(door: Door, ts: int, action: PersonAction) -> None:
    """Make `door` do what a person asked at `ts`: stop, reset, pause or resume."""
    by, reason = action.by, action.reason
    if action.kind == "stop":
        door.stop(ts, by=by, reason=reason)
    elif action.kind == "reset":
        door.reset_stops(ts, by=by, reason=reason)
    elif action.kind == "pause":
        door.pause(ts, by=by, reason=reason)
    else:
        door.resume(ts, by=by, reason=reason)


def record_action(
    path: Path, action: PersonAction, *, check: Callable[[StoredRiskState], None] | None = None
) -> tuple[list[RiskEvent], StoredRiskState]:
    """Append a person's `action` to the risk state file at `path`; a running session applies
    it on its next bar. Return the events it caused and the state saved.

    The file's machines are brought up to date with the actions still pending, then `action`
    is applied to them, all under the file's lock. `check` sees the state in force first and
    may raise to refuse the action; nothing is written then.
    """
    events: list[RiskEvent] = []

    def change(stored: StoredRiskState) -> StoredRiskState:
        kill, breaker = machines(stored)
        for each in stored.pending:  # asked for earlier, not yet applied by a session
            apply_action(each, kill, breaker)
        if check is not None:
            check(replace(stored, kill_switch=kill.state(), breaker=breaker.state()))
        k, b = len(kill.events), len(breaker.events)
        apply_action(action, kill, breaker)
        events.extend([*kill.events[k:], *breaker.events[b:]])
        log = (*stored.log, *(describe_event(e) for e in events))
        actions = (*stored.actions, action)
        return StoredRiskState(kill.state(), breaker.state(), log, actions, len(actions))

    saved = update_risk_state(path, change)
    return events, saved


def read_shared(shared: HotState) -> KillSwitchFlag | None:
    """Return the shared kill switch's flag; one that cannot be read counts as set."""
    try:
        return shared.kill_switch()
    except StateUnavailableError as error:
        return KillSwitchFlag(reason=str(error), by="hot-state", ts_ns=0)


def _level(flag: KillSwitchFlag | None) -> tuple[str, str] | None:
    # Who set it and why: setting it again with a later time is no change for the door.
    return None if flag is None else (flag.by, flag.reason)


def follow_shared(door: Door, ts: int, flag: KillSwitchFlag | None) -> None:
    """Make `door` obey the shared kill switch `flag` (None: clear) from `ts` on."""
    if flag is None:
        door.follow_shared(ts, by=None, reason=None)
    else:
        door.follow_shared(ts, by=flag.by, reason=flag.reason)
