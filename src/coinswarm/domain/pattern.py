"""A trading pattern: a frozen, serialisable rule, and every score it ever received.

A pattern enters when all its entry conditions hold on a closed bar, holds one side, and leaves
on a take-profit, a stop-loss, a time limit or its exit conditions (docs/ISSUE13_PLAN.md gives
the exact semantics every evaluator shares). Its id is a hash of the rule alone, so the same rule
found twice, by chaos or by a paper's authors, is one pattern; where it came from (`source`,
`parents`, `reference`) and how it scored (`scores`) travel with it but do not change the id.

Feature names are text (`rsi:14`); which names exist is the feature catalogue's business
(`coinswarm.data.features`), checked where a pattern enters the system, not here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Literal

from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "Condition",
    "Exit",
    "InvalidPatternError",
    "Pattern",
    "Sample",
    "Score",
    "Side",
    "Source",
]

Op = Literal[">", "<"]
ID_DIGITS = 16


class InvalidPatternError(CoinswarmError, ValueError):
    """A pattern, or its serialised form, breaks a rule of the pattern model."""


class Source(StrEnum):
    """Where a pattern came from."""

    CHAOS = "CHAOS"
    ACADEMIC = "ACADEMIC"
    TECHNICAL = "TECHNICAL"
    EVOLVED = "EVOLVED"


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1


class Sample(StrEnum):
    """Which data a score was measured on: the discovery windows, the next unseen ones, or
    the holdout set aside at the start of a run and scored once at its end."""

    IN_SAMPLE = "in_sample"
    OUT_OF_SAMPLE = "out_of_sample"
    HOLDOUT = "holdout"


@dataclass(frozen=True, slots=True)
class Condition:
    """`feature op threshold` on one closed bar; false while the feature is warming up."""

    feature: str
    op: Op
    threshold: float

    def __post_init__(self) -> None:
        if not self.feature or self.feature != self.feature.strip():
            raise InvalidPatternError(f"expected a feature name, found {self.feature!r}")
        if self.op not in (">", "<"):
            raise InvalidPatternError(f"{self.feature}: expected op '>' or '<', found {self.op!r}")
        # 30 and 30.0 are one rule: the canonical form (and so the id) holds floats.
        object.__setattr__(self, "threshold", _finite(f"{self.feature} threshold", self.threshold))

    def __str__(self) -> str:
        return f"{self.feature} {self.op} {self.threshold:.6g}"


@dataclass(frozen=True, slots=True)
class Exit:
    """How a position leaves: the first of take-profit, stop-loss (fractions of the entry
    price), `max_bars` held, or all of `conditions` holding."""

    max_bars: int
    take_profit: float | None = None
    stop_loss: float | None = None
    conditions: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.max_bars, bool) or not isinstance(self.max_bars, int):
            raise InvalidPatternError(f"max_bars: expected an integer, found {self.max_bars!r}")
        if self.max_bars < 1:
            raise InvalidPatternError(f"max_bars: expected at least 1, found {self.max_bars}")
        for name in ("take_profit", "stop_loss"):
            value = getattr(self, name)
            if value is None:
                continue
            if not _finite(name, value) > 0:
                raise InvalidPatternError(f"{name}: expected a positive fraction, found {value}")
            object.__setattr__(self, name, float(value))
        object.__setattr__(self, "conditions", tuple(self.conditions))


@dataclass(frozen=True, slots=True)
class Score:
    """One measurement of a pattern on one window, said in-sample, out-of-sample or holdout.

    Returns are after fees: `net_return` compounds the trades' net returns; `sharpe` is
    annualised from per-bar log returns. The statistics that guard against overfitting are set
    where the loop computed them for this window (None otherwise). `trade_mean` and `trade_std`
    (sample deviation) describe the trades' net returns one by one: what the demotion monitors
    of a trading pattern compare its new trades against.
    """

    sample: Sample
    start_ns: int
    end_ns: int
    instruments: tuple[str, ...]
    timeframe: str
    trades: int
    net_return: float
    sharpe: float
    max_drawdown: float = 0.0
    exposure: float = 0.0
    n_trials: int | None = None
    deflated_sharpe: float | None = None
    pbo: float | None = None
    spa_p: float | None = None
    random_entry_p: float | None = None
    cycle: int = 0
    trade_mean: float | None = None
    trade_std: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample", Sample(self.sample))
        object.__setattr__(self, "instruments", tuple(self.instruments))
        if self.end_ns <= self.start_ns:
            msg = f"score window: expected end after start, found {self.start_ns}..{self.end_ns}"
            raise InvalidPatternError(msg)
        for item in fields(self):
            value = getattr(self, item.name)
            if "float" in str(item.type) and value is not None:
                object.__setattr__(self, item.name, _finite(f"score {item.name}", value))
        if self.trade_std is not None and self.trade_std < 0:
            msg = f"score trade_std: expected 0 or more, found {self.trade_std}"
            raise InvalidPatternError(msg)

    def to_dict(self) -> dict[str, Any]:
        return {item.name: _plain(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Score:
        return cls(**_known(cls, data, "score"))


@dataclass(frozen=True, slots=True)
class Pattern:
    """A rule: entry conditions (all must hold), a side, an exit and the bars it trades."""

    entry: tuple[Condition, ...]
    side: Side
    exit: Exit
    timeframe: str = "1h"
    source: Source = Source.EVOLVED
    parents: tuple[str, ...] = ()
    reference: str = ""
    scores: tuple[Score, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entry", tuple(self.entry))
        object.__setattr__(self, "side", Side(self.side))
        object.__setattr__(self, "source", Source(self.source))
        object.__setattr__(self, "parents", tuple(self.parents))
        object.__setattr__(self, "scores", tuple(self.scores))
        if not self.entry:
            raise InvalidPatternError("a pattern needs at least one entry condition")
        if not self.timeframe:
            raise InvalidPatternError("a pattern needs a timeframe, e.g. 1h")

    @property
    def id(self) -> str:
        """The first 16 hex digits of the SHA-256 of the rule's canonical JSON."""
        text = json.dumps(self._rule(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:ID_DIGITS]

    @property
    def features(self) -> tuple[str, ...]:
        """Every feature the rule reads, sorted, each once."""
        names = {c.feature for c in self.entry} | {c.feature for c in self.exit.conditions}
        return tuple(sorted(names))

    def with_score(self, score: Score) -> Pattern:
        return replace(self, scores=(*self.scores, score))

    def describe(self) -> str:
        """One line a person reads: `long when rsi:14 < 30 and ...; exit tp 5% sl 2% 24 bars`."""
        when = " and ".join(str(c) for c in self.entry)
        parts = [f"{self.side.value} on {self.timeframe} when {when}"]
        if self.exit.take_profit is not None:
            parts.append(f"tp {self.exit.take_profit:.2%}")
        if self.exit.stop_loss is not None:
            parts.append(f"sl {self.exit.stop_loss:.2%}")
        parts.append(f"at most {self.exit.max_bars} bars")
        if self.exit.conditions:
            parts.append("or when " + " and ".join(str(c) for c in self.exit.conditions))
        return "; exit ".join([parts[0], ", ".join(parts[1:])])

    def to_dict(self) -> dict[str, Any]:
        """Return the canonical form: the rule, its provenance and its scores."""
        return {
            **self._rule(),
            "id": self.id,
            "source": self.source.value,
            "parents": list(self.parents),
            "reference": self.reference,
            "scores": [s.to_dict() for s in self.scores],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pattern:
        """Build a pattern from its canonical form; refuse unknown keys and a wrong `id`."""
        if not isinstance(data, Mapping):
            raise InvalidPatternError(f"expected a pattern object, found {type(data).__name__}")
        known = {"entry", "side", "exit", "timeframe", "source", "parents", "reference"}
        unknown = sorted(set(data) - known - {"id", "scores"})
        if unknown:
            raise InvalidPatternError(f"unknown pattern field {unknown[0]!r}")
        missing = sorted({"entry", "side", "exit"} - set(data))
        if missing:
            raise InvalidPatternError(f"pattern is missing {missing[0]!r}")
        try:
            pattern = cls(
                entry=tuple(_condition(c) for c in data["entry"]),
                side=Side(data["side"]),
                exit=_exit(data["exit"]),
                timeframe=str(data.get("timeframe", "1h")),
                source=Source(data.get("source", Source.EVOLVED)),
                parents=tuple(str(p) for p in data.get("parents", ())),
                reference=str(data.get("reference", "")),
                scores=tuple(Score.from_dict(s) for s in data.get("scores", ())),
            )
        except InvalidPatternError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            raise InvalidPatternError(f"malformed pattern: {exc}") from None
        claimed = data.get("id")
        if claimed is not None and claimed != pattern.id:
            msg = f"pattern id {claimed} does not match its rule (which hashes to {pattern.id})"
            raise InvalidPatternError(msg)
        return pattern

    @classmethod
    def from_json(cls, text: str) -> Pattern:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidPatternError(f"not JSON: {exc.msg} at character {exc.pos}") from None
        return cls.from_dict(data)

    def _rule(self) -> dict[str, Any]:
        return {
            "entry": [_condition_dict(c) for c in self.entry],
            "side": self.side.value,
            "exit": {
                "max_bars": self.exit.max_bars,
                "take_profit": self.exit.take_profit,
                "stop_loss": self.exit.stop_loss,
                "conditions": [_condition_dict(c) for c in self.exit.conditions],
            },
            "timeframe": self.timeframe,
        }


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPatternError(f"{name}: expected a number, found {value!r}")
    if not math.isfinite(value):
        raise InvalidPatternError(f"{name}: expected a finite number, found {value}")
    return float(value)


def _plain(value: object) -> object:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _known(cls: type, data: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidPatternError(f"expected a {what} object, found {type(data).__name__}")
    names = {item.name for item in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidPatternError(f"unknown {what} field {unknown[0]!r}")
    return dict(data)


def _condition_dict(condition: Condition) -> dict[str, Any]:
    return {"feature": condition.feature, "op": condition.op, "threshold": condition.threshold}


def _condition(data: Mapping[str, Any]) -> Condition:
    given = _known(Condition, data, "condition")
    threshold = given.get("threshold")
    return Condition(str(given.get("feature", "")), given.get("op"), threshold)  # type: ignore[arg-type]


def _exit(data: Mapping[str, Any]) -> Exit:
    given = _known(Exit, data, "exit")
    conditions = tuple(_condition(c) for c in given.pop("conditions", ()))
    return Exit(conditions=conditions, **given)
