"""The kill switch and circuit breaker state that outlives a process, kept in one JSON file.

Paper and live sessions load it at start and save it on every change, so a stop set by a
person (or tripped by the market) holds across restarts until a person resets it. Backtests
start from a clean state and never touch it.

The file is also how a person reaches a running session: `coinswarm risk stop` and `reset`
(and the API's stop, pause and resume) append a `PersonAction` (`risk.person` says what each
kind does), and the session applies the actions it has not applied yet on its
next bar. The two machines in the file always reflect the first `applied` actions; a session
that saves its own state before applying a new action saves a smaller `applied`, so a restart
applies that action again rather than lose it. Every change is a read-modify-write under an
exclusive lock (`update_risk_state`).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from coinswarm.risk.circuit_breaker import BreakerState
from coinswarm.risk.errors import RiskStateError
from coinswarm.risk.kill_switch import KillSwitchState

__all__ = [
    "ACTION_KINDS",
    "PersonAction",
    "StoredRiskState",
    "load_risk_state",
    "save_risk_state",
    "update_risk_state",
]

ActionKind = Literal["stop", "reset", "pause", "resume"]
ACTION_KINDS: tuple[ActionKind, ...] = ("stop", "reset", "pause", "resume")


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonAction:
    """A stop, reset, pause or resume a person asked for, in the order asked; a running session
    applies it."""

    kind: ActionKind
    by: str
    reason: str
    ts: int

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PersonAction:
        kind, by, reason, ts = (data.get(k) for k in ("kind", "by", "reason", "ts"))
        if kind not in ACTION_KINDS or not isinstance(by, str) or not isinstance(reason, str):
            expected = "|".join(ACTION_KINDS)
            raise RiskStateError(f"person action: expected kind {expected}, by, reason: {data}")
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise RiskStateError(f"person action: expected an integer ts, found {ts!r}")
        return cls(kind=kind, by=by, reason=reason, ts=ts)


@dataclass(frozen=True, slots=True)
class StoredRiskState:
    """What must survive a restart: both state machines and the log of who changed them."""

    kill_switch: KillSwitchState = field(default_factory=KillSwitchState)
    breaker: BreakerState = field(default_factory=BreakerState)
    log: tuple[str, ...] = ()
    actions: tuple[PersonAction, ...] = ()
    applied: int = 0

    @property
    def pending(self) -> tuple[PersonAction, ...]:
        """Return the actions a person asked for that the two machines do not reflect yet."""
        return self.actions[self.applied :]


def load_risk_state(path: Path) -> StoredRiskState:
    """Return the state saved at `path`, or a clean one when there is no file yet."""
    if not path.exists():
        return StoredRiskState()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StoredRiskState(
            kill_switch=KillSwitchState.from_dict(data["kill_switch"]),
            breaker=BreakerState.from_dict(data["breaker"]),
            log=tuple(data.get("log", ())),
            actions=tuple(PersonAction.from_dict(a) for a in data.get("actions", ())),
            applied=int(data.get("applied", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        # A state file we cannot read must stop trading, never silently clear a stop.
        msg = f"{path}: the risk state cannot be read ({error}); fix or remove it by hand"
        raise RiskStateError(msg) from None


def save_risk_state(path: Path, state: StoredRiskState) -> None:
    """Write `state` to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {
            "kill_switch": state.kill_switch.to_dict(),
            "breaker": state.breaker.to_dict(),
            "log": list(state.log),
            "actions": [asdict(a) for a in state.actions],
            "applied": state.applied,
        },
        sort_keys=True,
        indent=2,
    )
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:  # about `path`: the temporary name means nothing to a person
        raise OSError(error.errno, error.strerror, str(path)) from None


def update_risk_state(
    path: Path, change: Callable[[StoredRiskState], StoredRiskState]
) -> StoredRiskState:
    """Load, change and save the state under an exclusive lock; return what was saved."""
    with _locked(path):
        updated = change(load_risk_state(path))
        save_risk_state(path, updated)
        return updated


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # A sibling lock file: the state file itself is replaced on every save.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
