"""The strategies a user can name on the command line, each with its typed parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from coinswarm.domain.errors import CoinswarmError
from coinswarm.strategies.base import CancelRequest, Intent, Strategy, StrategyContext
from coinswarm.strategies.committee import CommitteeStrategy, CommitteeStrategyConfig
from coinswarm.strategies.sma_cross import SmaCross, SmaCrossConfig

__all__ = [
    "CancelRequest",
    "Intent",
    "InvalidStrategyError",
    "Strategy",
    "StrategyContext",
    "build_strategy",
    "default_phase",
    "strategy_names",
]


class InvalidStrategyError(CoinswarmError, ValueError):
    """An unknown strategy name or a parameter it does not accept."""


@dataclass(frozen=True, slots=True)
class _Entry:
    config: type[BaseModel]
    build: Callable[[Any], Strategy]
    # The risk phase a backtest applies unless told otherwise. The reference strategy runs
    # unlimited, so that it can be checked against other backtesters on the spec's terms.
    default_phase: int | None


_REGISTRY: dict[str, _Entry] = {
    SmaCross.name: _Entry(SmaCrossConfig, SmaCross, None),
    CommitteeStrategy.name: _Entry(CommitteeStrategyConfig, CommitteeStrategy, 0),
}


def strategy_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def default_phase(name: str) -> int | None:
    """Return the risk phase a backtest of `name` uses by default (None: no limits)."""
    return _entry(name).default_phase


def _entry(name: str) -> _Entry:
    entry = _REGISTRY.get(name)
    if entry is None:
        msg = f"unknown strategy {name!r}; expected one of {', '.join(strategy_names())}"
        raise InvalidStrategyError(msg)
    return entry


def build_strategy(name: str, parameters: Mapping[str, str]) -> tuple[Strategy, dict[str, str]]:
    """Return the strategy `name` built from text parameters, and its full resolved parameters.

    Unknown names and unknown or ill-typed parameters are refused with the accepted ones named.
    """
    entry = _entry(name)
    try:
        config = entry.config.model_validate(dict(parameters))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}"
            for e in exc.errors()
        )
        accepted = ", ".join(entry.config.model_fields)
        msg = f"strategy {name}: {problems} (accepted parameters: {accepted})"
        raise InvalidStrategyError(msg) from None
    resolved = {k: str(v) for k, v in config.model_dump().items()}
    return entry.build(config), resolved
