"""The alert rules over a session's live events (docs/ISSUE14_PLAN.md, "Live events").

Each rule reads the events of one run and returns the alerts they raise, with the key that
says which alerts are the same one (the engine sends a key once per window). Time here is the
session's own clock (`ts_ns`), so a replayed hour is an hour of market time. The rules are
pure and hold only a run's recent history: an hour of equity, a minute of errors.

- loss: equity more than `hourly_loss_pct` below its highest point of the last rolling hour;
- phase 3: a day's loss over `phase3_loss_usd` dollars in a phase-3 session;
- error burst: `error_burst_count` errors from one source within `error_burst_s` seconds;
- every trade (off by default): each fill;
- risk (on by default): each circuit-breaker trip and each stop (daily loss, total loss,
  losing days, manual, emergency, system error);
- a session that stops `failed` (the dead-man's switch, `deadman`, covers the silent ones).

An event that lacks a field a rule needs, or holds a value that does not parse, is skipped by
that rule: a session's bug must not take the alerts down with it.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from coinswarm.infra.storage.alert_records import MAX_KEY, Alert, Severity

__all__ = ["HOUR_NS", "RuleSettings", "Rules", "alert_key", "is_alarming_risk_event"]

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS
_NS = 1_000_000_000
_HUNDRED = Decimal(100)
# Risk events that undo something (a breaker resuming, a stop lifted) are not alarms.
_QUIET_RISK = frozenset({"RESUME", "RESET", "DAILY_LOSS_LIFTED", "SHARED_CLEARED", "CLEARED"})
_LOUD_RISK = frozenset({"TRIP", "LATCH", "EMERGENCY_STOP", "STOP", "KILL", "HALT"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSettings:
    """The thresholds and switches of the rules (from `AlertSettings`)."""

    hourly_loss_pct: Decimal = Decimal(5)
    phase3_loss_usd: Decimal = Decimal(25)
    error_burst_count: int = 5
    error_burst_s: float = 60.0
    every_trade: bool = False
    risk_events: bool = True
    session_down: bool = True
    modes: frozenset[str] = frozenset({"paper", "sandbox", "live"})


def alert_key(*parts: object) -> str:
    """Return a key from its parts; one too long for the column ends in a digest of the rest."""
    key = ":".join(str(part) for part in parts)
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: MAX_KEY - 17]}~{digest}"


def is_alarming_risk_event(kind: str) -> bool:
    """Return whether a risk event is a trip or a stop (not a reset, a resume or a lift)."""
    upper = kind.strip().upper()
    if upper in _QUIET_RISK or upper.endswith(("_LIFTED", "_CLEARED", "_RESET")):
        return False
    return upper in _LOUD_RISK or upper.endswith("_STOP")


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _text(event: Mapping[str, Any], name: str, default: str = "") -> str:
    value = event.get(name)
    return default if value is None else str(value)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


@dataclass(slots=True)
class _Run:
    """What the rules remember of one run."""

    mode: str = ""
    phase: int | None = None
    # Equity points of the last hour whose equity is higher than every later one: the front
    # is the hour's highest (a monotonic queue, so each point is pushed and popped once).
    peaks: deque[tuple[int, Decimal]] = field(default_factory=deque)
    errors: dict[str, deque[int]] = field(default_factory=dict)


class Rules:
    """Turn a stream of live events into alerts (not yet de-duplicated)."""

    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings
        self._runs: dict[str, _Run] = {}
        self._handlers: dict[str, Callable[[str, _Run, Mapping[str, Any], int], list[Alert]]]
        self._handlers = {
            "equity": self._equity,
            "error": self._error,
            "fill": self._fill,
            "risk": self._risk,
            "stop": self._stop,
        }

    def observe(self, event: Mapping[str, Any]) -> list[Alert]:
        """Return the alerts `event` raises; remember what later events are judged against."""
        run_id = _text(event, "run_id")
        kind = _text(event, "kind")
        ts = event.get("ts_ns")
        if not run_id or not isinstance(ts, int) or isinstance(ts, bool):
            return []
        run = self._runs.setdefault(run_id, _Run())
        run.mode = _text(event, "mode", run.mode)
        if "phase" in event:
            run.phase = _phase(event.get("phase"), run.phase)
        if run.mode not in self.settings.modes:
            return []
        handler = self._handlers.get(kind)
        return [] if handler is None else handler(run_id, run, event, ts)

    def forget(self, run_id: str) -> None:
        """Drop what is remembered of a run (it stopped)."""
        self._runs.pop(run_id, None)

    # -- the rules -------------------------------------------------------------------------

    def _equity(self, run_id: str, run: _Run, event: Mapping[str, Any], ts: int) -> list[Alert]:
        equity = _decimal(event.get("equity"))
        if equity is None:
            return []
        found = []
        hourly = self._hourly_loss(run_id, run, equity, ts)
        if hourly is not None:
            found.append(hourly)
        phase3 = self._phase3_loss(run_id, run, event, equity, ts)
        if phase3 is not None:
            found.append(phase3)
        return found

    def _hourly_loss(self, run_id: str, run: _Run, equity: Decimal, ts: int) -> Alert | None:
        peaks = run.peaks
        while peaks and peaks[-1][1] <= equity:
            peaks.pop()
        peaks.append((ts, equity))
        while peaks[0][0] < ts - HOUR_NS:
            peaks.popleft()
        start, peak = peaks[0]
        if peak <= 0:
            return None
        loss_pct = (peak - equity) / peak * _HUNDRED
        if loss_pct <= self.settings.hourly_loss_pct:
            return None
        minutes = (ts - start) / 60e9
        return Alert(
            rule="loss_hour",
            severity=Severity.CRITICAL,
            key=alert_key("loss_hour", run_id),
            title=f"{run_id}: equity down {loss_pct:.2f}% within the hour",
            text=(
                f"Session {run_id} ({run.mode}) fell from {_money(peak)} to {_money(equity)} "
                f"in {minutes:.0f} minutes: a loss of {loss_pct:.2f}%, over the "
                f"{self.settings.hourly_loss_pct}% an hour that raises this alert."
            ),
            ts_ns=ts,
            run_id=run_id,
            mode=run.mode,
        )

    def _phase3_loss(
        self, run_id: str, run: _Run, event: Mapping[str, Any], equity: Decimal, ts: int
    ) -> Alert | None:
        if run.phase != 3:
            return None
        day_pnl = _decimal(event.get("day_pnl"))
        if day_pnl is None:
            day_start = _decimal(event.get("day_start_equity"))
            if day_start is None:
                return None
            day_pnl = equity - day_start
        loss = -day_pnl
        if loss <= self.settings.phase3_loss_usd:
            return None
        limit = _decimal(event.get("daily_loss_limit"))
        of_limit = f" of the {_money(limit)} daily limit" if limit else ""
        return Alert(
            rule="loss_phase3",
            severity=Severity.WARNING,
            key=alert_key("loss_phase3", run_id, ts // DAY_NS),
            title=f"{run_id}: lost ${_money(loss)} today (phase 3)",
            text=(
                f"Session {run_id} ({run.mode}, phase 3, real money) has lost "
                f"${_money(loss)} today{of_limit}, over the ${self.settings.phase3_loss_usd} "
                f"that raises this alert. Equity now {_money(equity)}."
            ),
            ts_ns=ts,
            run_id=run_id,
            mode=run.mode,
        )

    def _error(self, run_id: str, run: _Run, event: Mapping[str, Any], ts: int) -> list[Alert]:
        source = _text(event, "source", "unknown") or "unknown"
        window_ns = int(self.settings.error_burst_s * _NS)
        times = run.errors.setdefault(source, deque())
        times.append(ts)
        while times and times[0] <= ts - window_ns:
            times.popleft()
        if len(times) < self.settings.error_burst_count:
            return []
        window_s = self.settings.error_burst_s
        code, message = _text(event, "code"), _text(event, "message")
        return [
            Alert(
                rule="error_burst",
                severity=Severity.WARNING,
                key=alert_key("error_burst", run_id, source),
                title=f"{run_id}: {len(times)} {source} errors in {window_s:g} s",
                text=(
                    f"Session {run_id} ({run.mode}) met {len(times)} {source} errors within "
                    f"{window_s:g} seconds. The last: {code} {message}".rstrip()
                ),
                ts_ns=ts,
                run_id=run_id,
                mode=run.mode,
            )
        ]

    def _fill(self, run_id: str, run: _Run, event: Mapping[str, Any], ts: int) -> list[Alert]:
        if not self.settings.every_trade:
            return []
        side, instrument = _text(event, "side").lower(), _text(event, "instrument")
        quantity, price, fee = (_text(event, name) for name in ("quantity", "price", "fee"))
        verb = {"buy": "bought", "sell": "sold"}.get(side, side or "traded")
        trade = _text(event, "trade_id") or f"{_text(event, 'order_id')}@{ts}"
        return [
            Alert(
                rule="trade",
                severity=Severity.INFO,
                key=alert_key("trade", run_id, trade),
                title=f"{run_id}: {verb} {quantity} {instrument} at {price}",
                text=(
                    f"Session {run_id} ({run.mode}) {verb} {quantity} {instrument} at {price}, "
                    f"fee {fee or '0'} (order {_text(event, 'order_id')}, trade {trade})."
                ),
                ts_ns=ts,
                run_id=run_id,
                mode=run.mode,
            )
        ]

    def _risk(self, run_id: str, run: _Run, event: Mapping[str, Any], ts: int) -> list[Alert]:
        kind = _text(event, "event")
        if not self.settings.risk_events or not is_alarming_risk_event(kind):
            return []
        reason, detail = _text(event, "reason"), _text(event, "detail")
        what = kind.strip().lower().replace("_", " ")
        return [
            Alert(
                rule="risk",
                severity=Severity.CRITICAL,
                key=alert_key("risk", run_id, kind.upper(), reason),
                title=f"{run_id}: {what}" + (f": {reason}" if reason else ""),
                text=(
                    f"Session {run_id} ({run.mode}): the risk layer reports {what}."
                    + (f" Reason: {reason}." if reason else "")
                    + (f" {detail}" if detail else "")
                ),
                ts_ns=ts,
                run_id=run_id,
                mode=run.mode,
            )
        ]

    def _stop(self, run_id: str, run: _Run, event: Mapping[str, Any], ts: int) -> list[Alert]:
        status, reason = _text(event, "status"), _text(event, "reason")
        mode = run.mode
        self.forget(run_id)
        if status != "failed" or not self.settings.session_down:
            return []
        return [
            Alert(
                rule="session_failed",
                severity=Severity.CRITICAL,
                key=alert_key("session_failed", run_id),
                title=f"{run_id}: the session failed",
                text=f"Session {run_id} ({mode}) stopped failed: {reason or 'no reason given'}.",
                ts_ns=ts,
                run_id=run_id,
                mode=mode,
            )
        ]


def _phase(value: object, current: int | None) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return current
