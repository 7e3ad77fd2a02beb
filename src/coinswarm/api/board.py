"""The server's view of the sessions it hears: which run, how alive, how late, what last.

The feed shows the board every live event as it arrives. A session is `ok` while its last
heartbeat (or, before the first, its last event) is at most twice its heartbeat interval
old, `down` after that (its process died, hung or lost the bus), and `stopped` once its
`stop` event came. The bus lag is the server's clock at arrival minus the session's `sent_ns`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DOWN", "OK", "STOPPED", "SessionBoard", "SessionSeen"]

OK, DOWN, STOPPED = "ok", "down", "stopped"
DEFAULT_SESSIONS = 200
"""Sessions the board remembers; the ones stopped longest ago go first."""
_NS = 1_000_000_000


@dataclass(slots=True)
class SessionSeen:
    """What the server knows of one session from its events."""

    run_id: str
    mode: str
    first_seen_ns: int
    last_event_ns: int
    strategy: str | None = None
    instruments: list[str] = field(default_factory=list)
    phase: int | None = None
    pid: int | None = None
    host: str | None = None
    heartbeat_s: float = 5.0
    started_ns: int | None = None
    status: str = "running"
    reason: str | None = None
    last_heartbeat_ns: int | None = None
    lag_s: float | None = None
    max_lag_s: float = 0.0
    events: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    dropped: int | None = None
    last_bar: dict[str, Any] | None = None
    account: dict[str, Any] | None = None

    def observe(self, event: Mapping[str, Any], received_ns: int) -> None:
        """Take in one of this session's events, received at `received_ns`."""
        kind = str(event.get("kind"))
        self.events += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        self.last_event_ns = received_ns
        sent = event.get("sent_ns")
        if isinstance(sent, int):
            self.lag_s = max((received_ns - sent) / _NS, 0.0)
            self.max_lag_s = max(self.max_lag_s, self.lag_s)
        update = _UPDATES.get(kind)
        if update is not None:
            update(self, event, received_ns)

    def health(self, now_ns: int) -> str:
        """Return `ok`, `down` (no beat for twice the interval) or `stopped`."""
        if self.status != "running":
            return STOPPED
        return DOWN if self.heartbeat_age_s(now_ns) > 2 * self.heartbeat_s else OK

    def heartbeat_age_s(self, now_ns: int) -> float:
        """Return the seconds since the last heartbeat (since the last event before one)."""
        last = self.last_heartbeat_ns or self.last_event_ns
        return max((now_ns - last) / _NS, 0.0)

    def to_json(self, now_ns: int) -> dict[str, Any]:
        """Return the session as GET /api/system shows it."""
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "strategy": self.strategy,
            "instruments": list(self.instruments),
            "phase": self.phase,
            "pid": self.pid,
            "host": self.host,
            "status": self.status,
            "reason": self.reason,
            "health": self.health(now_ns),
            "heartbeat_s": self.heartbeat_s,
            "heartbeat_age_s": round(self.heartbeat_age_s(now_ns), 3),
            "bus_lag_s": None if self.lag_s is None else round(self.lag_s, 6),
            "max_bus_lag_s": round(self.max_lag_s, 6),
            "events": self.events,
            "by_kind": dict(sorted(self.by_kind.items())),
            "dropped_by_session": self.dropped,
            "started_ns": self.started_ns,
            "last_bar": self.last_bar,
            "account": self.account,
        }


def _start(seen: SessionSeen, event: Mapping[str, Any], _received: int) -> None:
    seen.strategy = _text(event.get("strategy"))
    instruments = event.get("instruments")
    seen.instruments = [str(i) for i in instruments] if isinstance(instruments, list) else []
    phase, pid = event.get("phase"), event.get("pid")
    seen.phase = phase if isinstance(phase, int) else None
    seen.pid = pid if isinstance(pid, int) else None
    seen.host = _text(event.get("host"))
    seen.heartbeat_s = _seconds(event.get("heartbeat_s"), seen.heartbeat_s)
    ts = event.get("ts_ns")
    seen.started_ns = ts if isinstance(ts, int) else None
    seen.status, seen.reason = "running", None


def _heartbeat(seen: SessionSeen, event: Mapping[str, Any], received: int) -> None:
    seen.last_heartbeat_ns = received
    seen.heartbeat_s = _seconds(event.get("interval_s"), seen.heartbeat_s)
    dropped = event.get("dropped")
    seen.dropped = dropped if isinstance(dropped, int) else seen.dropped


def _bar(seen: SessionSeen, event: Mapping[str, Any], _received: int) -> None:
    seen.last_bar = {
        "instrument": event.get("instrument"),
        "close": event.get("close"),
        "ts_ns": event.get("ts_ns"),
    }


def _equity(seen: SessionSeen, event: Mapping[str, Any], _received: int) -> None:
    # positions: a paper session stores its account only at checkpoints, so while it runs
    # this is where the API (and the dashboards) see what it holds.
    names = ("equity", "cash", "positions", "drawdown", "day_pnl", "daily_loss_limit", "ts_ns")
    seen.account = {name: event.get(name) for name in names}


def _stop(seen: SessionSeen, event: Mapping[str, Any], _received: int) -> None:
    seen.status = _text(event.get("status")) or "finished"
    seen.reason = _text(event.get("reason"))


_UPDATES: dict[str, Callable[[SessionSeen, Mapping[str, Any], int], None]] = {
    "start": _start,
    "heartbeat": _heartbeat,
    "bar": _bar,
    "equity": _equity,
    "stop": _stop,
}


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _seconds(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


class SessionBoard:
    """Every session the server heard of, most recent last (see the module's docstring)."""

    def __init__(self, *, capacity: int = DEFAULT_SESSIONS) -> None:
        self._capacity = capacity
        self._sessions: OrderedDict[str, SessionSeen] = OrderedDict()

    def observe(self, event: Mapping[str, Any], received_ns: int) -> None:
        """Take in one live event received at `received_ns` (an event without a run is
        ignored: the server's own alerts)."""
        run_id = event.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            return
        seen = self._sessions.get(run_id)
        if seen is None:
            seen = SessionSeen(
                run_id=run_id,
                mode=str(event.get("mode", "unknown")),
                first_seen_ns=received_ns,
                last_event_ns=received_ns,
            )
            self._sessions[run_id] = seen
            self._forget_oldest()
        seen.observe(event, received_ns)

    def _forget_oldest(self) -> None:
        while len(self._sessions) > self._capacity:
            stopped = next((k for k, s in self._sessions.items() if s.status != "running"), None)
            self._sessions.pop(stopped if stopped is not None else next(iter(self._sessions)))

    def get(self, run_id: str) -> SessionSeen | None:
        return self._sessions.get(run_id)

    def sessions(self) -> list[SessionSeen]:
        """Return every session remembered, the first heard of first."""
        return list(self._sessions.values())

    def to_json(self, now_ns: int) -> list[dict[str, Any]]:
        """Return the sessions as GET /api/system shows them: running first, newest first."""
        ordered = sorted(
            self._sessions.values(),
            key=lambda s: (s.status != "running", -s.last_event_ns),
        )
        return [s.to_json(now_ns) for s in ordered]
