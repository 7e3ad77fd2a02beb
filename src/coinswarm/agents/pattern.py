"""The pattern agent: the proven patterns of a discovery run, voting in the committee.

Only patterns whose status is "proven" vote; each carries its walk-forward out-of-sample score
(the one with a deflated Sharpe), which is its evidence in every vote it casts. Per instrument
the agent keeps one `PatternTrader` per pattern, so each pattern keeps its own record, as if
every signal had filled at the next open, whatever the committee did with its votes.

How a pattern's decisions become a vote (the committee weighs the mean of direction times
confidence over the agents that vote, and a SELL verdict exits the whole position):

* ENTER, decided on a bar's close: a vote for the pattern's side at its confidence, the
  deflated Sharpe (the chance its out-of-sample edge is real after the search that found it).
  Spot cannot short, so a short pattern's SELL asks to reduce or leave long exposure.
* EXIT: a long pattern votes SELL at the same confidence. A short pattern votes HOLD with no
  weight: covering a short is a buy, but spot holds no short, and a buy would open a long the
  pattern never predicted.
* While its own position is open: its side at `hold_share` of its confidence. Silence would
  let the other agents' votes alone exit a trade the pattern still holds; the lower confidence
  keeps a fresh ENTER or EXIT the stronger voice. Its track record is then scored on every bar
  of the trade, not just the one after the entry.
* Otherwise the pattern says nothing; when no pattern says anything the agent abstains, so it
  does not dilute the other agents' votes on the many bars where no pattern is in play.

Several patterns' views on one bar make one vote: the strongest buy against the strongest sell;
the reason names each pattern. Every closed trade of a pattern feeds its CUSUM and SPRT monitors
(`domain.decay`), set from its out-of-sample mean and deviation per trade; when either says
demote, the pattern stops voting for the rest of the run (a long it holds elsewhere gets one
last SELL), the vote on that bar says why, and `notes()` keeps saying it beside every later
decision of the committee.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from coinswarm.agents.base import AgentContext, Direction, Vote
from coinswarm.agents.pattern_trader import PatternTrader, Signal
from coinswarm.data.features import feature_stream
from coinswarm.data.pattern_file import ExportedPattern
from coinswarm.data.timefmt import format_interval, format_timestamp, parse_interval
from coinswarm.domain.bar import Bar
from coinswarm.domain.decay import Cusum, CusumMonitor, Sprt, SprtMonitor, Verdict
from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.pattern import InvalidPatternError, Pattern, Sample, Score, Side

__all__ = [
    "PATTERN_AGENT",
    "PROVEN",
    "Demotion",
    "PatternAgent",
    "PatternAgentConfig",
    "PatternTimeframeError",
    "pattern_interval",
    "walk_forward_score",
]

PATTERN_AGENT = "pattern"
PROVEN = "proven"


class PatternAgentConfig(BaseModel):
    """Parameters of the pattern agent (`--param pattern.KEY=VALUE`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    fee_rate: float = Field(
        default=0.006,
        ge=0.0,
        lt=0.5,
        description="fee per side of each pattern's own trades (0.006: Coinbase's taker fee)",
    )
    hold_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="confidence while a pattern holds, as a share of its entry confidence",
    )


class PatternTimeframeError(CoinswarmError, ValueError):
    """A pattern asked to trade bars of another timeframe than the one it was found on."""


def walk_forward_score(pattern: Pattern) -> Score:
    """Return `pattern`'s walk-forward out-of-sample score: its last out-of-sample score with a
    deflated Sharpe, as a discovery run's closing stores it.

    Raise InvalidPatternError when there is none, or when it lacks a positive mean and
    deviation per trade, which the demotion monitors start from.
    """
    scores = [
        s
        for s in pattern.scores
        if s.sample is Sample.OUT_OF_SAMPLE and s.deflated_sharpe is not None
    ]
    if not scores:
        msg = (
            f"pattern {pattern.id}: expected a walk-forward out-of-sample score (one with a "
            "deflated Sharpe), found none"
        )
        raise InvalidPatternError(msg)
    score = scores[-1]
    _trade_stats(pattern, score)
    return score


def pattern_interval(pattern: Pattern) -> int:
    """Return the bar interval of the timeframe `pattern` was found on, in nanoseconds."""
    try:
        return parse_interval(pattern.timeframe)
    except ValueError as error:
        raise InvalidPatternError(f"pattern {pattern.id}: {error}") from None


