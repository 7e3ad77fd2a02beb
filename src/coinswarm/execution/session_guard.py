"""The session guard: may a new order go out right now, and if not, why not.

A live or sandbox session trades only while three things hold, each with its own owner:

- reconciliation agrees with the exchange. The guard runs the `Reconciler` every
  `settings.interval_s` of an injected monotonic clock (`tick()`, once per bar). Every
  difference a run reports becomes a `GuardEvent`; a halting one pauses trading until a person
  clears it (`clear_reconciliation(by=...)`), as the reconciler itself holds it;
- the exchange adapter trusts its own answers (`trading_paused`): an unreadable answer or an
  order whose outcome is unknown pauses trading "until reconciliation". So a paused adapter
  makes reconciliation due at the next tick, and a run with nothing halting settles it
  (`mark_reconciled`); a halting run leaves both paused for a person;
- the market-data stream is LIVE: a stale, connecting or closed stream means decisions would
  be taken on data that may be old.

The guard does not stop the session or cancel orders: it is a pause that lifts when its cause
does, unlike the kill switch (a system-error stop blocks even exits and needs a person for
every cause, which would make a one-second websocket reconnect an operator's job). What paused
and what resumed is kept in `events`, stamped by an injected clock, for the journal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from coinswarm.domain.clock import Clock
from coinswarm.execution.reconcile import Reconciler, ReconciliationReport

__all__ = [
    "ExchangeHealth",
    "GuardEvent",
    "GuardEventKind",
    "GuardSource",
    "SessionGuard",
    "StreamHealth",
]

Monotonic = Callable[[], float]

LIVE = "live"
"""`CoinbaseStream.state` when it can be trusted (`ws_events.StreamState.LIVE`)."""


class ExchangeHealth(Protocol):
    """An adapter that pauses itself on answers it cannot trust: `CoinbaseAdapter` is one."""

    @property
    def trading_paused(self) -> bool: ...

    @property
    def pause_reason(self) -> str: ...

    def mark_reconciled(self) -> None: ...


class StreamHealth(Protocol):
    """A market-data stream that says whether it is live: `CoinbaseStream` is one."""

    @property
    def state(self) -> str: ...


class GuardSource(StrEnum):
    """What paused trading."""

    RECONCILIATION = "reconciliation"
    EXCHANGE = "exchange"
    STREAM = "stream"


class GuardEventKind(StrEnum):
    DIFFERENCE = "DIFFERENCE"
    """Reconciliation found and recorded something; trading pauses only if PAUSED follows."""
    PAUSED = "PAUSED"
    RESUMED = "RESUMED"


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardEvent:
    """One thing the guard saw, shaped like the risk events: when, what, why, and by whom."""

    ts: int
    kind: GuardEventKind
    source: GuardSource
    reason: str
    by: str | None = None


class SessionGuard:
    """Combine reconciliation, the adapter's pause and the stream's state into one answer.

    `monotonic` must be the clock the `reconciler` was built with, since the guard asks it
    whether a run is due; `clock` stamps the events. `on_event` sees each event as it
    happens (a journal, an alert); `exchange` and `stream` are optional for sessions without
    them. Call it from the session's one loop: it keeps no lock.
    """

    def __init__(
        self,
        reconciler: Reconciler,
        *,
        clock: Clock,
        monotonic: Monotonic,
        exchange: ExchangeHealth | None = None,
        stream: StreamHealth | None = None,
        on_event: Callable[[GuardEvent], None] | None = None,
    ) -> None:
        self._reconciler = reconciler
        self._clock = clock
        self._monotonic = monotonic
        self._exchange = exchange
        self._stream = stream
        self._on_event = on_event
        self._held: dict[GuardSource, str] = {}
        self._cleared_by: str | None = None
        self.events: list[GuardEvent] = []

    def hold_reason(self) -> str | None:
        """Return why no new order may go out now, every cause named; None if trading may go on."""
        self._observe()
        if not self._held:
            return None
        return "; ".join(f"{source}: {reason}" for source, reason in self._held.items())

    def tick(self) -> ReconciliationReport | None:
        """Reconcile if due (or if the adapter waits for it); return the run's report, if any."""
        self._observe()
        report = None
        if self._reconciliation_due():
            report = self._reconcile()
        self._observe()
        return report

    @property
    def reconciliation_paused(self) -> bool:
        """Return True while a reconciliation difference holds trading for a person."""
        return self._reconciler.paused

    def clear_reconciliation(self, *, by: str) -> str:
        """Lift a reconciliation pause after `by`, a person, resolved its cause; say what."""
        said = self._reconciler.clear(by=by)
        self._cleared_by = by
        self._observe()
        return said

    def _reconciliation_due(self) -> bool:
        if self._reconciler.due(self._monotonic()):
            return True
        # The adapter's pause waits for reconciliation; waiting for the interval would hold
        # trading for nothing. Once reconciliation itself halts, a person decides instead.
        return self._exchange_paused() and not self._reconciler.paused

    def _reconcile(self) -> ReconciliationReport:
        report = self._reconciler.run()
        for line in report.lines():
            self._emit(GuardEventKind.DIFFERENCE, GuardSource.RECONCILIATION, line)
        # A run that read everything and halted on nothing has looked at what the adapter
        # could not trust: the adapter's pause is settled.
        if self._exchange is not None and self._exchange_paused() and not report.trading_paused:
            self._exchange.mark_reconciled()
        return report

    def _exchange_paused(self) -> bool:
        return self._exchange is not None and self._exchange.trading_paused

    def _causes(self) -> dict[GuardSource, str]:
        causes: dict[GuardSource, str] = {}
        if self._reconciler.paused:
            causes[GuardSource.RECONCILIATION] = self._reconciler.pause_reason
        if self._exchange is not None and self._exchange.trading_paused:
            causes[GuardSource.EXCHANGE] = (
                self._exchange.pause_reason or "the adapter paused trading"
            )
        if self._stream is not None and self._stream.state != LIVE:
            causes[GuardSource.STREAM] = f"market data stream is {self._stream.state}, not {LIVE}"
        return causes

    def _observe(self) -> None:
        """Record each cause that appeared or went away since the last look."""
        causes = self._causes()
        for source, reason in causes.items():
            if source not in self._held:
                self._emit(GuardEventKind.PAUSED, source, reason)
        for source, reason in self._held.items():
            if source not in causes:
                by = self._cleared_by if source is GuardSource.RECONCILIATION else None
                self._emit(GuardEventKind.RESUMED, source, f"no longer: {reason}", by=by)
        self._held = causes
        self._cleared_by = None

    def _emit(
        self, kind: GuardEventKind, source: GuardSource, reason: str, *, by: str | None = None
    ) -> None:
        event = GuardEvent(ts=self._clock.now_ns(), kind=kind, source=source, reason=reason, by=by)
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)
