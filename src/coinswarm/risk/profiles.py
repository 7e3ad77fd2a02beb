"""Risk profiles: the hard limits of each phase of the project, as the phase plan sets them.

Fractions are `Decimal` shares of equity (0.05 is 5%). `None` in a limit means the phase has
no such rule. Durations are nanoseconds, like every timestamp in Coinswarm.

| phase | position | daily loss | drawdown | stop conditions |
| --- | --- | --- | --- | --- |
| 0 backtest, 1 paper, 2 sandbox | 25% | 5% | 10% | circuit breaker on rapid loss |
| 3 limited real money | 5% | 1% | 10% | 3 losing days in a row, any system error, manual |
| 4 scaling | 5% | 2% | 15% | 5 losing days in a row |
| 5 production | 5% | 2% | 20% | as configured |

Phase 3 also holds at most 3 positions at once, sends at most 10 orders a UTC day and trades
BTC-USD and ETH-USD only (exact symbols).

A 10% price move within one minute trips the circuit breaker in every phase. Choices the
table leaves open, made here on the side of caution (`RiskSettings` may tighten them, and may
loosen them only on phases 0-2): every real-money phase (3-5) stops on a system error; the
rapid-loss rule of phases 0-2 fires when half the daily loss allowance (2.5%) goes within five
minutes, and phases 3-5 have none by default (their tight daily stop comes first) but may add
one; a breaker trip on phases 0-2 resumes by itself after a cool-down and latches on the third
trip of a UTC day, while on real money the first trip latches until a person resets it
(reliability scenario 19).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from types import MappingProxyType

from coinswarm.risk.errors import RiskConfigError

__all__ = [
    "NS_PER_DAY",
    "NS_PER_MINUTE",
    "NS_PER_SECOND",
    "PHASES",
    "BreakerSettings",
    "RiskProfile",
    "profile_for",
]

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerSettings:
    """When the circuit breaker trips and how it comes back.

    A price move of `price_move_fraction` or more within `price_window_ns` trips it, as does an
    equity fall of `rapid_loss_fraction` or more within `rapid_loss_window_ns` (None: no
    rapid-loss rule). After a trip it stays closed for `cooldown_ns`, doubling with each trip
    that comes within `calm_period_ns` of the previous one, up to `max_cooldown_ns`. The
    `latch_after_trips`-th trip of one UTC day latches it until a person resets it.
    """

    price_move_fraction: Decimal = Decimal("0.10")
    price_window_ns: int = NS_PER_MINUTE
    rapid_loss_fraction: Decimal | None = Decimal("0.025")
    rapid_loss_window_ns: int = 5 * NS_PER_MINUTE
    cooldown_ns: int = NS_PER_HOUR
    max_cooldown_ns: int = 8 * NS_PER_HOUR
    calm_period_ns: int = NS_PER_DAY
    latch_after_trips: int = 3

    def __post_init__(self) -> None:
        _check_fraction("price_move_fraction", self.price_move_fraction)
        if self.rapid_loss_fraction is not None:
            _check_fraction("rapid_loss_fraction", self.rapid_loss_fraction)
        for name in (
            "price_window_ns",
            "rapid_loss_window_ns",
            "cooldown_ns",
            "max_cooldown_ns",
            "calm_period_ns",
            "latch_after_trips",
        ):
            _check_positive(name, getattr(self, name))
        if self.max_cooldown_ns < self.cooldown_ns:
            msg = (
                f"max_cooldown_ns must be at least cooldown_ns ({self.cooldown_ns}), "
                f"found {self.max_cooldown_ns}"
            )
            raise RiskConfigError(msg)

    def scaled(self, factor: float) -> BreakerSettings:
        """Return these settings with every duration times `factor` (at least 1 ns).

        A demo exchange that reveals an hour's bar every half second runs market time 7,200
        times faster than the wall clock the breaker measures; its cool-downs must shrink
        by as much, or one trip blocks the demo for an hour of wall time.
        """
        durations = {name: max(1, round(getattr(self, name) * factor)) for name in _DURATIONS}
        return replace(self, **durations)

    def to_dict(self) -> dict[str, str | int | None]:
        """Return the settings as plain values; fractions as decimal strings."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BreakerSettings:
        """Rebuild settings saved by `to_dict`, refusing unknown, missing or mistyped values."""
        if set(data) != {f.name for f in fields(cls)}:
            raise RiskConfigError(f"breaker settings: expected every field once, found {data}")
        try:
            rapid = data["rapid_loss_fraction"]
            return cls(
                price_move_fraction=Decimal(str(data["price_move_fraction"])),
                price_window_ns=_whole(data["price_window_ns"]),
                rapid_loss_fraction=None if rapid is None else Decimal(str(rapid)),
                rapid_loss_window_ns=_whole(data["rapid_loss_window_ns"]),
                cooldown_ns=_whole(data["cooldown_ns"]),
                max_cooldown_ns=_whole(data["max_cooldown_ns"]),
                calm_period_ns=_whole(data["calm_period_ns"]),
                latch_after_trips=_whole(data["latch_after_trips"]),
            )
        except (TypeError, ArithmeticError) as error:
            raise RiskConfigError(f"breaker settings: cannot read {data}: {error}") from None


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, found {value!r}")
    return value


