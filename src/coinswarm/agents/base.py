"""The agent interface: agents read the market and vote; they never place an order."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, runtime_checkable

from coinswarm.data.view import MarketView
from coinswarm.domain.bar import Bar

__all__ = ["Agent", "AgentContext", "Direction", "Noting", "Vote"]


class Direction(IntEnum):
    SELL = -1
    HOLD = 0
    BUY = 1


@dataclass(frozen=True, slots=True)
class Vote:
    """One agent's opinion on one instrument at one bar.

    `confidence` is in [0, 1]; `size_hint` in [0, 1] is the share of the instrument's allocation
    the agent would use. A `veto` (risk agents only) forbids new or larger exposure on the
    instrument whatever the majority says; exits stay allowed.
    """

    agent: str
    instrument: str
    direction: Direction
    confidence: float
    size_hint: float
    reason: str
    veto: bool = False

    def __post_init__(self) -> None:
        for name in ("confidence", "size_hint"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                msg = f"vote of {self.agent}: {name} must be in [0, 1], found {value}"
                raise ValueError(msg)


class AgentContext(Protocol):
    """What an agent may know: the clock, the fenced market and the account's exposure."""

    @property
    def market(self) -> MarketView: ...

    def now_ns(self) -> int: ...

    def exposure(self, instrument: str) -> float:
        """Return the value of the position in `instrument` as a fraction of equity."""
        ...

    def gross_exposure(self) -> float:
        """Return the value of every open position as a fraction of equity."""
        ...


class Agent(Protocol):
    """Read each new bar and vote on its instrument, or abstain with None."""

    name: str

    def observe(self, bar: Bar, context: AgentContext) -> Vote | None: ...


@runtime_checkable
class Noting(Protocol):
    """An agent with something a person must read beside every later decision, such as a
    pattern it took out of the committee, and why."""

    def notes(self) -> tuple[str, ...]: ...
