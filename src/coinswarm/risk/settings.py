"""Risk settings: typed overrides of a phase's profile, from arguments, environment and TOML.

Precedence, highest first: keyword arguments > `COINSWARM_*` environment variables > the TOML
file given to `RiskSettings.from_toml` > the phase's defaults (`profiles.profile_for`). No
other source is read: no `.env`, no file found by guessing.

    COINSWARM_PHASE=3
    COINSWARM_MAX_POSITION_FRACTION=0.03
    COINSWARM_ALLOWED_INSTRUMENTS='["BTC-USD"]'
    COINSWARM_BREAKER__COOLDOWN_SECONDS=7200

or in TOML (fractions as strings keep them exact):

    phase = 3
    max_position_fraction = "0.03"
    [breaker]
    cooldown_seconds = 7200

The phase is required, so a forgotten setting never falls back to the loose backtest limits.
Unknown keys are refused. On the real-money phases (3-5) an override may only tighten a limit:
a lower fraction or count, fewer instruments, a longer window or cool-down; anything looser is
refused by `to_profile` with a `RiskConfigError` naming each offending setting.
"""

from __future__ import annotations

import tomllib
from contextvars import ContextVar
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from coinswarm.risk.errors import RiskConfigError
from coinswarm.risk.profiles import NS_PER_SECOND, RiskProfile, profile_for

__all__ = ["BreakerOverrides", "RiskSettings"]

Fraction = Decimal
Tighter = Literal["lower", "higher"]

# The TOML file of the `from_toml` call in progress; a context variable keeps concurrent
# loads (threads, tasks) from seeing each other's file.
_TOML_SOURCE: ContextVar[tuple[Path, tuple[str, ...]] | None] = ContextVar(
    "coinswarm_risk_toml", default=None
)

# Which way is tighter for each limit, checked on the real-money phases.
_PROFILE_DIRECTIONS: dict[str, Tighter] = {
    "max_position_fraction": "lower",
    "max_daily_loss_fraction": "lower",
    "max_total_loss_fraction": "lower",
    "max_losing_days": "lower",
    "max_concurrent_positions": "lower",
    "max_trades_per_day": "lower",
}
_BREAKER_DIRECTIONS: dict[str, Tighter] = {
    "price_move_fraction": "lower",
    "price_window_ns": "higher",
    "rapid_loss_fraction": "lower",
    "rapid_loss_window_ns": "higher",
    "cooldown_ns": "higher",
    "max_cooldown_ns": "higher",
    "calm_period_ns": "higher",
    "latch_after_trips": "lower",
}


