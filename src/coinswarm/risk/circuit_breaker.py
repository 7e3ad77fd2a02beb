"""The circuit breaker: stop new orders when the market or the account moves too fast.

Trips:

- a price move of `price_move_fraction` or more (up or down) between any two prices of one
  instrument that lie within `price_window_ns` of each other (`on_price`);
- a move of that size inside one bar, from the open to the high or to the low:
  `max(high / open - 1, 1 - low / open)` (`on_bar`). The open is the one price whose time is
  known, so the move is measured from it; on bars longer than the window this is the best
  evidence there is, and a crash that recovers within the bar still trips. `(high - low) /
  open` was not chosen: it would count a rise and a fall in either order as one move;
- an equity fall of `rapid_loss_fraction` or more within `rapid_loss_window_ns` (`on_equity`).

Each `on_*` call returns the events it caused. A TRIP or EMERGENCY_STOP event tells the caller
to cancel every open order; until the breaker resumes, `allows_new_orders` is False. After a
trip it resumes by itself once its cool-down has passed: `cooldown_ns`, doubled for each trip
that follows the previous one within `calm_period_ns`, capped at `max_cooldown_ns`. The
`latch_after_trips`-th trip of a UTC day, and any `emergency_stop`, latch it instead: only
`reset(by=...)`, by a person, reopens it.

Clocks: `ts_ns` is always UTC nanoseconds, the time the caller handles the input (for a bar,
its close, not its open); it stamps events, counts trips per UTC day and times the cool-down,
so all of these survive a restart. The short price and equity windows use
`monotonic_ns` when the caller passes it, so a wall clock that jumps cannot stretch or shrink
the one-minute window (reliability scenario 15); a backtest passes one timestamp and the
windows use it. A monotonic time that goes backwards (a new process) empties the windows.

`state()` returns what must survive a restart (reliability scenario 19); the price windows do
not, as they refill from fresh prices within a minute.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from coinswarm.risk.errors import RiskInputError, RiskStateError
from coinswarm.risk.profiles import NS_PER_DAY, NS_PER_SECOND, BreakerSettings

if TYPE_CHECKING:  # a type only: numpy comes with bars, and `risk status` needs none
    from coinswarm.domain.bar import Bar

__all__ = ["BreakerEvent", "BreakerEventKind", "BreakerState", "CircuitBreaker"]

ONE = Decimal(1)


class BreakerEventKind(StrEnum):
    TRIP = "TRIP"
    LATCH = "LATCH"
    RESUME = "RESUME"
    RESET = "RESET"
    EMERGENCY_STOP = "EMERGENCY_STOP"


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerEvent:
    """One change of the breaker, for the log and the audit; `by` names a person."""

    ts: int
    kind: BreakerEventKind
    reason: str
    by: str | None = None

    @property
    def cancel_open_orders(self) -> bool:
        """Return True when the caller must cancel every open order now."""
        return self.kind in (BreakerEventKind.TRIP, BreakerEventKind.EMERGENCY_STOP)


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerState:
    """What the breaker must remember across a restart; timestamps in UTC nanoseconds."""

    tripped: bool = False
    latched: bool = False
    reason: str | None = None
    tripped_at: int | None = None
    resume_at: int | None = None
    backoff_level: int = 0
    last_trip_ts: int | None = None
    trip_day: int | None = None
    trips_today: int = 0

    def to_dict(self) -> dict[str, object]:
        """Return the state as plain JSON-friendly values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BreakerState:
        """Rebuild a state saved by `to_dict`, refusing unknown, missing or mistyped keys."""
        names = {field.name for field in fields(cls)}
        if set(data) != names:
            msg = (
                f"breaker state: expected keys {sorted(names)}, found {sorted(data)} "
                f"(unknown: {sorted(set(data) - names)}, missing: {sorted(names - set(data))})"
            )
            raise RiskStateError(msg)
        for name in ("tripped", "latched"):
            _require_type(name, data[name], bool)
        for name in ("backoff_level", "trips_today"):
            _require_type(name, data[name], int)
        for name in ("tripped_at", "resume_at", "last_trip_ts", "trip_day"):
            _require_type(name, data[name], int, optional=True)
        _require_type("reason", data["reason"], str, optional=True)
        return cls(**data)  # type: ignore[arg-type]  # each value's type checked above


