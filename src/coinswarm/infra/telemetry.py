"""What a paper, sandbox or live session does, told as it happens: the live events.

A session publishes one event for everything a person watching it would want to see at once:
it started, a bar came, the committee decided (with every vote and how long it took), an
order changed, a fill was booked, the risk layer acted, the account after the bar, the
exchange failed, the session stopped; and a heartbeat from a timer of its own, so a stalled
engine still beats until its process dies (a `kill -9` silences it, which the server's
dead-man's switch hears). Each event is one JSON object on subject `live.<run_id>.<kind>`;
docs/ISSUE14_PLAN.md ("Live events") is the contract its readers code against.

Telemetry watches and never steers. `SessionTelemetry` is a `Journal` (orders, fills, risk
events, verdicts) and a `BarWatch` (bars and the account after each): the engine calls it on
its own thread, and each call builds a small dict and hands it to a `Publisher`'s bounded
queue (infra/telemetry_send.py), never waiting and never raising. A bus that is down costs
the session dropped events (counted, told in the next heartbeat), not a slower or different
run: the store stays the truth.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from coinswarm.domain.errors import UnknownMarkError
from coinswarm.risk.account import AccountTracker

if TYPE_CHECKING:
    from coinswarm.agents.committee import Verdict
    from coinswarm.domain.bar import Bar
    from coinswarm.domain.fill import Fill
    from coinswarm.domain.ledger import Deposit, Ledger, LedgerState
    from coinswarm.domain.order import Order, OrderRequest
    from coinswarm.risk.events import RiskEvent, RiskNote

__all__ = [
    "DEFAULT_HEARTBEAT_S",
    "KINDS",
    "SUBJECT_ROOT",
    "EventSink",
    "SessionTelemetry",
    "Telemetry",
    "bar_fields",
    "fill_fields",
    "order_fields",
    "risk_fields",
    "subject",
    "told",
    "verdict_fields",
]

logger = logging.getLogger(__name__)

SUBJECT_ROOT = "live"
"""Every live event's subject starts here: `live.<run_id>.<kind>` (the server follows live.>)."""
DEFAULT_HEARTBEAT_S = 5.0
KINDS = (
    "start",
    "bar",
    "verdict",
    "order",
    "fill",
    "risk",
    "equity",
    "heartbeat",
    "error",
    "stop",
)
STATUSES = ("finished", "interrupted", "failed")
"""How a session's `stop` event says it ended."""
_DIGITS = 6  # ratios (confidence, weight, drawdown) are rounded: noise past this is not news

P = ParamSpec("P")
R = TypeVar("R")


class EventSink(Protocol):
    """Takes live events without waiting: a `Publisher` (infra/telemetry_send.py) is one."""

    def put(self, event: dict[str, Any]) -> bool:
        """Queue `event`; False if it was dropped (the queue is full)."""
        ...


def subject(run_id: str, kind: str) -> str:
    """Return the bus subject of a run's event of `kind`."""
    return f"{SUBJECT_ROOT}.{run_id}.{kind}"


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _price(value: float) -> str:
    # The bar's floats as the ledger reads them (Decimal(repr(close))): the shortest repr.
    return repr(float(value))


def _ratio(value: float | Decimal | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return round(number, _DIGITS) if math.isfinite(number) else None


def _name(value: object) -> str:
    """Return an enum's name in lower case (a Direction, an OrderSide); else its text."""
    name = getattr(value, "name", None)
    return name.lower() if isinstance(name, str) else str(value)


def bar_fields(bar: Bar) -> dict[str, Any]:
    """Return the fields of a `bar` event: the instrument and the candle, prices as strings."""
    return {
        "instrument": bar.instrument,
        "open": _price(bar.open),
        "high": _price(bar.high),
        "low": _price(bar.low),
        "close": _price(bar.close),
        "volume": _price(bar.volume),
    }


def verdict_fields(verdict: Verdict, latency_s: float | None) -> dict[str, Any]:
    """Return the fields of a `verdict` event: the decision, each vote and its weight, and the
    decision latency (from the engine taking the bar to the verdict), in seconds."""
    votes = [
        {
            "agent": vote.agent,
            "action": _name(vote.direction),
            "confidence": _ratio(vote.confidence),
            "weight": _ratio(weight),
            "reason": vote.reason,
            "veto": vote.veto,
        }
        for vote, weight in zip(verdict.votes, verdict.weights, strict=False)
    ]
    return {
        "instrument": verdict.instrument,
        "action": _name(verdict.direction),
        "confidence": _ratio(abs(verdict.score)),
        "reason": verdict.reason,
        "votes": votes,
        "latency_s": None if latency_s is None else round(latency_s, 9),
    }


def order_fields(order: Order) -> dict[str, Any]:
    """Return the fields of an `order` event: the order's state after a change."""
    request = order.request
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "instrument": order.instrument,
        "side": _name(order.side),
        "type": _name(request.type),
        "status": _name(order.status),
        "quantity": _money(request.quantity),
        "quote_quantity": _money(request.quote_quantity),
        "filled_quantity": _money(order.filled_quantity),
        "reject_reason": order.reject_reason,
    }