_DURATIONS = (
    "price_window_ns",
    "rapid_loss_window_ns",
    "cooldown_ns",
    "max_cooldown_ns",
    "calm_period_ns",
)


def _plain(value: object) -> str | int | None:
    if value is None or isinstance(value, int):
        return value
    return str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskProfile:
    """The hard limits of one phase; the oversight manager, breaker and kill switch obey it."""

    phase: int
    name: str
    max_position_fraction: Decimal
    max_daily_loss_fraction: Decimal
    max_total_loss_fraction: Decimal
    max_losing_days: int | None = None
    max_concurrent_positions: int | None = None
    max_trades_per_day: int | None = None
    allowed_instruments: frozenset[str] | None = None
    stop_on_system_error: bool = False
    breaker: BreakerSettings = field(default_factory=BreakerSettings)

    def __post_init__(self) -> None:
        for name in ("max_position_fraction", "max_daily_loss_fraction", "max_total_loss_fraction"):
            _check_fraction(name, getattr(self, name))
        for name in ("max_losing_days", "max_concurrent_positions", "max_trades_per_day"):
            value = getattr(self, name)
            if value is not None:
                _check_positive(name, value)
        if self.allowed_instruments is not None and not self.allowed_instruments:
            msg = "allowed_instruments must name at least one instrument, or be None for any"
            raise RiskConfigError(msg)

    @property
    def is_real_money(self) -> bool:
        """Return True for the phases that trade real money (3 and later)."""
        return self.phase >= 3

    def allows_instrument(self, instrument: str) -> bool:
        """Return True when this profile lets `instrument` take new exposure."""
        return self.allowed_instruments is None or instrument in self.allowed_instruments


def _check_fraction(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value <= 1:
        msg = f"{name} must be a Decimal fraction in (0, 1], found {value!r}"
        raise RiskConfigError(msg)


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        msg = f"{name} must be a positive integer, found {value!r}"
        raise RiskConfigError(msg)


def _training(phase: int, name: str) -> RiskProfile:
    return RiskProfile(
        phase=phase,
        name=name,
        max_position_fraction=Decimal("0.25"),
        max_daily_loss_fraction=Decimal("0.05"),
        max_total_loss_fraction=Decimal("0.10"),
        # Half the daily allowance gone within five minutes is a rapid loss.
        breaker=BreakerSettings(rapid_loss_fraction=Decimal("0.025")),
    )


def _real_money(
    phase: int,
    name: str,
    *,
    daily: str,
    total: str,
    losing_days: int | None,
    concurrent: int | None = None,
    trades: int | None = None,
    instruments: frozenset[str] | None = None,
) -> RiskProfile:
    return RiskProfile(
        phase=phase,
        name=name,
        max_position_fraction=Decimal("0.05"),
        max_daily_loss_fraction=Decimal(daily),
        max_total_loss_fraction=Decimal(total),
        max_losing_days=losing_days,
        max_concurrent_positions=concurrent,
        max_trades_per_day=trades,
        allowed_instruments=instruments,
        stop_on_system_error=True,
        breaker=BreakerSettings(rapid_loss_fraction=None, latch_after_trips=1),
    )


PHASES: Mapping[int, RiskProfile] = MappingProxyType(
    {
        0: _training(0, "backtest"),
        1: _training(1, "paper"),
        2: _training(2, "sandbox"),
        3: _real_money(
            3,
            "limited real money",
            daily="0.01",
            total="0.10",
            losing_days=3,
            concurrent=3,
            trades=10,
            instruments=frozenset({"BTC-USD", "ETH-USD"}),
        ),
        4: _real_money(4, "scaling", daily="0.02", total="0.15", losing_days=5),
        5: _real_money(5, "production", daily="0.02", total="0.20", losing_days=None),
    }
)


def profile_for(phase: int) -> RiskProfile:
    """Return the default profile of `phase` (0 backtest ... 5 production)."""
    try:
        return PHASES[phase]
    except KeyError:
        msg = f"phase must be one of {sorted(PHASES)}, found {phase!r}"
        raise RiskConfigError(msg) from None
