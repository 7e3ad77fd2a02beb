"""The websocket fault plan: what the streams do wrong, to which channel, how many times.

Each fault hits the next message(s) sent on a channel, across every connection, and is used
up after `times` hits (None: forever). `channel` names the channel as it appears in messages
(`heartbeats`, `ticker`, `candles`, `l2_data`, `user`, `subscriptions`); None matches any.
"""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["WsFault", "WsFaultKind", "WsFaultPlan"]

WsFaultKind = Literal[
    "drop", "stop_heartbeats", "skip_sequence", "duplicate", "reorder", "crossed_candle"
]
"""drop: close the socket (code 1011) instead of sending; stop_heartbeats: swallow heartbeats
(their counter still runs, so the gap shows); skip_sequence: never send one sequence number;
duplicate: send a message twice; reorder: hold a message back until after the next one;
crossed_candle: send a `candles` message whose candles have high and low swapped (high below
low: reliability scenario 17's bad input)."""


class WsFault(BaseModel):
    """One websocket fault: its kind, the channel it hits, and how many messages it spoils."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: WsFaultKind
    channel: str | None = None
    times: int | None = Field(default=1, ge=1)


class WsFaultPlan:
    """The websocket faults in force; thread-safe, since tests set it from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[WsFault] = []
        self._uses: list[int] = []

    def set(self, faults: list[WsFault]) -> None:
        """Replace the plan."""
        with self._lock:
            self._faults = list(faults)
            self._uses = [0] * len(faults)

    def clear(self) -> None:
        """Remove every fault."""
        self.set([])

    def take(self, kind: WsFaultKind, channel: str) -> bool:
        """Return True, counting a use, when a fault of `kind` applies to `channel` now."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind != kind or fault.channel not in (None, channel):
                    continue
                if fault.times is not None and self._uses[index] >= fault.times:
                    continue
                self._uses[index] += 1
                return True
        return False
