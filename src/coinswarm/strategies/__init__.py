"""The strategies a user can name on the command line, each with its typed parameters.

`--strategy` takes a built-in name (`sma-cross`, `committee`), the name an installed package
declares under the `coinswarm.strategies` entry-point group, or `path/to/file.py:ClassName`.
Every one of them is built inside the fence and trades through the same door.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from coinswarm.domain.errors import CoinswarmError
from coinswarm.strategies.base import CancelRequest, Intent, Strategy, StrategyContext
from coinswarm.strategies.committee import CommitteeStrategy, CommitteeStrategyConfig
from coinswarm.strategies.fence import fenced
from coinswarm.strategies.loader import (
    InvalidStrategyError,
    LoadedStrategy,
    installed_strategies,
    is_file_spec,
    load_entry_point,
    load_file,
)
from coinswarm.strategies.patterns import pin_patterns
from coinswarm.strategies.sma_cross import SmaCross, SmaCrossConfig

__all__ = [
    "CancelRequest",
    "Intent",
    "InvalidStrategyError",
    "Strategy",
    "StrategyContext",
    "build_strategy",
    "check_intervals",
    "default_phase",
    "parameter_model",
    "pin_parameters",
    "pin_strategy",
    "strategy_names",
]

USER_DEFAULT_PHASE = 0
"""The risk phase a user's strategy runs under unless told otherwise: the committee's."""


@dataclass(frozen=True, slots=True)
class _Entry:
    label: str
    # None: the strategy takes no parameters, and any --param is refused.
    config: type[BaseModel] | None
    build: Callable[..., Strategy]
    # The risk phase a backtest applies unless told otherwise. The reference strategy runs
    # unlimited, so that it can be checked against other backtesters on the spec's terms.
    default_phase: int | None
    pinned: str
    # A user's code is built inside the fence: its constructor may not read files either.
    user: bool = False


_REGISTRY: dict[str, tuple[type[BaseModel], Callable[[Any], Strategy], int | None]] = {
    SmaCross.name: (SmaCrossConfig, SmaCross, None),
    CommitteeStrategy.name: (CommitteeStrategyConfig, CommitteeStrategy, 0),
}


def strategy_names() -> tuple[str, ...]:
    """Return the built-in strategies' names."""
    return tuple(sorted(_REGISTRY))


def default_phase(spec: str) -> int | None:
    """Return the risk phase a backtest of `spec` uses by default (None: no limits)."""
    return _entry(spec).default_phase


def parameter_model(spec: str) -> type[BaseModel] | None:
    """Return the pydantic model of `spec`'s parameters (None: it takes none).

    A search checks the names it will vary against it before any backtest runs.
    """
    return _entry(spec).config


def pin_strategy(spec: str) -> str:
    """Return `spec` pinned to the code it names now: unchanged for a built-in, a file's
    absolute path and content digest, an entry point's distribution and version."""
    return _entry(spec).pinned


def pin_parameters(spec: str, parameters: Mapping[str, str]) -> dict[str, str]:
    """Return `parameters` with every file they name pinned to its content, as `pin_strategy`
    pins a strategy file: the committee's `patterns` file by its absolute path and SHA-256.

    The file is read here, before any work: one that cannot be traded is refused (DataError
    naming its line and field), and one changed since it was pinned is refused naming both
    digests, so `resume` and `replay` never trade other patterns than the run did.
    """
    pinned = dict(parameters)
    if spec == CommitteeStrategy.name and pinned.get("patterns"):
        pinned["patterns"] = pin_patterns(pinned["patterns"])
    return pinned


def check_intervals(strategy: Strategy, intervals: Mapping[str, int]) -> None:
    """Refuse, before a run is stored, bars `strategy` cannot trade (`intervals`: each
    instrument's bar interval in ns): the committee's patterns trade only their timeframe."""
    if isinstance(strategy, CommitteeStrategy):
        strategy.check_intervals(intervals)


def _entry(spec: str) -> _Entry:
    builtin = _REGISTRY.get(spec)
    if builtin is not None:
        config, build, phase = builtin
        return _Entry(spec, config, build, phase, spec)
    if is_file_spec(spec):
        return _user(load_file(spec))
    loaded = load_entry_point(spec)
    if loaded is None:
        installed = ", ".join(sorted(installed_strategies())) or "none installed"
        msg = (
            f"unknown strategy {spec!r}; expected one of {', '.join(strategy_names())}, an "
            f"installed one ({installed}), or path/to/file.py:ClassName"
        )
        raise InvalidStrategyError(msg)
    return _user(loaded)


def _user(loaded: LoadedStrategy) -> _Entry:
    return _Entry(
        loaded.label,
        loaded.parameters,
        loaded.cls,
        USER_DEFAULT_PHASE,
        loaded.pinned,
        user=True,
    )


def build_strategy(spec: str, parameters: Mapping[str, str]) -> tuple[Strategy, dict[str, str]]:
    """Return the strategy `spec` names built from text parameters, and its resolved parameters.

    Unknown names and unknown or ill-typed parameters are refused with the accepted ones named.
    """
    entry = _entry(spec)
    if entry.config is None:
        if parameters:
            msg = (
                f"strategy {entry.label}: takes no parameters, found {', '.join(parameters)} "
                "(declare a pydantic model as its `Parameters` to take some)"
            )
            raise InvalidStrategyError(msg)
        return _built(entry, None), {}
    config = _validated(entry.label, entry.config, parameters)
    resolved = getattr(config, "resolved", None)
    text = resolved() if callable(resolved) else {k: str(v) for k, v in config.model_dump().items()}
    return _built(entry, config), text


def _validated(label: str, config: type[BaseModel], parameters: Mapping[str, str]) -> BaseModel:
    # A config may read its own text (the committee routes `agent.key` to its agents).
    parse = getattr(config, "from_parameters", config.model_validate)
    try:
        validated: BaseModel = parse(dict(parameters))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}"
            for e in exc.errors()
        )
        named = getattr(config, "accepted", None)
        accepted = named() if callable(named) else ", ".join(config.model_fields)
        msg = f"strategy {label}: {problems} (accepted parameters: {accepted})"
        raise InvalidStrategyError(msg) from None
    except ValueError as exc:
        raise InvalidStrategyError(f"strategy {label}: {exc}") from None
    return validated


def _built(entry: _Entry, config: BaseModel | None) -> Strategy:
    args = () if config is None else (config,)
    if not entry.user:
        return entry.build(*args)
    try:
        with fenced():
            return entry.build(*args)
    except CoinswarmError:
        raise
    except Exception as exc:  # the user's constructor: say which strategy and why
        msg = f"strategy {entry.label}: building it raised {type(exc).__name__}: {exc}"
        raise InvalidStrategyError(msg) from None
