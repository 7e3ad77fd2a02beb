"""What the adapter could not trust: answers set aside for reconciliation, and the pause signal.

An answer the adapter cannot read (bad JSON, an unknown order status, a negative size, a
product that is no longer listed) is not a reason to crash, nor to call an order rejected: the
order may well exist and be filling. The adapter raises a clear `ExchangeDataError`, and keeps
here what it concerned, so the engine can pause trading until reconciliation has looked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from coinswarm.exchanges.coinbase.errors import ExchangeDataError

__all__ = ["CancelAllResult", "CancelOutcome", "DataFault", "DataHealth"]


@dataclass(frozen=True, slots=True)
class DataFault:
    """One untrustworthy answer: where it came from, the bad field, and what it concerned."""

    route: str
    field: str
    problem: str
    subject: str = ""  # an order id or client order id, when the answer was about one order

    @property
    def line(self) -> str:
        about = f" (about {self.subject})" if self.subject else ""
        return f"{self.route}: field '{self.field}': {self.problem}{about}"


class DataHealth:
    """The faults seen since the last reconciliation; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str, str, str], DataFault] = {}
        self._set_aside: dict[str, str] = {}

    def record(self, error: ExchangeDataError, subject: str = "") -> DataFault:
        """Keep `error`; with a `subject`, set that order aside for reconciliation."""
        fault = DataFault(error.route, error.field, error.problem, subject)
        with self._lock:
            self._faults[(fault.route, fault.field, fault.problem, subject)] = fault
            if subject:
                self._set_aside[subject] = fault.line
        return fault

    def set_aside(self, subject: str, reason: str) -> None:
        """Keep an order whose outcome is unknown in flight until reconciliation settles it."""
        with self._lock:
            self._set_aside[subject] = reason

    @property
    def faults(self) -> tuple[DataFault, ...]:
        with self._lock:
            return tuple(self._faults.values())

    @property
    def set_aside_orders(self) -> dict[str, str]:
        """Return order ids or client order ids set aside, each with why."""
        with self._lock:
            return dict(self._set_aside)

    @property
    def trading_paused(self) -> bool:
        """Return True while something the exchange said awaits reconciliation."""
        with self._lock:
            return bool(self._faults or self._set_aside)

    @property
    def pause_reason(self) -> str:
        with self._lock:
            lines = [f.line for f in self._faults.values()]
            lines += [
                f"{subject} set aside: {why}"
                for subject, why in self._set_aside.items()
                if not any(f.subject == subject for f in self._faults.values())
            ]
        return "; ".join(lines)

    def clear(self) -> None:
        """Forget every fault: call after a reconciliation that found nothing halting."""
        with self._lock:
            self._faults.clear()
            self._set_aside.clear()


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """One order's answer to a batch cancel: Coinbase's reason code when it failed."""

    order_id: str
    success: bool
    failure_reason: str = ""


@dataclass(frozen=True, slots=True)
class CancelAllResult:
    """What a cancel-all did: each order's outcome and how many tries the exchange needed."""

    outcomes: tuple[CancelOutcome, ...]
    attempts: int

    @property
    def cancelled(self) -> tuple[str, ...]:
        return tuple(o.order_id for o in self.outcomes if o.success)

    @property
    def failed(self) -> dict[str, str]:
        return {o.order_id: o.failure_reason for o in self.outcomes if not o.success}
