"""The kill switch and circuit breaker state that outlives a process, kept in one JSON file.

Paper and live sessions load it at start and save it on every change, so a stop set by a
person (or tripped by the market) holds across restarts until a person resets it. Backtests
start from a clean state and never touch it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from coinswarm.risk.circuit_breaker import BreakerState
from coinswarm.risk.errors import RiskStateError
from coinswarm.risk.kill_switch import KillSwitchState

__all__ = ["StoredRiskState", "load_risk_state", "save_risk_state"]


@dataclass(frozen=True, slots=True)
class StoredRiskState:
    """What must survive a restart: both state machines and the log of who changed them."""

    kill_switch: KillSwitchState = field(default_factory=KillSwitchState)
    breaker: BreakerState = field(default_factory=BreakerState)
    log: tuple[str, ...] = ()


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
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
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
        },
        sort_keys=True,
        indent=2,
    )
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