def _trade_stats(pattern: Pattern, score: Score) -> tuple[float, float]:
    """Return the mean and deviation per trade of `score`, both positive, or raise."""
    mean, std = score.trade_mean, score.trade_std
    if mean is None or std is None:
        msg = (
            f"pattern {pattern.id}: its walk-forward score lacks trade_mean or trade_std, "
            "which its demotion monitors start from"
        )
        raise InvalidPatternError(msg)
    if not (mean > 0 and std > 0):
        msg = (
            f"pattern {pattern.id}: expected a positive mean and deviation per out-of-sample "
            f"trade, found mean {mean:+.4%} and deviation {std:.4%}"
        )
        raise InvalidPatternError(msg)
    return mean, std


@dataclass(frozen=True, slots=True)
class Demotion:
    """A pattern that a monitor took out of the committee, and why."""

    pattern_id: str
    rule: str
    instrument: str  # where the trade that decided it was made
    ts: int  # the bar on whose open that trade closed
    trades: int  # the pattern's trades in this run, every instrument
    reason: str  # the monitor's own words

    def describe(self) -> str:
        return (
            f"pattern {self.pattern_id} ({self.rule}) demoted at {format_timestamp(self.ts)} "
            f"on {self.instrument}: {self.reason}; it votes no more in this run"
        )


@dataclass(slots=True)
class _Member:
    """One proven pattern: its evidence, its monitors, and whether it was demoted."""

    pattern: Pattern
    score: Score
    interval_ns: int
    cusum: CusumMonitor
    sprt: SprtMonitor
    demotion: Demotion | None = None
    label: str = field(init=False)
    evidence: str = field(init=False)

    def __post_init__(self) -> None:
        self.label = f"pattern {self.pattern.id} ({self.pattern.describe()})"
        self.evidence = _evidence(self.score)

    @property
    def confidence(self) -> float:
        return min(1.0, max(0.0, self.score.deflated_sharpe or 0.0))

    def watch(self, outcome: float) -> str | None:
        """Feed one closed trade to both monitors; return why to demote, or None."""
        decisions = (self.cusum.update(outcome), self.sprt.update(outcome))
        fired = [d.reason for d in decisions if d.verdict is Verdict.DEMOTE]
        return "; ".join(fired) or None


@dataclass(slots=True)
class _Seat:
    """A member trading one instrument, and how many of its closed trades were watched."""

    member: _Member
    trader: PatternTrader
    watched: int = 0


@dataclass(frozen=True, slots=True)
class _View:
    direction: Direction
    confidence: float
    reason: str


