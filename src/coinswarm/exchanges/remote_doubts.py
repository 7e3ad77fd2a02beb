"""What a remote venue sets aside when an exchange's answer cannot be trusted, and why.

An order whose placing answer was lost, a cancel that got no answer, an order or a fill
listing that came back unreadable or inconsistent: each is set aside under a subject (the
order's client order id, or the fill listing) with the error that caused it, which names the
route or call and the field. While anything is set aside the venue pauses trading; each bar's
catch-up pass reads the subjects again and clears those it can prove. The incident log keeps
both moments, so a person can see what happened and when it was settled.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from coinswarm.domain.order import OrderRequest

__all__ = ["FILLS", "Doubts", "Incident", "IncidentKind", "SetAside"]

FILLS = "fill listing"
"""The subject under which an unreadable fill listing is set aside."""


class IncidentKind(StrEnum):
    """Whether a subject was set aside or caught up."""

    SET_ASIDE = "SET_ASIDE"
    CAUGHT_UP = "CAUGHT_UP"


@dataclass(frozen=True, slots=True)
class SetAside:
    """One subject waiting for a catch-up: an order (by client order id) or the fill listing.

    `order_id` is None for an order whose placing answer was lost: the exchange's id for it is
    not known yet, only the client order id it was sent under.
    """

    subject: str
    reason: str
    since_ts: int
    request: OrderRequest | None = None
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    """One line of the venue's incident log."""

    ts: int
    kind: IncidentKind
    subject: str
    detail: str


class Doubts:
    """The subjects set aside, in the order they were set aside, and the incident log."""

    def __init__(self) -> None:
        self._open: dict[str, SetAside] = {}
        self.incidents: list[Incident] = []

    def __bool__(self) -> bool:
        return bool(self._open)

    def __contains__(self, subject: object) -> bool:
        return subject in self._open

    def items(self) -> list[SetAside]:
        """Return what is set aside now, oldest first."""
        return list(self._open.values())

    def get(self, subject: str) -> SetAside | None:
        return self._open.get(subject)

    def set_aside(self, entry: SetAside) -> None:
        """Set `entry` aside; one already set aside keeps its first reason and time."""
        if entry.subject not in self._open:
            self._open[entry.subject] = entry
        self.incidents.append(
            Incident(entry.since_ts, IncidentKind.SET_ASIDE, entry.subject, entry.reason)
        )

    def clear(self, subject: str, ts: int, detail: str) -> None:
        """Mark `subject` caught up, with what settled it."""
        if self._open.pop(subject, None) is not None:
            self.incidents.append(Incident(ts, IncidentKind.CAUGHT_UP, subject, detail))

    def pause_reason(self) -> str:
        """Return why new orders must wait; empty when nothing is set aside."""
        return "; ".join(
            f"{entry.subject} set aside for reconciliation ({entry.reason})"
            for entry in self._open.values()
        )