class CircuitBreaker:
    """Trip on fast price moves and rapid losses; resume after a cool-down, or latch."""

    def __init__(self, settings: BreakerSettings, state: BreakerState | None = None) -> None:
        self.settings = settings
        self._state = state or BreakerState()
        self._prices: dict[str, _Window] = {}
        self._equity = _Window(settings.rapid_loss_window_ns)
        self._events: list[BreakerEvent] = []

    @property
    def events(self) -> tuple[BreakerEvent, ...]:
        """Return every event since this breaker was built, oldest first."""
        return tuple(self._events)

    @property
    def tripped(self) -> bool:
        return self._state.tripped

    @property
    def latched(self) -> bool:
        return self._state.latched

    def state(self) -> BreakerState:
        """Return what must be saved to survive a restart."""
        return self._state

    def allows_new_orders(self, ts_ns: int) -> bool:
        """Return True when new orders may pass at UTC time `ts_ns`."""
        state = self._state
        if not state.tripped:
            return True
        return not state.latched and state.resume_at is not None and ts_ns >= state.resume_at

    def on_price(
        self, instrument: str, ts_ns: int, price: Decimal, *, monotonic_ns: int | None = None
    ) -> tuple[BreakerEvent, ...]:
        """Take one price; trip on a move too large within the price window."""
        _require_positive(f"{instrument} price", price)
        events = self._resume_if_due(ts_ns)
        return events + self._watch(instrument, ts_ns, _pick(ts_ns, monotonic_ns), price)

    def on_bar(self, bar: Bar, *, ts_ns: int) -> tuple[BreakerEvent, ...]:
        """Take one bar, seen at UTC time `ts_ns`; trip on a move too large inside it.

        Pass the time the bar is handled (its close in a backtest), not its open: the
        cool-down counts from when the crash was seen. The bar's open also joins the price
        window at the bar's own time, so opens of bars finer than the window are compared.
        """
        open_, high, low = (
            _decimal(bar.instrument, value) for value in (bar.open, bar.high, bar.low)
        )
        events = self._resume_if_due(ts_ns) + self._watch(bar.instrument, ts_ns, bar.ts, open_)
        rise, fall = high / open_ - ONE, ONE - low / open_
        if max(rise, fall) >= self.settings.price_move_fraction:
            move, name, extreme = (rise, "high", high) if rise >= fall else (-fall, "low", low)
            reason = (
                f"{bar.instrument} moved {_signed(move)} within one bar "
                f"(open {open_}, {name} {extreme})"
            )
            events += self._trip(ts_ns, reason)
        return events

    def on_equity(
        self, ts_ns: int, equity: Decimal, *, monotonic_ns: int | None = None
    ) -> tuple[BreakerEvent, ...]:
        """Take one valuation of the account; trip on a rapid loss."""
        if not equity.is_finite():
            msg = f"equity must be finite, found {equity}"
            raise RiskInputError(msg)
        events = self._resume_if_due(ts_ns)
        limit = self.settings.rapid_loss_fraction
        peak, _ = self._equity.push(_pick(ts_ns, monotonic_ns), equity)
        if limit is not None and peak > 0 and ONE - equity / peak >= limit:
            minutes = self.settings.rapid_loss_window_ns / (60 * NS_PER_SECOND)
            reason = (
                f"equity fell {_signed(equity / peak - ONE)} within {minutes:g} min "
                f"({peak} -> {equity})"
            )
            events += self._trip(ts_ns, reason)
        return events

    def emergency_stop(self, ts_ns: int, reason: str, *, by: str) -> BreakerEvent:
        """Stop new orders at once and latch until a person resets the breaker."""
        _require_person(by)
        self._state = replace(
            self._state, tripped=True, latched=True, reason=reason, tripped_at=ts_ns, resume_at=None
        )
        return self._record(
            BreakerEvent(ts=ts_ns, kind=BreakerEventKind.EMERGENCY_STOP, reason=reason, by=by)
        )

    def reset(self, ts_ns: int, *, by: str, reason: str) -> BreakerEvent:
        """Reopen the breaker; only a person (named by `by`) may do this.

        The day's trip count starts again; the backoff keeps growing until a calm period.
        """
        _require_person(by)
        self._state = replace(
            self._state,
            tripped=False,
            latched=False,
            reason=None,
            tripped_at=None,
            resume_at=None,
            trips_today=0,
        )
        return self._record(
            BreakerEvent(ts=ts_ns, kind=BreakerEventKind.RESET, reason=reason, by=by)
        )

    def _resume_if_due(self, ts_ns: int) -> tuple[BreakerEvent, ...]:
        state = self._state
        if not state.tripped or state.latched or state.resume_at is None:
            return ()
        if ts_ns < state.resume_at:
            return ()
        # Stamped with the scheduled time, not when noticed, so replays give the same log.
        event = BreakerEvent(
            ts=state.resume_at,
            kind=BreakerEventKind.RESUME,
            reason=f"cool-down over after: {state.reason}",
        )
        self._state = replace(state, tripped=False, reason=None, tripped_at=None, resume_at=None)
        return (self._record(event),)

    def _watch(
        self, instrument: str, ts_ns: int, window_ns: int, price: Decimal
    ) -> tuple[BreakerEvent, ...]:
        window = self._prices.get(instrument)
        if window is None:
            window = self._prices[instrument] = _Window(self.settings.price_window_ns)
        high, low = window.push(window_ns, price)
        # The newest price is the end of any move it completes; whichever of the window's
        # extremes lies further from it is the start of the larger move.
        fall, rise = ONE - price / high, price / low - ONE
        if max(fall, rise) < self.settings.price_move_fraction:
            return ()
        start = high if fall >= rise else low
        seconds = self.settings.price_window_ns / NS_PER_SECOND
        reason = (
            f"{instrument} moved {_signed(price / start - ONE)} within {seconds:g} s "
            f"({start} -> {price})"
        )
        return self._trip(ts_ns, reason)

    def _trip(self, ts_ns: int, reason: str) -> tuple[BreakerEvent, ...]:
        state = self._state
        if state.tripped:
            return ()  # already closed: one crash is one trip, however many ticks show it
        day = ts_ns // NS_PER_DAY
        trips_today = state.trips_today + 1 if state.trip_day == day else 1
        level = state.backoff_level
        if (
            state.last_trip_ts is not None
            and ts_ns - state.last_trip_ts >= self.settings.calm_period_ns
        ):
            level = 0
        cooldown = min(self.settings.cooldown_ns * 2**level, self.settings.max_cooldown_ns)
        latched = trips_today >= self.settings.latch_after_trips
        self._state = BreakerState(
            tripped=True,
            latched=latched,
            reason=reason,
            tripped_at=ts_ns,
            resume_at=None if latched else ts_ns + cooldown,
            backoff_level=level + 1,
            last_trip_ts=ts_ns,
            trip_day=day,
            trips_today=trips_today,
        )
        if not latched:
            trip = f"{reason}; resumes after {_duration(cooldown)}"
            return (self._record(BreakerEvent(ts=ts_ns, kind=BreakerEventKind.TRIP, reason=trip)),)
        latch = f"trip {trips_today} of the UTC day; latched until a person resets it"
        return (
            self._record(BreakerEvent(ts=ts_ns, kind=BreakerEventKind.TRIP, reason=reason)),
            self._record(BreakerEvent(ts=ts_ns, kind=BreakerEventKind.LATCH, reason=latch)),
        )

    def _record(self, event: BreakerEvent) -> BreakerEvent:
        self._events.append(event)
        return event


