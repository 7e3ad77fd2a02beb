"""Watch one websocket connection's health: sequence numbers, heartbeats and silence.

Pure logic over an injected monotonic clock, so every verdict can be tested without a socket.
A sequence number may arrive a little late (the exchange reorders), so a missing number is
only a gap once `reorder_window` further messages came without it; a number seen before is a
duplicate and is dropped. Heartbeats are counted by the exchange, so a jump in the counter is
a heartbeat gap even when the silence was short; no message at all for `silence_s` is silence.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

__all__ = ["Monitor", "Verdict"]

Monotonic = Callable[[], float]


class Verdict(StrEnum):
    IN_ORDER = "in_order"
    LATE = "late"
    """Arrived after a later number, within the reorder window: use it."""
    DUPLICATE = "duplicate"
    """Seen before on this connection: drop it."""
    GAP = "gap"
    """A number is lost for good: the stream is stale."""


class Monitor:
    """Judge each message of one connection; a new connection needs a new monitor."""

    def __init__(self, *, monotonic: Monotonic, silence_s: float, reorder_window: int) -> None:
        if silence_s <= 0 or reorder_window < 0:
            msg = (
                f"expected silence_s > 0 and reorder_window >= 0, found {silence_s} and "
                f"{reorder_window}"
            )
            raise ValueError(msg)
        self._monotonic = monotonic
        self._silence_s = silence_s
        self._window = reorder_window
        self._next = 0
        self._missing: dict[int, int] = {}  # sequence number -> messages seen since it went missing
        self._last_seen = monotonic()
        self._beat: int | None = None
        self.problem = ""

    def sequence(self, number: int) -> Verdict:
        """Judge a message's `sequence_num`; on GAP, `problem` says which numbers are lost."""
        self._last_seen = self._monotonic()
        if number < self._next:
            if self._missing.pop(number, None) is None:
                return Verdict.DUPLICATE
            return self._aged(Verdict.LATE)
        for lost in range(self._next, number):
            self._missing[lost] = -1
        self._next = number + 1
        return self._aged(Verdict.IN_ORDER)

    def _aged(self, verdict: Verdict) -> Verdict:
        for number in self._missing:
            self._missing[number] += 1
        overdue = sorted(n for n, age in self._missing.items() if age >= self._window)
        if overdue or len(self._missing) > self._window:
            lost = overdue or sorted(self._missing)
            self.problem = f"sequence gap: message(s) {lost[:5]} never arrived"
            return Verdict.GAP
        return verdict

    def heartbeat(self, counter: int) -> bool:
        """Take a heartbeat's counter; return False (with `problem`) when beats were lost."""
        last, self._beat = self._beat, max(counter, self._beat or counter)
        if last is not None and counter > last + 1:
            self.problem = f"heartbeat gap: counter went from {last} to {counter}"
            return False
        return True

    def silent(self) -> bool:
        """Return True (with `problem`) when nothing arrived for longer than `silence_s`."""
        quiet = self._monotonic() - self._last_seen
        if quiet > self._silence_s:
            self.problem = f"silence: no message for {quiet:.1f} s (limit {self._silence_s} s)"
            return True
        return False
