"""The dead-man's switch: a session that has beaten and then falls silent is down.

A session publishes a `heartbeat` event every `interval_s`. Its first beat arms the switch;
`factor` intervals (two by default) without a beat raise the session-down alert, once per
silence; the next beat raises "beating again" and re-arms it; a `stop` event disarms it, since
a session that says it stops is not down. Time is the server's wall clock, injected, never the
session's: a killed process sends nothing, so only the watcher's own clock can tell.

A `kill -9` of a session therefore alerts within `factor` intervals plus one check period of
the engine's ticker (`check_period_s`, an eighth of the shortest silence allowed).
"""

from __future__ import annotations

from dataclasses import dataclass

from coinswarm.infra.alerts.rules import alert_key
from coinswarm.infra.storage.alert_records import Alert, Severity

__all__ = ["DeadMansSwitch"]

_NS = 1_000_000_000
_FORGET_DOWN_NS = 24 * 3600 * _NS  # a session down a day is forgotten (its alert was sent)
_MIN_PERIOD_S = 0.02
_MAX_PERIOD_S = 1.0


@dataclass(slots=True)
class _Watched:
    interval_ns: int
    last_beat_ns: int
    seq: int
    mode: str
    down: bool = False


class DeadMansSwitch:
    """Watch the heartbeats of every session; say which fell silent."""

    def __init__(self, factor: float = 2.0) -> None:
        if factor < 1:
            msg = f"expected a heartbeat factor of at least 1, found {factor}"
            raise ValueError(msg)
        self.factor = factor
        self._watched: dict[str, _Watched] = {}

    def beat(
        self, run_id: str, *, interval_s: float, seq: int, mode: str, now_ns: int
    ) -> Alert | None:
        """Record a beat; return the "beating again" alert if the session was down."""
        if not interval_s > 0:
            return None
        was = self._watched.get(run_id)
        self._watched[run_id] = _Watched(int(interval_s * _NS), now_ns, seq, mode)
        if was is None or not was.down:
            return None
        silent_s = (now_ns - was.last_beat_ns) / _NS
        return Alert(
            rule="session_up",
            severity=Severity.INFO,
            key=alert_key("session_up", run_id, seq),
            title=f"{run_id}: the session is beating again",
            text=f"Session {run_id} ({mode}) beats again after {silent_s:.1f} s of silence.",
            ts_ns=now_ns,
            run_id=run_id,
            mode=mode,
        )

    def disarm(self, run_id: str) -> None:
        """Stop watching a session (it said it stops)."""
        self._watched.pop(run_id, None)

    def due(self, now_ns: int) -> list[Alert]:
        """Return a session-down alert for each session silent too long, once per silence."""
        found = []
        for run_id, watched in list(self._watched.items()):
            if watched.down:
                if now_ns - watched.last_beat_ns > _FORGET_DOWN_NS:
                    del self._watched[run_id]
                continue
            silent_ns = now_ns - watched.last_beat_ns
            if silent_ns <= self.factor * watched.interval_ns:
                continue
            watched.down = True
            found.append(_down(run_id, watched, silent_ns))
        return found

    def watching(self) -> dict[str, bool]:
        """Return each watched session and whether it is down."""
        return {run_id: w.down for run_id, w in self._watched.items()}

    def check_period_s(self) -> float:
        """Return how often to call `due`: an eighth of the shortest silence allowed."""
        if not self._watched:
            return _MAX_PERIOD_S
        shortest = min(w.interval_ns for w in self._watched.values()) * self.factor / _NS
        return min(max(shortest / 8, _MIN_PERIOD_S), _MAX_PERIOD_S)


def _down(run_id: str, watched: _Watched, silent_ns: int) -> Alert:
    interval_s = watched.interval_ns / _NS
    return Alert(
        rule="session_down",
        severity=Severity.CRITICAL,
        # Per silence, not per run: the next outage of the same session is a new alert.
        key=alert_key("session_down", run_id, watched.seq),
        title=f"{run_id}: the session is down (no heartbeat for {silent_ns / _NS:.1f} s)",
        text=(
            f"Session {run_id} ({watched.mode}) beat every {interval_s:g} s and has been "
            f"silent for {silent_ns / _NS:.1f} s since beat {watched.seq}: its process is "
            "gone or stuck. Check the host, then restart it (it resumes from its journal)."
        ),
        ts_ns=watched.last_beat_ns + silent_ns,
        run_id=run_id,
        mode=watched.mode,
    )