def fill_fields(fill: Fill) -> dict[str, Any]:
    """Return the fields of a `fill` event: one execution, money as strings."""
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "instrument": fill.instrument,
        "side": _name(fill.side),
        "quantity": _money(fill.quantity),
        "price": _money(fill.price),
        "fee": _money(fill.fee),
        "fee_currency": fill.fee_currency,
    }


def risk_fields(
    kind: object, reason: str, *, source: str, by: str | None, detail: str
) -> dict[str, Any]:
    """Return the fields of a `risk` event: what changed (`event`: TRIP, DAILY_LOSS_STOP,
    RESET, a guard's PAUSED...), which part changed (`source`), why, and who did it."""
    return {
        "event": str(getattr(kind, "value", kind)),
        "source": source,
        "reason": reason,
        "by": by,
        "detail": detail,
    }


def _risk_source(event: RiskEvent) -> str:
    # The breaker's and the kill switch's events share a shape; their kinds tell them apart.
    return "breaker" if type(event).__name__ == "BreakerEvent" else "kill_switch"


def _never_raises(method: Callable[P, R | None]) -> Callable[P, R | None]:
    """Log (the first few times) and swallow what a telemetry call raises: a bug in how an
    event is described must never reach the engine that called it."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception:
            owner = args[0]
            failures = getattr(owner, "failures", 0) + 1
            setattr(owner, "failures", failures)  # noqa: B010 - the instance counts its own
            if failures <= 3:
                logger.exception("telemetry: %s failed; the session goes on", method.__name__)
            return None

    return guarded


class SessionTelemetry:
    """Publish one session's live events; a `Journal` and a `BarWatch` for the engine.

    `wall` is True for a session on the wall clock (sandbox, live): its events carry the wall
    time. A replay (paper) stamps each event with market time, the latest bar's for those that
    have none of their own (equity, heartbeat, stop). `daily_loss_fraction` is the risk
    profile's daily loss limit (None: no limits); the account's peak and the start of its UTC
    day are followed the way the risk layer's `AccountTracker` follows them.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        run_id: str,
        mode: str,
        initial_equity: Decimal,
        wall: bool,
        daily_loss_fraction: Decimal | None = None,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        dropped: Callable[[], int] | None = None,
    ) -> None:
        if not (math.isfinite(heartbeat_s) and heartbeat_s > 0):
            raise ValueError(f"heartbeat_s: expected seconds above 0, found {heartbeat_s}")
        self.run_id = run_id
        self.mode = mode
        self.heartbeat_s = heartbeat_s
        self.failures = 0
        self._sink = sink
        self._wall = wall
        self._fraction = daily_loss_fraction
        self._tracker = AccountTracker(initial_equity)
        self._equity: Decimal | None = None  # the account's latest equity, for a reset
        self._dropped = dropped
        self._now = time.time_ns() if wall else 0
        self._taken: dict[str, float] = {}  # instrument -> when the engine took its bar
        self._beats = 0
        self._told_dropped = 0  # dropped events already told in an error event
        self._stop_beating = threading.Event()
        self._beating: threading.Thread | None = None

    # -- the session's life ---------------------------------------------------------------

    @_never_raises
    def begin(
        self,
        *,
        strategy: str,
        instruments: list[str],
        cash: Decimal,
        phase: int | None,
        ts_ns: int | None = None,
    ) -> None:
        """Say the session started, then beat every `heartbeat_s` until `end`."""
        if ts_ns is not None:
            self._now = ts_ns
        self._emit(
            "start",
            {
                "strategy": strategy,
                "instruments": list(instruments),
                "cash": _money(cash),
                "phase": phase,
                "heartbeat_s": self.heartbeat_s,
                "pid": os.getpid(),
                "host": socket.gethostname(),
            },
        )
        self._beating = threading.Thread(
            target=self._beat, name=f"heartbeat-{self.run_id}", daemon=True
        )
        self._beating.start()

    @_never_raises
    def end(self, status: str, reason: str | None = None) -> None:
        """Stop beating and say how the session ended (`finished`, `interrupted`, `failed`)."""
        self._stop_beating.set()
        beating = self._beating
        if beating is not None and beating is not threading.current_thread():
            beating.join(timeout=self.heartbeat_s + 1.0)
        self._emit("stop", {"status": status, "reason": reason})

    def _beat(self) -> None:
        while not self._stop_beating.wait(self.heartbeat_s):
            self.heartbeat()

    @_never_raises
    def heartbeat(self) -> None:
        """Say the session's process is alive (its timer calls this every `heartbeat_s`)."""
        self._beats += 1
        dropped = self._dropped() if self._dropped is not None else None
        # `beat`, not `seq`: the server's hub numbers every event it hands out `seq`.
        fields = {"beat": self._beats, "interval_s": self.heartbeat_s, "dropped": dropped}
        self._emit("heartbeat", fields)
        if dropped is not None and dropped > self._told_dropped:
            # Said once a beat, not once an event: the first beat that gets through after an
            # outage tells the server how much of the session it did not see.
            missed, self._told_dropped = dropped - self._told_dropped, dropped
            message = f"{missed} live events dropped (the bus out of reach, or a full queue)"
            self.error("bus", "TelemetryDropped", message)

    @_never_raises
    def error(self, source: str, code: str, message: str) -> None:
        """Say something outside the engine failed: the exchange, the bus, the store."""
        first = message.splitlines()[0] if message else code
        self._emit("error", {"source": source, "code": code, "message": first})

    @_never_raises
    def guard(self, kind: object, source: object, reason: str, by: str | None = None) -> None:
        """Say the session guard paused or resumed trading, or found a difference."""
        origin = str(getattr(source, "value", source))
        detail = f"{getattr(kind, 'value', kind)} ({origin}): {reason}"
        self._emit(
            "risk", risk_fields(kind, reason, source=f"guard:{origin}", by=by, detail=detail)
        )

    # -- BarWatch ---------------------------------------------------------------------------

    @_never_raises
    def taken(self, bar: Bar) -> None:
        self._taken[bar.instrument] = time.perf_counter()
        self._advance(bar.ts)
        self._emit("bar", bar_fields(bar), ts_ns=bar.ts)

    @_never_raises
    def handled(self, bar: Bar, ledger: Ledger, marks: Mapping[str, Decimal]) -> None:
        ts = self._stamp(bar.ts)
        try:
            equity: Decimal | None = ledger.equity(marks)
        except UnknownMarkError:
            equity = None  # a position without a price yet: no honest figure to show
        positions = {s: str(p.quantity) for s, p in sorted(ledger.positions.items())}
        cash = ledger.cash()
        if equity is None:
            fields: dict[str, Any] = {"equity": None, "cash": _money(cash), "positions": positions}
            self._emit("equity", fields, ts_ns=ts)
            return
        self._equity = equity
        account = self._tracker.snapshot(ts=ts, equity=equity, cash=cash, positions={}, marks=marks)
        peak, day_start = account.peak_equity, account.day_start_equity
        limit = None if self._fraction is None else day_start * self._fraction
        self._emit(
            "equity",
            {
                "equity": _money(equity),
                "cash": _money(cash),
                "positions": positions,
                "peak": _money(peak),
                "drawdown": _ratio((peak - equity) / peak) if peak > 0 else 0.0,
                "day_start_equity": _money(day_start),
                "day_pnl": _money(equity - day_start),
                "daily_loss_limit": _money(limit),
            },
            ts_ns=ts,
        )

    # -- Journal ----------------------------------------------------------------------------

    def claim(self, request: OrderRequest, ts: int) -> bool:
        return True  # telemetry keeps no claims: the first journal of a fan-out decides

    @_never_raises
    def order(self, order: Order) -> None:
        self._emit("order", order_fields(order), ts_ns=self._stamp(order.updated_ts))

    @_never_raises
    def fill(self, fill: Fill, order: Order) -> None:
        ts = self._stamp(fill.ts)
        self._emit("fill", fill_fields(fill), ts_ns=ts)
        # The order's state after the fill (partly filled, filled) is an order change too.
        self._emit("order", order_fields(order), ts_ns=ts)

    def deposit(self, deposit: Deposit) -> None:
        return  # the opening cash is in `start`; the account after each bar in `equity`

    def risk_note(self, client_order_id: str, note: RiskNote, ts: int) -> None:
        return  # a refusal reaches the order's event as its reject reason

    @_never_raises
    def risk_event(self, event: RiskEvent) -> None:
        source = _risk_source(event)
        if source == "kill_switch" and str(event.kind) == "RESET" and self._equity is not None:
            # A person's reset starts the drawdown again, as the door's does (Door.reset_stops).
            self._tracker.rebase_peak(self._equity)
        fields = risk_fields(
            event.kind, event.reason, source=source, by=event.by, detail=_said(event)
        )
        self._emit("risk", fields, ts_ns=self._stamp(event.ts))

    @_never_raises
    def verdict(self, verdict: Verdict) -> None:
        taken = self._taken.get(verdict.instrument)
        latency = None if taken is None else time.perf_counter() - taken
        self._emit("verdict", verdict_fields(verdict, latency), ts_ns=self._stamp(verdict.ts))

    def checkpoint(self, ts: int, state: LedgerState) -> None:
        return

    # -- stamping and sending ---------------------------------------------------------------

    def _advance(self, ts: int) -> None:
        if not self._wall and ts > self._now:
            self._now = ts

    def _stamp(self, ts: int | None = None) -> int:
        """Return an event's time: the wall clock live, else its own time or the replay's."""
        if self._wall:
            return time.time_ns()
        if ts is not None:
            self._advance(ts)
            return ts
        return self._now

    def _emit(self, kind: str, fields: dict[str, Any], *, ts_ns: int | None = None) -> None:
        event = {
            **fields,
            "run_id": self.run_id,
            "mode": self.mode,
            "kind": kind,
            "ts_ns": self._stamp() if ts_ns is None else ts_ns,
            "sent_ns": time.time_ns(),
        }
        self._sink.put(event)