class _Window:
    """The highest and lowest values of the last `span_ns`, in O(1) amortised per value.

    Two monotonic deques of (time, value): `_highs` falls from front to back, `_lows` rises,
    so each front is the extreme of the window and each value is pushed and popped once.
    """

    __slots__ = ("_highs", "_last", "_lows", "_span")

    def __init__(self, span_ns: int) -> None:
        self._span = span_ns
        self._highs: deque[tuple[int, Decimal]] = deque()
        self._lows: deque[tuple[int, Decimal]] = deque()
        self._last: int | None = None

    def push(self, t: int, value: Decimal) -> tuple[Decimal, Decimal]:
        """Add `value` at time `t`; return the window's high and low, `value` included."""
        if self._last is not None and t < self._last:
            self._highs.clear()
            self._lows.clear()
        self._last = t
        while self._highs and self._highs[-1][1] <= value:
            self._highs.pop()
        self._highs.append((t, value))
        while self._lows and self._lows[-1][1] >= value:
            self._lows.pop()
        self._lows.append((t, value))
        horizon = t - self._span
        # The newest entry is never older than the horizon, so neither deque empties here.
        while self._highs[0][0] < horizon:
            self._highs.popleft()
        while self._lows[0][0] < horizon:
            self._lows.popleft()
        return self._highs[0][1], self._lows[0][1]


def _pick(ts_ns: int, monotonic_ns: int | None) -> int:
    return ts_ns if monotonic_ns is None else monotonic_ns


def _decimal(instrument: str, value: float) -> Decimal:
    # repr gives back the short decimal string the bar was loaded from (see domain.bar).
    price = Decimal(repr(value))
    _require_positive(f"{instrument} bar price", price)
    return price


def _require_positive(name: str, value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        msg = f"{name} must be a positive finite Decimal, found {value}"
        raise RiskInputError(msg)


def _require_person(by: str) -> None:
    if not by.strip():
        msg = "a stop or reset must name the person who made it, found an empty 'by'"
        raise RiskStateError(msg)


def _require_type(name: str, value: object, kind: type, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    # bool is an int in Python; a flag saved where a count belongs is a corrupt state.
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return
    expected = f"{kind.__name__} or None" if optional else kind.__name__
    msg = f"breaker state: {name} must be {expected}, found {value!r}"
    raise RiskStateError(msg)


def _signed(fraction: Decimal) -> str:
    return f"{fraction * 100:+.1f}%"


def _duration(ns: int) -> str:
    hours = ns / (3600 * NS_PER_SECOND)
    return f"{hours:g} h" if hours >= 1 else f"{ns / NS_PER_SECOND:.3g} s"