class BreakerOverrides(BaseModel):
    """Overrides of the circuit breaker's settings; durations in whole seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price_move_fraction: Fraction | None = Field(default=None, gt=0, le=1)
    window_seconds: int | None = Field(default=None, gt=0)
    rapid_loss_fraction: Fraction | None = Field(default=None, gt=0, le=1)
    rapid_loss_window_seconds: int | None = Field(default=None, gt=0)
    cooldown_seconds: int | None = Field(default=None, gt=0)
    max_cooldown_seconds: int | None = Field(default=None, gt=0)
    calm_period_seconds: int | None = Field(default=None, gt=0)
    latch_after_trips: int | None = Field(default=None, gt=0)

    def changes(self) -> dict[str, Any]:
        """Return the overridden `BreakerSettings` fields, durations in nanoseconds."""
        renamed = {
            "price_move_fraction": self.price_move_fraction,
            "price_window_ns": _ns(self.window_seconds),
            "rapid_loss_fraction": self.rapid_loss_fraction,
            "rapid_loss_window_ns": _ns(self.rapid_loss_window_seconds),
            "cooldown_ns": _ns(self.cooldown_seconds),
            "max_cooldown_ns": _ns(self.max_cooldown_seconds),
            "calm_period_ns": _ns(self.calm_period_seconds),
            "latch_after_trips": self.latch_after_trips,
        }
        return {name: value for name, value in renamed.items() if value is not None}


class RiskSettings(BaseSettings):
    """The phase and any overrides of its limits; `None` means "keep the phase's value"."""

    model_config = SettingsConfigDict(
        env_prefix="COINSWARM_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    phase: int = Field(ge=0, le=5)
    max_position_fraction: Fraction | None = Field(default=None, gt=0, le=1)
    max_daily_loss_fraction: Fraction | None = Field(default=None, gt=0, le=1)
    max_total_loss_fraction: Fraction | None = Field(default=None, gt=0, le=1)
    max_losing_days: int | None = Field(default=None, gt=0)
    max_concurrent_positions: int | None = Field(default=None, gt=0)
    max_trades_per_day: int | None = Field(default=None, gt=0)
    allowed_instruments: frozenset[str] | None = Field(default=None, min_length=1)
    stop_on_system_error: bool | None = None
    breaker: BreakerOverrides = Field(default_factory=BreakerOverrides)

    def __init__(self, **values: Any) -> None:
        """Read the settings, turning pydantic's report into a `RiskConfigError`."""
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise RiskConfigError(_explain(error)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read arguments, then the environment, then the TOML file of `from_toml` if any."""
        toml = _TOML_SOURCE.get()
        if toml is None:
            return (init_settings, env_settings)
        path, table = toml
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=path, toml_table_header=table),
        )

    @classmethod
    def from_toml(
        cls, path: Path | str, *, table: str | None = None, **values: Any
    ) -> RiskSettings:
        """Read settings from the TOML file at `path` (within `[table]` if given).

        Keyword arguments and `COINSWARM_*` environment variables still win over the file.
        """
        path = Path(path)
        if not path.is_file():
            msg = f"risk settings file {path} not found"
            raise RiskConfigError(msg)
        token = _TOML_SOURCE.set((path, (table,) if table else ()))
        try:
            return cls(**values)
        except tomllib.TOMLDecodeError as error:
            msg = f"risk settings file {path} is not valid TOML: {error}"
            raise RiskConfigError(msg) from None
        except KeyError:
            msg = f"risk settings file {path} has no [{table}] table"
            raise RiskConfigError(msg) from None
        except RiskConfigError as error:
            msg = f"risk settings file {path}: {error}"
            raise RiskConfigError(msg) from None
        finally:
            _TOML_SOURCE.reset(token)

    def to_profile(self) -> RiskProfile:
        """Return the phase's profile with these overrides applied.

        Raise `RiskConfigError` when an override makes a profile invalid, or loosens a limit of
        a real-money phase.
        """
        base = profile_for(self.phase)
        breaker = replace(base.breaker, **self.breaker.changes())
        profile = replace(base, breaker=breaker, **self._profile_changes())
        if base.is_real_money:
            _refuse_loosening(base, profile)
        return profile

    def _profile_changes(self) -> dict[str, Any]:
        fields = {
            "max_position_fraction": self.max_position_fraction,
            "max_daily_loss_fraction": self.max_daily_loss_fraction,
            "max_total_loss_fraction": self.max_total_loss_fraction,
            "max_losing_days": self.max_losing_days,
            "max_concurrent_positions": self.max_concurrent_positions,
            "max_trades_per_day": self.max_trades_per_day,
            "allowed_instruments": self.allowed_instruments,
            "stop_on_system_error": self.stop_on_system_error,
        }
        return {name: value for name, value in fields.items() if value is not None}


def _ns(seconds: int | None) -> int | None:
    return None if seconds is None else seconds * NS_PER_SECOND


def _explain(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "settings"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown setting {where!r}")
        elif item["type"] == "missing":
            problems.append(f"{where} is required")
        else:
            problems.append(f"{where}: {item['msg']}, found {item.get('input')!r}")
    return "invalid risk settings: " + "; ".join(problems)


def _refuse_loosening(base: RiskProfile, profile: RiskProfile) -> None:
    problems = [
        *_loosened(base, profile, _PROFILE_DIRECTIONS, ""),
        *_loosened(base.breaker, profile.breaker, _BREAKER_DIRECTIONS, "breaker."),
        *_loosened_switches(base, profile),
    ]
    if problems:
        msg = (
            f"phase {base.phase} ({base.name}) trades real money, so overrides may only "
            f"tighten its limits: " + "; ".join(problems)
        )
        raise RiskConfigError(msg)


def _loosened(base: object, new: object, directions: dict[str, Tighter], prefix: str) -> list[str]:
    problems = []
    for name, tighter in directions.items():
        old, value = getattr(base, name), getattr(new, name)
        # A limit the phase does not have can only be tightened by adding it.
        if old is None or value == old:
            continue
        if value is None or (value > old if tighter == "lower" else value < old):
            problems.append(f"{prefix}{name} {value} is looser than the phase's {old}")
    return problems


def _loosened_switches(base: RiskProfile, profile: RiskProfile) -> list[str]:
    problems = []
    if base.allowed_instruments is not None and (
        profile.allowed_instruments is None
        or not profile.allowed_instruments <= base.allowed_instruments
    ):
        found = sorted(profile.allowed_instruments or ())
        problems.append(
            f"allowed_instruments {found} is not within the phase's "
            f"{sorted(base.allowed_instruments)}"
        )
    if base.stop_on_system_error and not profile.stop_on_system_error:
        problems.append("stop_on_system_error cannot be switched off")
    return problems
