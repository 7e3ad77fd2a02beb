"""The `committee` strategy: agents vote, the committee decides, the orchestrator sizes.

It returns order intents like any strategy; the engine passes them through the risk layer's one
door. Every verdict, with the votes and weights behind it, goes to the run's journal (which
stores it at the next checkpoint), and every order it asks for carries a rationale holding its
verdict's votes and what agents note for a person (a pattern demoted, and why), so `coinswarm
explain` can say why it traded. In memory the strategy keeps only the latest verdicts: a
session that runs for months must not grow with every bar.

With `patterns` (`--patterns FILE`) the proven patterns of that file vote as the agent
`pattern`, added to the agents when not named; the file is read when the strategy is built and
its pinned spec (path and SHA-256) is part of the resolved parameters, so of the run's id.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from coinswarm.agents.base import Agent, Direction, Noting, Vote
from coinswarm.agents.committee import Committee, CommitteeConfig, Verdict
from coinswarm.agents.pattern import PATTERN_AGENT, PatternAgent, PatternAgentConfig
from coinswarm.agents.registry import AGENTS, agent_names, build_agent
from coinswarm.data.pattern_file import ExportedPattern
from coinswarm.domain.bar import Bar
from coinswarm.orchestration.orchestrator import MasterOrchestrator, OrchestratorConfig
from coinswarm.strategies.base import Intent, Rationale, StrategyContext, VoteRecord
from coinswarm.strategies.patterns import load_patterns

__all__ = ["DEFAULT_VERDICT_WINDOW", "CommitteeStrategy", "CommitteeStrategyConfig"]

DEFAULT_VERDICT_WINDOW = 1024
"""How many of the latest verdicts a committee keeps in memory (about 1.2 KB each)."""


class CommitteeStrategyConfig(BaseModel):
    """The committee strategy's parameters, each one `--param KEY=VALUE`.

    An agent's own parameters are `--param AGENT.KEY=VALUE` (`trend.fast=12`,
    `mean_reversion.band_period=30`, `risk.max_volatility=0.03`): `from_parameters` routes
    them to `agent_parameters`, checked against that agent's config, for agents in `agents`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    agents: str = Field(
        default="trend,mean_reversion,risk", description="comma-separated agent names"
    )
    quorum: int = CommitteeConfig.model_fields["quorum"].default
    threshold: float = CommitteeConfig.model_fields["threshold"].default
    min_vote_confidence: float = CommitteeConfig.model_fields["min_vote_confidence"].default
    decay: float = CommitteeConfig.model_fields["decay"].default
    strategy_cap: float = OrchestratorConfig.model_fields["strategy_cap"].default
    volatility_window: int = OrchestratorConfig.model_fields["volatility_window"].default
    rebalance_band: float = OrchestratorConfig.model_fields["rebalance_band"].default
    agent_parameters: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="per agent, its parameters as given (AGENT.KEY)"
    )
    patterns: str = Field(
        default="",
        description="a patterns file (--patterns FILE): its proven patterns vote as the agent "
        "'pattern'",
    )

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str]) -> CommitteeStrategyConfig:
        """Build the config from `--param` text, routing each `AGENT.KEY` to its agent.

        Raise ValueError naming the valid keys for an unknown agent or key, an agent not on
        the committee, or a value its agent refuses.
        """
        flat: dict[str, str] = {}
        routed: dict[str, dict[str, str]] = {}
        for key, value in parameters.items():
            agent, dot, name = key.partition(".")
            if dot:
                routed.setdefault(agent, {})[name] = value
            elif key == "agent_parameters":
                msg = "agent_parameters: give each as AGENT.KEY=VALUE, e.g. trend.fast=12"
                raise ValueError(msg)
            else:
                flat[key] = value
        config = cls.model_validate(flat)
        return config.model_copy(update={"agent_parameters": _checked(config, routed)})

    @classmethod
    def accepted(cls) -> str:
        """Name every parameter the committee takes, for an error message."""
        own = [name for name in cls.model_fields if name != "agent_parameters"]
        return f"{', '.join(own)}, or AGENT.KEY for {', '.join(agent_names())}"

    def resolved(self) -> dict[str, str]:
        """Return every committee parameter, and the agent parameters given, as text."""
        # Without a patterns file the parameters stay as they were: old run ids hold.
        unset = {"agent_parameters"} | (set() if self.patterns else {"patterns"})
        text = {k: str(v) for k, v in self.model_dump(exclude=unset).items()}
        for agent, given in sorted(self.agent_parameters.items()):
            config = AGENTS[agent].config_type.model_validate(given)
            text.update({f"{agent}.{key}": str(getattr(config, key)) for key in sorted(given)})
        return text

    @field_validator("agents")
    @classmethod
    def _known_agents(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in agent_names()]
        if not names or unknown:
            msg = f"expected agent names among {', '.join(agent_names())}, found {value!r}"
            raise ValueError(msg)
        return ",".join(names)

    @model_validator(mode="before")
    @classmethod
    def _pattern_agent_for_patterns(cls, data: Any) -> Any:
        """A patterns file is traded by the pattern agent: add it when `agents` omits it."""
        if not isinstance(data, Mapping) or not data.get("patterns"):
            return data
        agents = str(data.get("agents", cls.model_fields["agents"].default))
        if PATTERN_AGENT in (name.strip() for name in agents.split(",")):
            return data
        return {**data, "agents": f"{agents},{PATTERN_AGENT}"}

    @model_validator(mode="after")
    def _patterns_for_pattern_agent(self) -> CommitteeStrategyConfig:
        if PATTERN_AGENT in self.agents.split(",") and not self.patterns:
            msg = (
                f"agent {PATTERN_AGENT} trades the proven patterns of a patterns file: give "
                "--patterns FILE (or patterns=FILE)"
            )
            raise ValueError(msg)
        return self

    def committee(self) -> CommitteeConfig:
        return CommitteeConfig(
            quorum=self.quorum,
            threshold=self.threshold,
            min_vote_confidence=self.min_vote_confidence,
            decay=self.decay,
        )

    def orchestrator(self) -> OrchestratorConfig:
        return OrchestratorConfig(
            strategy_cap=self.strategy_cap,
            volatility_window=self.volatility_window,
            rebalance_band=self.rebalance_band,
        )


