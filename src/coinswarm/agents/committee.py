"""The committee: weigh every agent's vote by its track record and reach one verdict.

Each agent's weight is its decayed hit rate: a directional vote made on bar t is scored on bar
t+1 of the same instrument, when the close of t+1 is known, so a weight only ever uses what was
known at the time. The verdict is the weighted mean of direction times confidence over the
agents that voted. Below the quorum, or below the threshold, the committee holds. A risk veto
beats any majority: a vetoed instrument never gets a buy verdict (selling, which reduces risk,
stays possible).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from coinswarm.agents.base import Direction, Vote

__all__ = ["Committee", "CommitteeConfig", "TrackRecord", "Verdict"]


class CommitteeConfig(BaseModel):
    """How the committee turns votes into a verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quorum: int = Field(default=2, ge=1, description="agents that must vote (not abstain)")
    threshold: float = Field(
        default=0.25, gt=0, le=1, description="weighted score needed to act, in (0, 1]"
    )
    min_vote_confidence: float = Field(
        default=0.1, ge=0, le=1, description="a vote less sure than this counts as a hold"
    )
    decay: float = Field(
        default=0.98, gt=0, le=1, description="how much each older scored vote still counts"
    )


class TrackRecord:
    """An agent's decayed hit rate, starting from an even prior of one hit in two votes."""

    __slots__ = ("_decay", "hits", "scored")

    def __init__(self, decay: float) -> None:
        self._decay = decay
        self.hits = 0.0
        self.scored = 0.0

    @property
    def weight(self) -> float:
        return (self.hits + 1.0) / (self.scored + 2.0)

    def score(self, hit: bool) -> None:
        self.hits = self.hits * self._decay + (1.0 if hit else 0.0)
        self.scored = self.scored * self._decay + 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the committee decided on one instrument at one bar, with everything it used."""

    instrument: str
    ts: int
    direction: Direction
    score: float  # weighted mean of direction x confidence, in [-1, 1]
    size: float  # weighted size hint of the agents that agree, in [0, 1]
    votes: tuple[Vote, ...]
    weights: tuple[float, ...]
    vetoed_by: tuple[str, ...]
    reason: str


class Committee:
    """Collect votes, keep each agent's track record, and decide."""

    def __init__(self, config: CommitteeConfig | None = None) -> None:
        self.config = config or CommitteeConfig()
        self._records: dict[str, TrackRecord] = {}
        # Directional votes waiting to be scored, per instrument: (agent, direction, close).
        self._pending: dict[str, list[tuple[str, Direction]]] = {}
        self._last_close: dict[str, float] = {}

    def weight(self, agent: str) -> float:
        record = self._records.get(agent)
        return record.weight if record else 0.5

    def decide(self, instrument: str, ts: int, close: float, votes: Sequence[Vote]) -> Verdict:
        """Score the previous bar's votes against this close, then judge `votes`."""
        self._score_pending(instrument, close)
        verdict = self._judge(instrument, ts, votes)
        self._pending[instrument] = [
            (v.agent, v.direction) for v in votes if not v.veto and v.direction
        ]
        self._last_close[instrument] = close
        return verdict

    def _score_pending(self, instrument: str, close: float) -> None:
        previous = self._last_close.get(instrument)
        if previous is None:
            return
        move = close - previous
        for agent, direction in self._pending.get(instrument, ()):
            record = self._records.get(agent)
            if record is None:
                record = self._records[agent] = TrackRecord(self.config.decay)
            record.score(move * direction > 0)

    def _judge(self, instrument: str, ts: int, votes: Sequence[Vote]) -> Verdict:
        vetoes = tuple(v.agent for v in votes if v.veto)
        voters = [v for v in votes if not v.veto]
        weights = tuple(self.weight(v.agent) for v in votes)
        if len(voters) < self.config.quorum:
            reason = f"no quorum: {len(voters)} of {self.config.quorum} agents voted"
            return Verdict(
                instrument, ts, Direction.HOLD, 0.0, 0.0, tuple(votes), weights, vetoes, reason
            )
        score = self._score(voters)
        direction = Direction.HOLD
        if abs(score) >= self.config.threshold:
            direction = Direction.BUY if score > 0 else Direction.SELL
        reason = f"weighted score {score:+.3f} (threshold {self.config.threshold})"
        if vetoes and direction is Direction.BUY:
            direction = Direction.HOLD
            reason += f"; buy vetoed by {', '.join(vetoes)}"
        size = self._size(voters, direction) if direction else 0.0
        return Verdict(
            instrument, ts, direction, score, size, tuple(votes), weights, vetoes, reason
        )

    def _counts(self, vote: Vote) -> bool:
        return bool(vote.direction) and vote.confidence >= self.config.min_vote_confidence

    def _score(self, voters: Sequence[Vote]) -> float:
        """Return the weighted mean of direction x confidence; holds and doubts count as 0."""
        total = sum(self.weight(v.agent) for v in voters)
        weighted = sum(
            self.weight(v.agent) * v.direction * v.confidence for v in voters if self._counts(v)
        )
        return weighted / total if total else 0.0

    def _size(self, voters: Sequence[Vote], direction: Direction) -> float:
        """Return the weighted mean size hint of the agents that voted for `direction`."""
        agreeing = [v for v in voters if self._counts(v) and v.direction == direction]
        total = sum(self.weight(v.agent) for v in agreeing)
        if not total:
            return 0.0
        return sum(self.weight(v.agent) * v.size_hint for v in agreeing) / total