class PatternAgent:
    """Vote with the proven patterns of a patterns file, and demote those whose edge is gone."""

    def __init__(
        self,
        patterns: Iterable[ExportedPattern] = (),
        config: PatternAgentConfig | None = None,
        *,
        timeframe: str | None = None,
        name: str = PATTERN_AGENT,
    ) -> None:
        """Keep the proven among `patterns` (one each); given the `timeframe` of the bars to
        come, refuse a pattern found on another one."""
        self.name = name
        self.config = config or PatternAgentConfig()
        self._members: list[_Member] = []
        seen: set[str] = set()
        for exported in patterns:
            pattern = exported.pattern
            if exported.status == PROVEN and pattern.id not in seen:
                seen.add(pattern.id)
                self._members.append(_member(pattern))
        self._seats: dict[str, list[_Seat]] = {}
        self.demotions: list[Demotion] = []
        if timeframe is not None:
            self.check_interval(parse_interval(timeframe), "the run's bars are")

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        """The proven patterns the agent trades, demoted ones included."""
        return tuple(m.pattern for m in self._members)

    def check_intervals(self, intervals: Mapping[str, int]) -> None:
        """Refuse bars of another timeframe than the patterns': `intervals` by instrument."""
        for instrument, interval_ns in intervals.items():
            self.check_interval(interval_ns, f"{instrument}'s bars in this run are")

    def check_interval(self, interval_ns: int, bars_are: str) -> None:
        """Raise PatternTimeframeError naming the first pattern not found on `interval_ns`."""
        for member in self._members:
            if member.interval_ns != interval_ns:
                msg = (
                    f"{member.label} was found on {member.pattern.timeframe} bars and trades "
                    f"only those, but {bars_are} {format_interval(interval_ns)}"
                )
                raise PatternTimeframeError(msg)

    def notes(self) -> tuple[str, ...]:
        """Return what a person must read beside each later decision: every demotion so far."""
        return tuple(d.describe() for d in self.demotions)

    def observe(self, bar: Bar, context: AgentContext) -> Vote | None:
        """Feed `bar` to each live pattern's trader on its instrument; vote, or None."""
        seats = self._seats.get(bar.instrument)
        if seats is None:
            seats = self._seat(bar.instrument, context)
        views: list[_View] = []
        news: list[Demotion] = []
        for seat in list(seats):
            member = seat.member
            if member.demotion is not None:  # demoted on another instrument
                seats.remove(seat)
                views += self._farewell(seat)
                continue
            signal = seat.trader.update(bar)
            demotion = self._watch(seat, bar)
            if demotion is not None:
                seats.remove(seat)
                news.append(demotion)
                continue
            view = self._view(member, seat.trader, signal)
            if view is not None:
                views.append(view)
        return self._vote(bar.instrument, views, news)

    def _seat(self, instrument: str, context: AgentContext) -> list[_Seat]:
        interval_ns = context.market.interval_ns(instrument)
        if interval_ns is not None:
            self.check_interval(interval_ns, f"{instrument}'s bars are")
        fee_rate = self.config.fee_rate
        seats = [
            _Seat(m, PatternTrader(m.pattern, feature_stream, fee_rate=fee_rate))
            for m in self._members
            if m.demotion is None
        ]
        self._seats[instrument] = seats
        return seats

    def _watch(self, seat: _Seat, bar: Bar) -> Demotion | None:
        """Feed the seat's newly closed trades to its pattern's monitors; demote if told."""
        member, closed = seat.member, seat.trader.closed
        while seat.watched < len(closed):
            outcome = closed[seat.watched].net_return
            seat.watched += 1
            reason = member.watch(outcome)
            if reason is not None:
                member.demotion = Demotion(
                    member.pattern.id,
                    member.pattern.describe(),
                    bar.instrument,
                    bar.ts,
                    member.cusum.trades,
                    reason,
                )
                self.demotions.append(member.demotion)
                return member.demotion
        return None

    def _farewell(self, seat: _Seat) -> list[_View]:
        """A long still held here when its pattern was demoted elsewhere: one last SELL."""
        member = seat.member
        if not seat.trader.holding or member.pattern.side is not Side.LONG:
            return []
        reason = (
            f"{member.label} was demoted (see the notes), so its long here has no reason left: "
            f"exit [{member.evidence}]"
        )
        return [_View(Direction.SELL, member.confidence, reason)]

    def _view(self, member: _Member, trader: PatternTrader, signal: Signal | None) -> _View | None:
        pattern, confidence = member.pattern, member.confidence
        long = pattern.side is Side.LONG
        side = Direction.BUY if long else Direction.SELL
        if signal is Signal.ENTER:
            what = "enters long at the next open" if long else _SHORT_ENTRY
            return _View(side, confidence, f"{member.label} {what} [{member.evidence}]")
        if signal is Signal.EXIT:
            if long:
                what = "exits its long at the next open"
                return _View(Direction.SELL, confidence, f"{member.label} {what}")
            return _View(Direction.HOLD, 0.0, f"{member.label} {_SHORT_EXIT}")
        if trader.holding:
            since = format_timestamp(trader.entry_ts or 0)
            what = f"holds its {pattern.side.value} entered at {since}"
            if not long:
                what += " (stay out of long exposure)"
            share = confidence * self.config.hold_share
            return _View(side, share, f"{member.label} {what} [{member.evidence}]")
        return None

    def _vote(
        self, instrument: str, views: Sequence[_View], news: Sequence[Demotion]
    ) -> Vote | None:
        if not views and not news:
            return None
        buy = max((v.confidence for v in views if v.direction is Direction.BUY), default=0.0)
        sell = max((v.confidence for v in views if v.direction is Direction.SELL), default=0.0)
        net = buy - sell
        direction = Direction.BUY if net > 0 else Direction.SELL if net < 0 else Direction.HOLD
        parts = [v.reason for v in views] + [d.describe() for d in news]
        reason = " | ".join(parts)
        if buy and sell:
            reason = f"patterns disagree (buy {buy:.2f} against sell {sell:.2f}): {reason}"
        confidence = abs(net)
        return Vote(self.name, instrument, direction, confidence, confidence, reason)


_SHORT_ENTRY = (
    "enters short at the next open; spot cannot short, so this SELL asks to reduce or exit "
    "long exposure"
)
_SHORT_EXIT = (
    "leaves its short at the next open; spot holds no short to cover, so it asks for no buy"
)


def _member(pattern: Pattern) -> _Member:
    score = walk_forward_score(pattern)
    mean, std = _trade_stats(pattern, score)
    return _Member(
        pattern,
        score,
        pattern_interval(pattern),
        Cusum(mean, std).monitor(),
        Sprt(mean, std).monitor(),
    )


def _evidence(score: Score) -> str:
    pbo = "not measured" if score.pbo is None else f"{score.pbo:.2f}"
    dsr = math.nan if score.deflated_sharpe is None else score.deflated_sharpe
    mean = score.trade_mean or 0.0
    return (
        f"out-of-sample Sharpe {score.sharpe:.2f} over {score.trades} trades "
        f"({mean:+.2%} a trade), deflated Sharpe {dsr:.2f}, PBO {pbo}"
    )