def _checked(
    config: CommitteeStrategyConfig, routed: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """Return `routed` once every agent and key in it is known and every value accepted."""
    members = config.agents.split(",")
    for agent, given in routed.items():
        entry = AGENTS.get(agent)
        if entry is None:
            msg = (
                f"unknown agent {agent!r} in {agent}.{next(iter(given))}; expected "
                f"AGENT.KEY with AGENT one of {', '.join(agent_names())}"
            )
            raise ValueError(msg)
        if agent not in members:
            msg = f"{agent}.{next(iter(given))}: agent {agent} is not in agents={config.agents}"
            raise ValueError(msg)
        fields = entry.config_type.model_fields
        unknown = sorted(set(given) - set(fields))
        if unknown:
            valid = ", ".join(f"{agent}.{name}" for name in fields)
            msg = f"unknown parameter {agent}.{unknown[0]}; {agent} takes {valid}"
            raise ValueError(msg)
        try:
            entry.config_type.model_validate(dict(given))
        except ValidationError as exc:
            problems = "; ".join(
                f"{agent}.{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(problems) from None
    return {agent: dict(given) for agent, given in routed.items()}


class CommitteeStrategy:
    """Turn each bar into votes, a verdict and, when the verdict calls for it, one order.

    `verdicts` holds the latest `verdict_window` verdicts, oldest first; the whole history is
    the journal's (the store keeps every verdict and vote of a run).
    """

    name = "committee"

    def __init__(
        self,
        config: CommitteeStrategyConfig | None = None,
        *,
        verdict_window: int = DEFAULT_VERDICT_WINDOW,
    ) -> None:
        if verdict_window < 1:
            msg = f"expected a verdict window of at least 1, found {verdict_window}"
            raise ValueError(msg)
        self.config = config or CommitteeStrategyConfig()
        proven = load_patterns(self.config.patterns).proven if self.config.patterns else ()
        self.agents: tuple[Agent, ...] = tuple(
            self._agent(name, proven) for name in self.config.agents.split(",")
        )
        self._noting = tuple(a for a in self.agents if isinstance(a, Noting))
        self.committee = Committee(self.config.committee())
        self.verdicts: deque[Verdict] = deque(maxlen=verdict_window)
        self._orchestrator: MasterOrchestrator | None = None

    def _agent(self, name: str, proven: Sequence[ExportedPattern]) -> Agent:
        given = self.config.agent_parameters.get(name)
        if name == PATTERN_AGENT:
            return PatternAgent(proven, PatternAgentConfig.model_validate(given or {}))
        return build_agent(name, given)

    def check_intervals(self, intervals: Mapping[str, int]) -> None:
        """Refuse, before a run starts, bars an agent cannot trade (`intervals` by instrument):
        a pattern trades only the timeframe it was found on."""
        for agent in self.agents:
            if isinstance(agent, PatternAgent):
                agent.check_intervals(intervals)

    def notes(self) -> tuple[str, ...]:
        """Return what the agents note for a person beside each decision, each with its name."""
        return tuple(f"{a.name}: {note}" for a in self._noting for note in a.notes())

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        votes = [v for agent in self.agents if (v := agent.observe(bar, context)) is not None]
        orchestrator = self._orchestrator_for(context)
        orchestrator.observe(bar.instrument, bar.close)
        verdict = self.committee.decide(bar.instrument, bar.ts, bar.close, votes)
        self.verdicts.append(verdict)
        context.record_verdict(verdict)
        if verdict.direction is Direction.HOLD or context.has_open_orders(bar.instrument):
            return ()
        client_order_id = context.next_client_order_id(bar.instrument)
        plan = orchestrator.plan(
            verdict,
            equity=context.equity(),
            position=context.position(bar.instrument),
            price=context.mark(bar.instrument),
            cash=context.cash(),
            client_order_id=client_order_id,
            position_limit=context.position_limit(),
        )
        if plan.request is None:
            return ()
        context.explain(client_order_id, _rationale(verdict, plan.reason, self.notes()))
        return (plan.request,)

    def _orchestrator_for(self, context: StrategyContext) -> MasterOrchestrator:
        if self._orchestrator is None:
            self._orchestrator = MasterOrchestrator(
                context.market.instruments, self.config.orchestrator()
            )
        return self._orchestrator


def _vote_record(vote: Vote, weight: float) -> VoteRecord:
    return VoteRecord(
        agent=vote.agent,
        direction=int(vote.direction),
        confidence=vote.confidence,
        size_hint=vote.size_hint,
        weight=weight,
        veto=vote.veto,
        reason=vote.reason,
    )


def _rationale(verdict: Verdict, plan_reason: str, notes: Sequence[str]) -> Rationale:
    return Rationale(
        summary=f"committee verdict {verdict.direction.name}: {verdict.reason}",
        votes=tuple(
            _vote_record(v, w) for v, w in zip(verdict.votes, verdict.weights, strict=True)
        ),
        details=(f"orchestrator: {plan_reason}", *notes),
    )
