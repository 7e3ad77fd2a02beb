"""De-duplication: an alert's key is sent once per window, however often it is raised.

A storm of a thousand identical events raises a thousand alerts with one key; the first is
admitted, the rest are counted and dropped until the window has passed since the admitted
one. The time is the server's wall clock (a person's inbox lives in wall time, whatever the
session's clock says). A restarted server seeds the window from the alerts it stored, so a
restart in the middle of a storm does not send the storm's alert again.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Deduplicator"]

_PRUNE_EVERY = 1024


class Deduplicator:
    """Admit each key once per `window_ns`; count what was dropped."""

    def __init__(self, window_ns: int) -> None:
        if window_ns <= 0:
            msg = f"expected a positive de-duplication window, found {window_ns} ns"
            raise ValueError(msg)
        self.window_ns = window_ns
        self._admitted: dict[str, int] = {}
        self._since_prune = 0
        self.dropped = 0
        """How many alerts were dropped as repeats since this process started."""

    def admit(self, key: str, now_ns: int) -> bool:
        """Return True if `key` was not admitted within the window before `now_ns`."""
        last = self._admitted.get(key)
        if last is not None and now_ns - last < self.window_ns:
            self.dropped += 1
            return False
        self._admitted[key] = now_ns
        self._since_prune += 1
        if self._since_prune >= _PRUNE_EVERY:
            self.prune(now_ns)
        return True

    def seed(self, admitted: Iterable[tuple[str, int]]) -> None:
        """Remember keys admitted before (by an earlier process), at the times given."""
        for key, ns in admitted:
            self._admitted[key] = max(ns, self._admitted.get(key, ns))

    def prune(self, now_ns: int) -> None:
        """Forget keys whose window has passed."""
        self._since_prune = 0
        expired = [k for k, ns in self._admitted.items() if now_ns - ns >= self.window_ns]
        for key in expired:
            del self._admitted[key]
