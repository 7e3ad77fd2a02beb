"""Every voting agent by name, with its config type and a factory that builds it.

Adding an agent to the committee is one line in `AGENTS`; the tests that loop over the registry
(prefix invariance, vote bounds, determinism, the latency budget) then cover it unchanged.
Configuration reaches a factory as the agent's own frozen config object; a plain mapping, as
read from a settings file, is validated into that object first, so unknown keys are refused.

The pattern agent's patterns are not configuration: built from the registry it holds none and
abstains on every bar. The committee strategy hands it the proven patterns of a patterns file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from pydantic import BaseModel

from coinswarm.agents.base import Agent
from coinswarm.agents.mean_reversion import MeanReversionAgent, MeanReversionConfig
from coinswarm.agents.pattern import PATTERN_AGENT, PatternAgent, PatternAgentConfig
from coinswarm.agents.risk_agent import RiskAgent, RiskConfig
from coinswarm.agents.trend import TrendAgent, TrendConfig
from coinswarm.domain.errors import CoinswarmError

__all__ = ["AGENTS", "AgentEntry", "UnknownAgentError", "agent_names", "build_agent"]

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class UnknownAgentError(CoinswarmError, LookupError):
    """An agent name that the registry does not hold."""


class AgentEntry(NamedTuple):
    """How to build one agent: its config type and a factory taking an instance of it."""

    config_type: type[BaseModel]
    factory: Callable[[BaseModel], Agent]


def _entry(config_type: type[ConfigT], build: Callable[[ConfigT], Agent]) -> AgentEntry:
    """Pair `config_type` with a factory that refuses any other config type."""

    def factory(config: BaseModel) -> Agent:
        if not isinstance(config, config_type):
            msg = f"expected a {config_type.__name__}, found a {type(config).__name__}"
            raise TypeError(msg)
        return build(config)

    return AgentEntry(config_type, factory)


AGENTS: Mapping[str, AgentEntry] = MappingProxyType(
    {
        "trend": _entry(TrendConfig, TrendAgent),
        "mean_reversion": _entry(MeanReversionConfig, MeanReversionAgent),
        "risk": _entry(RiskConfig, RiskAgent),
        PATTERN_AGENT: _entry(PatternAgentConfig, lambda config: PatternAgent((), config)),
    }
)
"""The registry: agent name -> (config type, factory), in the order the committee lists them."""


def agent_names() -> tuple[str, ...]:
    """Return the name of every registered agent, in registration order."""
    return tuple(AGENTS)


def build_agent(name: str, config: BaseModel | Mapping[str, object] | None = None) -> Agent:
    """Build the agent registered as `name` from its config, a mapping of its fields, or defaults.

    Raise `UnknownAgentError` for a name not in the registry, `TypeError` for a config object of
    another agent, and pydantic's `ValidationError` for a mapping with bad or unknown fields.
    """
    entry = AGENTS.get(name)
    if entry is None:
        msg = f"expected an agent name among {agent_names()}, found {name!r}"
        raise UnknownAgentError(msg)
    if config is None:
        config = entry.config_type()
    elif not isinstance(config, BaseModel):
        config = entry.config_type.model_validate(config)
    return entry.factory(config)