def _said(event: RiskEvent) -> str:
    by = f" (by {event.by})" if event.by else ""
    return f"{getattr(event.kind, 'value', event.kind)}: {event.reason}{by}"


class Telemetry:
    """Where a process's sessions publish their live events, and how often they beat.

    `sink` takes events without waiting (a `Publisher` or `Publishers`); `session` builds the
    telemetry of one run once its id is known.
    """

    def __init__(self, sink: EventSink, *, heartbeat_s: float = DEFAULT_HEARTBEAT_S) -> None:
        if not (math.isfinite(heartbeat_s) and heartbeat_s > 0):
            raise ValueError(f"heartbeat_s: expected seconds above 0, found {heartbeat_s}")
        self.sink = sink
        self.heartbeat_s = heartbeat_s

    def session(
        self,
        *,
        run_id: str,
        mode: str,
        initial_equity: Decimal,
        wall: bool,
        daily_loss_fraction: Decimal | None = None,
    ) -> SessionTelemetry:
        """Return the telemetry of run `run_id` (see `SessionTelemetry`)."""
        dropped = getattr(self.sink, "dropped", None)
        return SessionTelemetry(
            self.sink,
            run_id=run_id,
            mode=mode,
            initial_equity=initial_equity,
            wall=wall,
            daily_loss_fraction=daily_loss_fraction,
            heartbeat_s=self.heartbeat_s,
            dropped=None if dropped is None else lambda: int(getattr(self.sink, "dropped", 0)),
        )


@contextmanager
def told(
    telemetry: SessionTelemetry | None,
    *,
    strategy: str,
    instruments: list[str],
    cash: Decimal,
    phase: int | None,
    stopped: Callable[[], bool],
    ts_ns: int | None = None,
) -> Iterator[None]:
    """Say the session started, then how the block ended: `finished`; `interrupted` when
    `stopped()` says a person stopped it (or on Ctrl-C); `failed` with the error's first line."""
    if telemetry is None:
        yield
        return
    telemetry.begin(strategy=strategy, instruments=instruments, cash=cash, phase=phase, ts_ns=ts_ns)
    try:
        yield
    except KeyboardInterrupt:
        telemetry.end("interrupted", "stopped by a person (Ctrl-C or SIGTERM)")
        raise
    except BaseException as error:
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        telemetry.end("failed", reason)
        raise
    if stopped():
        telemetry.end("interrupted", "stopped by a person (Ctrl-C or SIGTERM) after its bar")
    else:
        telemetry.end("finished")
