"""The kill switch: stop new exposure when the account has lost too much.

Feed it every valuation with `on_mark(ts_ns, equity)`. It stops on:

- daily loss: equity at or below the day's opening equity times `1 - max_daily_loss_fraction`.
  The day's opening equity is its first mark, as `AccountSnapshot.day_start_equity` defines it.
  The stop lifts when the next UTC day begins;
- total loss: equity at or below the peak equity times `1 - max_total_loss_fraction`, a
  drawdown from the highest mark (stricter than a loss from the initial equity, since the peak
  is never below it). It holds until a person resets it; the reset re-bases the peak to the
  last mark, or the next mark would stop again at once;
- losing days: `max_losing_days` UTC days in a row whose last mark is below their first;
  judged when the next day's first mark arrives; holds until a person resets it;
- a manual stop, and a system error when the profile says so; both hold until reset;
- a pause, set by a person: like a manual stop it blocks new exposure and cancels open orders,
  but asks for no flattening, and the door refuses the strategy's exits too (positions are
  kept as they are). `resume` lifts pauses and manual stops and nothing else.

A stop blocks new exposure (`allows_new_exposure`); exits stay allowed (`allows_any_order`),
so positions can be flattened, except after a system error: then the system's own picture of
orders and positions may be wrong, and trading to repair it could make things worse, so no
order passes until a person resets it. Every stop event asks the caller to cancel open orders
(`cancel_open_orders`), retrying while the exchange is unreachable; the local block holds from
the moment the event is returned.

Days are UTC days of `ts_ns`, and they only move forward: a wall clock that jumps back does
not reopen an old day, so the daily stop lifts once per UTC day (reliability scenario 15).
`reset` never lifts a daily stop: that one ends with its day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from coinswarm.risk.errors import RiskInputError, RiskStateError
from coinswarm.risk.profiles import NS_PER_DAY, RiskProfile

__all__ = [
    "PERSON_STOPS",
    "KillSwitch",
    "KillSwitchEvent",
    "KillSwitchEventKind",
    "KillSwitchState",
    "StopKind",
]

ONE = Decimal(1)


class StopKind(StrEnum):
    """A stop that holds until a person resets it."""

    TOTAL_LOSS = "TOTAL_LOSS"
    LOSING_DAYS = "LOSING_DAYS"
    MANUAL = "MANUAL"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    PAUSED = "PAUSED"


PERSON_STOPS = frozenset({StopKind.MANUAL, StopKind.PAUSED})
"""The stops a person set, which `resume` lifts; the others wait for `reset`."""


class KillSwitchEventKind(StrEnum):
    DAILY_LOSS_STOP = "DAILY_LOSS_STOP"
    DAILY_LOSS_LIFTED = "DAILY_LOSS_LIFTED"
    TOTAL_LOSS_STOP = "TOTAL_LOSS_STOP"
    LOSING_DAYS_STOP = "LOSING_DAYS_STOP"
    MANUAL_STOP = "MANUAL_STOP"
    SYSTEM_ERROR_STOP = "SYSTEM_ERROR_STOP"
    RESET = "RESET"
    PAUSE = "PAUSE"
    RESUME = "RESUME"
    # The kill switch every process shares (Redis): a level a person sets and clears.
    SHARED_STOP = "SHARED_STOP"
    SHARED_CLEARED = "SHARED_CLEARED"


_LIFTING_EVENTS = frozenset(
    {
        KillSwitchEventKind.DAILY_LOSS_LIFTED,
        KillSwitchEventKind.RESET,
        KillSwitchEventKind.RESUME,
        KillSwitchEventKind.SHARED_CLEARED,
    }
)


_STOP_EVENTS = {
    StopKind.TOTAL_LOSS: KillSwitchEventKind.TOTAL_LOSS_STOP,
    StopKind.LOSING_DAYS: KillSwitchEventKind.LOSING_DAYS_STOP,
    StopKind.MANUAL: KillSwitchEventKind.MANUAL_STOP,
    StopKind.SYSTEM_ERROR: KillSwitchEventKind.SYSTEM_ERROR_STOP,
    StopKind.PAUSED: KillSwitchEventKind.PAUSE,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class KillSwitchEvent:
    """One change of the kill switch, for the log and the audit; `by` names a person."""

    ts: int
    kind: KillSwitchEventKind
    reason: str
    by: str | None = None

    @property
    def cancel_open_orders(self) -> bool:
        """Return True when the caller must cancel open orders now (and retry until done)."""
        return self.kind not in _LIFTING_EVENTS


@dataclass(frozen=True, slots=True, kw_only=True)
class KillSwitchState:
    """What the kill switch must remember across a restart.

    `day` is the latest UTC day number seen; `stops` maps each held stop to its reason.
    """

    day: int | None = None
    day_open_equity: Decimal | None = None
    last_equity: Decimal | None = None
    peak_equity: Decimal | None = None
    initial_equity: Decimal | None = None
    losing_streak: int = 0
    daily_stop_day: int | None = None
    daily_stop_reason: str | None = None
    stops: Mapping[StopKind, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Return the state as JSON-friendly values; money as decimal strings."""
        return {
            "day": self.day,
            "day_open_equity": _text(self.day_open_equity),
            "last_equity": _text(self.last_equity),
            "peak_equity": _text(self.peak_equity),
            "initial_equity": _text(self.initial_equity),
            "losing_streak": self.losing_streak,
            "daily_stop_day": self.daily_stop_day,
            "daily_stop_reason": self.daily_stop_reason,
            "stops": {str(kind): reason for kind, reason in sorted(self.stops.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> KillSwitchState:
        """Rebuild a state saved by `to_dict`, refusing unknown, missing or mistyped keys."""
        expected = set(cls().to_dict())
        if set(data) != expected:
            msg = f"kill switch state: expected keys {sorted(expected)}, found {sorted(data)}"
            raise RiskStateError(msg)
        return cls(
            day=_optional_int(data, "day"),
            day_open_equity=_optional_decimal(data, "day_open_equity"),
            last_equity=_optional_decimal(data, "last_equity"),
            peak_equity=_optional_decimal(data, "peak_equity"),
            initial_equity=_optional_decimal(data, "initial_equity"),
            losing_streak=_int(data, "losing_streak"),
            daily_stop_day=_optional_int(data, "daily_stop_day"),
            daily_stop_reason=_optional_str(data, "daily_stop_reason"),
            stops=_stops(data["stops"]),
        )


class KillSwitch:
    """Stop trading on the profile's loss limits, losing streaks, errors and by hand."""

    def __init__(self, profile: RiskProfile, state: KillSwitchState | None = None) -> None:
        self.profile = profile
        self._state = state or KillSwitchState()
        self._events: list[KillSwitchEvent] = []

    @property
    def events(self) -> tuple[KillSwitchEvent, ...]:
        """Return every event since this kill switch was built, oldest first."""
        return tuple(self._events)

    @property
    def stops(self) -> Mapping[StopKind, str]:
        """Return the stops that hold until reset, each with its reason."""
        return dict(self._state.stops)

    def state(self) -> KillSwitchState:
        """Return what must be saved to survive a restart."""
        return self._state

    def allows_new_exposure(self, ts_ns: int) -> bool:
        """Return True when orders that add exposure may pass at UTC time `ts_ns`."""
        state = self._state
        if state.stops:
            return False
        day = self._day_of(ts_ns)
        if state.daily_stop_day is not None and day <= state.daily_stop_day:
            return False
        # A losing streak is judged at the next day's first mark; do not let an order slip
        # through between midnight and that mark.
        return not (day != state.day and self._streak_after_close() is not None)

    def allows_any_order(self, ts_ns: int) -> bool:
        """Return True when some order may pass at `ts_ns`: exits at least, unless halted."""
        return StopKind.SYSTEM_ERROR not in self._state.stops

    def on_mark(self, ts_ns: int, equity: Decimal) -> tuple[KillSwitchEvent, ...]:
        """Take one valuation of the account; return the stops and lifts it caused."""
        if not equity.is_finite():
            msg = f"equity must be finite, found {equity}"
            raise RiskInputError(msg)
        day = self._day_of(ts_ns)
        events: list[KillSwitchEvent] = []
        if self._state.day is None:
            self._open_first_day(day, equity)
        elif day > self._state.day:
            events += self._close_day(ts_ns, day, equity)
        state = self._state
        peak = equity if state.peak_equity is None else max(state.peak_equity, equity)
        self._state = replace(state, last_equity=equity, peak_equity=peak)
        events += self._check_daily_loss(ts_ns, day, equity)
        events += self._check_total_loss(ts_ns, equity)
        return tuple(events)

    def manual_stop(self, ts_ns: int, reason: str, *, by: str) -> KillSwitchEvent:
        """Stop new exposure by hand until a person resets the kill switch."""
        _require_person(by)
        return self._stop(ts_ns, StopKind.MANUAL, reason, by=by)

    def pause(self, ts_ns: int, reason: str, *, by: str) -> KillSwitchEvent:
        """Hold new orders by hand, without flattening, until a person resumes or resets."""
        _require_person(by)
        return self._stop(ts_ns, StopKind.PAUSED, reason, by=by)

    def on_system_error(self, ts_ns: int, reason: str) -> tuple[KillSwitchEvent, ...]:
        """Halt all orders after a system error, if the profile stops on system errors."""
        if not self.profile.stop_on_system_error or StopKind.SYSTEM_ERROR in self._state.stops:
            return ()
        return (self._stop(ts_ns, StopKind.SYSTEM_ERROR, reason),)

    def reset(self, ts_ns: int, *, by: str, reason: str) -> KillSwitchEvent:
        """Clear every stop that waits for a person; `by` names that person.

        A cleared total-loss stop re-bases the peak to the last mark; a cleared losing-days
        stop starts the streak again. A daily stop is left to end with its day.
        """
        _require_person(by)
        state = self._state
        held = state.stops
        cleared = ", ".join(sorted(held)) or "nothing"
        self._state = replace(
            state,
            stops={},
            peak_equity=state.last_equity if StopKind.TOTAL_LOSS in held else state.peak_equity,
            losing_streak=0 if StopKind.LOSING_DAYS in held else state.losing_streak,
        )
        return self._record(
            KillSwitchEvent(
                ts=ts_ns,
                kind=KillSwitchEventKind.RESET,
                reason=f"{reason} (cleared {cleared})",
                by=by,
            )
        )

    def resume(self, ts_ns: int, *, by: str, reason: str) -> KillSwitchEvent:
        """Lift the pauses and manual stops; every other stop, and a daily stop, holds.

        A total-loss stop in particular stays until `reset`: resuming is what a remote operator
        may do, and a loss limit is not theirs to lift.
        """
        _require_person(by)
        state = self._state
        lifted = sorted(kind for kind in state.stops if kind in PERSON_STOPS)
        kept = {kind: why for kind, why in state.stops.items() if kind not in PERSON_STOPS}
        self._state = replace(state, stops=kept)
        held = f"; still held: {', '.join(sorted(kept))}" if kept else ""
        return self._record(
            KillSwitchEvent(
                ts=ts_ns,
                kind=KillSwitchEventKind.RESUME,
                reason=f"{reason} (lifted {', '.join(lifted) or 'nothing'}{held})",
                by=by,
            )
        )

    def _day_of(self, ts_ns: int) -> int:
        day = ts_ns // NS_PER_DAY
        return day if self._state.day is None else max(day, self._state.day)

    def _open_first_day(self, day: int, equity: Decimal) -> None:
        initial = self._state.initial_equity if self._state.initial_equity is not None else equity
        self._state = replace(self._state, day=day, day_open_equity=equity, initial_equity=initial)

    def _close_day(self, ts_ns: int, day: int, equity: Decimal) -> list[KillSwitchEvent]:
        state = self._state
        events: list[KillSwitchEvent] = []
        streak_reason = self._streak_after_close()
        losing = (
            state.last_equity is not None
            and state.day_open_equity is not None
            and state.last_equity < state.day_open_equity
        )
        self._state = replace(
            state,
            day=day,
            day_open_equity=equity,
            losing_streak=state.losing_streak + 1 if losing else 0,
            daily_stop_day=None,
            daily_stop_reason=None,
        )
        if state.daily_stop_day is not None:
            lift = f"a new UTC day began; lifted: {state.daily_stop_reason}"
            events.append(
                self._record(self._event(ts_ns, KillSwitchEventKind.DAILY_LOSS_LIFTED, lift))
            )
        if streak_reason is not None and StopKind.LOSING_DAYS not in state.stops:
            events.append(self._stop(ts_ns, StopKind.LOSING_DAYS, streak_reason))
        return events

    def _streak_after_close(self) -> str | None:
        """Return why the current day, if it closed now, would complete a losing streak."""
        state, limit = self._state, self.profile.max_losing_days
        if limit is None or state.last_equity is None or state.day_open_equity is None:
            return None
        if state.last_equity >= state.day_open_equity or state.losing_streak + 1 < limit:
            return None
        return (
            f"{state.losing_streak + 1} losing days in a row, max {limit}; the last went "
            f"{state.day_open_equity} -> {state.last_equity}"
        )

    def _check_daily_loss(self, ts_ns: int, day: int, equity: Decimal) -> list[KillSwitchEvent]:
        state = self._state
        opening = state.day_open_equity
        limit = self.profile.max_daily_loss_fraction
        if state.daily_stop_day == day or opening is None or equity > opening * (ONE - limit):
            return []
        reason = (
            f"daily loss: equity {equity} is {_pct(ONE - equity / opening)} below the day's "
            f"opening {opening}, max {_pct(limit)}; new exposure blocked until the next UTC day"
        )
        self._state = replace(state, daily_stop_day=day, daily_stop_reason=reason)
        return [self._record(self._event(ts_ns, KillSwitchEventKind.DAILY_LOSS_STOP, reason))]

    def _check_total_loss(self, ts_ns: int, equity: Decimal) -> list[KillSwitchEvent]:
        state = self._state
        peak = state.peak_equity
        limit = self.profile.max_total_loss_fraction
        if StopKind.TOTAL_LOSS in state.stops or peak is None or equity > peak * (ONE - limit):
            return []
        reason = (
            f"total loss: equity {equity} is {_pct(ONE - equity / peak)} below the peak {peak}, "
            f"max {_pct(limit)}; new exposure blocked until a person resets the kill switch"
        )
        return [self._stop(ts_ns, StopKind.TOTAL_LOSS, reason)]

    def _stop(
        self, ts_ns: int, kind: StopKind, reason: str, *, by: str | None = None
    ) -> KillSwitchEvent:
        stops = {**self._state.stops, kind: reason}
        self._state = replace(self._state, stops=stops)
        return self._record(self._event(ts_ns, _STOP_EVENTS[kind], reason, by))

    @staticmethod
    def _event(
        ts_ns: int, kind: KillSwitchEventKind, reason: str, by: str | None = None
    ) -> KillSwitchEvent:
        return KillSwitchEvent(ts=ts_ns, kind=kind, reason=reason, by=by)

    def _record(self, event: KillSwitchEvent) -> KillSwitchEvent:
        self._events.append(event)
        return event


def _require_person(by: str) -> None:
    if not by.strip():
        msg = "a manual stop or reset must name the person who made it, found an empty 'by'"
        raise RiskStateError(msg)


def _pct(fraction: Decimal) -> str:
    return f"{fraction * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _int(data: Mapping[str, object], name: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"kill switch state: {name} must be an integer, found {value!r}"
        raise RiskStateError(msg)
    return value


def _optional_int(data: Mapping[str, object], name: str) -> int | None:
    return None if data[name] is None else _int(data, name)


def _optional_str(data: Mapping[str, object], name: str) -> str | None:
    value = data[name]
    if value is None or isinstance(value, str):
        return value
    msg = f"kill switch state: {name} must be a string or None, found {value!r}"
    raise RiskStateError(msg)


def _optional_decimal(data: Mapping[str, object], name: str) -> Decimal | None:
    text = _optional_str(data, name)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        msg = f"kill switch state: {name} must be a finite decimal string, found {text!r}"
        raise RiskStateError(msg)
    return value


def _stops(value: object) -> dict[StopKind, str]:
    if not isinstance(value, Mapping):
        msg = f"kill switch state: stops must be a mapping, found {value!r}"
        raise RiskStateError(msg)
    stops: dict[StopKind, str] = {}
    for kind, reason in value.items():
        if kind not in StopKind.__members__ or not isinstance(reason, str):
            msg = f"kill switch state: unknown stop {kind!r} or reason {reason!r}"
            raise RiskStateError(msg)
        stops[StopKind(kind)] = reason
    return stops
