"""Variation: the operators that make new patterns from old ones, and the tournament that picks
which old ones breed.

Every operator is a pure function of its inputs and a passed-in `numpy.random.Generator`, so a
loop that seeds its generator replays exactly. A threshold moves on the scale of its feature's
own distribution (`FeatureQuantiles`): "a few percentiles" means as much for `rsi:14` as for
`ret:24`, on hourly bars as on daily ones. Every pattern produced is valid (`validity_problems`
finds nothing): its features parse, its thresholds are finite, it has an entry condition and no
two conditions on the same feature and op; its conditions are in a canonical order, so the same
rule reached twice has one id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from coinswarm.data.features import DEFAULT_FEATURES, FeatureError, parse_feature
from coinswarm.data.timeframe import timeframe_ns
from coinswarm.domain.pattern import Condition, Exit, Op, Pattern, Source
from coinswarm.evolution.dataset import Dataset
from coinswarm.evolution.windows import Window

__all__ = [
    "PERCENTILES",
    "FeatureQuantiles",
    "crossover",
    "mutate",
    "tournament",
    "validity_problems",
]

FloatArray = npt.NDArray[np.float64]
PERCENTILES = tuple(range(1, 100))
_OPS: tuple[Op, Op] = ("<", ">")
_NUDGE_MAX = 5  # percentiles a nudge moves a threshold, at most
_FRESH = (5, 95)  # the percentiles a new condition's threshold is drawn between
_HOLD_FACTORS = (0.5, 0.75, 1.5, 2.0)
_STOP_FACTORS = (0.5, 0.75, 1.33, 2.0)
_STOP_RANGE = (0.005, 0.2)  # a new take profit or stop loss, drawn log-uniformly


@dataclass(frozen=True, slots=True, eq=False)
class FeatureQuantiles:
    """The 1st..99th percentiles of each feature on each timeframe: the scale a mutation moves
    a threshold on. Each is a value the feature took (the empirical CDF's quantile), so a
    discrete feature's thresholds stay on its values. A feature with no value in the window
    (still warming up) has no scale."""

    levels: Mapping[tuple[str, str], FloatArray]  # (timeframe, feature) -> 99 increasing values
    timeframes: tuple[str, ...]

    @classmethod
    def build(
        cls, dataset: Dataset, window: Window, *, features: Sequence[str] = DEFAULT_FEATURES
    ) -> FeatureQuantiles:
        """Pool every instrument's values inside `window` on each of the run's timeframes."""
        levels: dict[tuple[str, str], FloatArray] = {}
        for timeframe in dataset.timeframes:
            markets = dataset.markets(timeframe)
            spans = [m.bounds(window.start_ns, window.end_ns) for m in markets]
            for feature in features:
                pooled = np.concatenate(
                    [
                        m.features.values(feature)[a:b]
                        for m, (a, b) in zip(markets, spans, strict=True)
                    ]
                )
                known = pooled[~np.isnan(pooled)]
                if len(known):
                    values = np.percentile(known, PERCENTILES, method="inverted_cdf")
                    values.flags.writeable = False
                    levels[timeframe, feature] = values
        return cls(MappingProxyType(levels), dataset.timeframes)

    def has(self, timeframe: str, feature: str) -> bool:
        return (timeframe, feature) in self.levels

    def features(self, timeframe: str) -> tuple[str, ...]:
        """Return the features with a scale on `timeframe`, in order of name."""
        return tuple(sorted(f for t, f in self.levels if t == timeframe))

    def value(self, timeframe: str, feature: str, percentile: int) -> float:
        """Return the feature's `percentile`-th percentile (1..99) on `timeframe`."""
        return float(self.levels[timeframe, feature][percentile - 1])

    def percentile(self, timeframe: str, feature: str, value: float) -> int:
        """Return the percentile (1..99) whose level is nearest at or above `value`."""
        levels = self.levels[timeframe, feature]
        return min(int(np.searchsorted(levels, value)), len(levels) - 1) + 1


def validity_problems(pattern: Pattern) -> tuple[str, ...]:
    """Return what makes `pattern` unfit to evaluate (nothing, for a valid one).

    Finite thresholds and a first entry condition are the pattern model's own rules; this adds
    the catalogue's (every feature parses) and no repeated feature and op in one condition set.
    """
    problems = []
    if not pattern.entry:
        problems.append("no entry condition")
    for label, conditions in (("entry", pattern.entry), ("exit", pattern.exit.conditions)):
        seen: set[tuple[str, str]] = set()
        for condition in conditions:
            try:
                parse_feature(condition.feature)
            except FeatureError as exc:
                problems.append(str(exc))
            if not math.isfinite(condition.threshold):
                problems.append(f"{condition}: threshold is not finite")
            key = (condition.feature, condition.op)
            if key in seen:
                problems.append(f"{label}: two conditions '{condition.feature} {condition.op}'")
            seen.add(key)
    return tuple(problems)


def tournament(fitness: Sequence[float], rng: np.random.Generator, size: int = 3) -> int:
    """Return the index of the fittest of `size` entrants drawn without replacement.

    Ties go to the lower index; a NaN fitness loses to any number.
    """
    if not fitness:
        raise ValueError("expected at least one entrant's fitness")
    if size < 1:
        raise ValueError(f"expected a tournament of at least 1, found {size}")
    entrants = rng.choice(len(fitness), size=min(size, len(fitness)), replace=False)

    def strength(index: int) -> tuple[float, int]:
        value = float(fitness[index])
        return (-math.inf if math.isnan(value) else value), -index

    return max((int(i) for i in entrants), key=strength)


def crossover(
    a: Pattern, b: Pattern, rng: np.random.Generator, *, max_conditions: int = 3
) -> Pattern:
    """Return a child: entry conditions drawn from both parents, the exit of one of them, and
    the side and timeframe of `a`.

    At least one condition comes from each parent (with `max_conditions` of 2 or more) unless
    every one of `b`'s repeats the feature and op of one of `a`'s. Thresholds are copied, so
    parents on different timeframes make a child whose `b` thresholds are on the wrong scale:
    the loop crosses within a timeframe.
    """
    if max_conditions < 1:
        raise ValueError(f"expected max_conditions of at least 1, found {max_conditions}")
    from_a = _some(a.entry, rng)
    taken = {(c.feature, c.op) for c in from_a}
    fresh = tuple(c for c in b.entry if (c.feature, c.op) not in taken)
    from_b = _some(fresh, rng) if fresh else ()
    chosen: dict[tuple[str, str], Condition] = {}
    # Take the parents' conditions in turns, so a cap keeps both represented.
    for pair in zip(from_a, from_b, strict=False):
        for condition in pair:
            chosen.setdefault((condition.feature, condition.op), condition)
    for condition in (*from_a, *from_b):
        chosen.setdefault((condition.feature, condition.op), condition)
    entry = tuple(chosen.values())[:max_conditions]
    exit_ = a.exit if rng.random() < 0.5 else b.exit
    return _child(a, entry=entry, exit_=exit_, parents=(a.id, b.id))


def mutate(
    pattern: Pattern,
    rng: np.random.Generator,
    quantiles: FeatureQuantiles,
    *,
    features: Sequence[str] = DEFAULT_FEATURES,
    max_conditions: int = 3,
) -> Pattern:
    """Return a pattern that differs from `pattern` by one change, drawn from `rng`.

    The change is one of: nudge a threshold a few percentiles, flip an op, swap a condition's
    feature (its threshold drawn afresh), add a condition (up to `max_conditions`), drop one
    (one stays), scale the time limit, set, clear or scale the take profit or stop loss, or,
    rarely, move the rule to another of the run's timeframes. New features come from
    `features`. The child's parent is `pattern`; its source is EVOLVED.
    """
    if max_conditions < 1:
        raise ValueError(f"expected max_conditions of at least 1, found {max_conditions}")
    context = _Context(pattern, rng, quantiles, tuple(features), max_conditions)
    weights = np.array([weight for _, weight in _OPERATORS])
    for _ in range(100):
        operator = _OPERATORS[int(rng.choice(len(_OPERATORS), p=weights / weights.sum()))][0]
        child = operator(context)
        if child is not None:
            return child
    return _scale_hold(context)  # always applies; reached only by a freak run of draws


# --- the mutation operators: each returns the child, or None where it does not apply ----------


@dataclass(frozen=True, slots=True)
class _Context:
    pattern: Pattern
    rng: np.random.Generator
    quantiles: FeatureQuantiles
    features: tuple[str, ...]
    max_conditions: int

    @property
    def timeframe(self) -> str:
        return self.pattern.timeframe

    def child(
        self,
        *,
        entry: tuple[Condition, ...] | None = None,
        exit_: Exit | None = None,
        timeframe: str | None = None,
    ) -> Pattern:
        return _child(
            self.pattern, parents=(self.pattern.id,), entry=entry, exit_=exit_, timeframe=timeframe
        )

    def pick(self, count: int) -> int:
        return int(self.rng.integers(count))

    def fresh(self, feature: str) -> float:
        return self.quantiles.value(self.timeframe, feature, int(self.rng.integers(*_FRESH)))

    def unused(self, keep: Sequence[Condition]) -> list[tuple[str, Op]]:
        """Return the (feature, op) pairs with a scale that no condition in `keep` uses."""
        used = {(c.feature, c.op) for c in keep}
        return [
            (feature, op)
            for feature in self.features
            if self.quantiles.has(self.timeframe, feature)
            for op in _OPS
            if (feature, op) not in used
        ]


def _nudge(context: _Context) -> Pattern | None:
    entry = context.pattern.entry
    scaled = [i for i, c in enumerate(entry) if context.quantiles.has(context.timeframe, c.feature)]
    if not scaled:
        return None
    i = scaled[context.pick(len(scaled))]
    condition = entry[i]
    levels = context.quantiles.levels[context.timeframe, condition.feature]
    step = int(context.rng.integers(1, _NUDGE_MAX + 1))
    direction = 1 if context.rng.random() < 0.5 else -1
    moved = _nudged(levels, condition.threshold, step, direction)
    if moved is None:
        moved = _nudged(levels, condition.threshold, step, -direction)
    if moved is None:
        return None
    return context.child(entry=_replaced(entry, i, replace(condition, threshold=moved)))


def _nudged(levels: FloatArray, threshold: float, step: int, direction: int) -> float | None:
    """Return the level `step` percentiles above (or below) `threshold`, skipping any equal to
    it (a discrete feature repeats levels); None past the last level."""
    distinct = np.unique(levels)
    if direction > 0:
        above = distinct[distinct > threshold]
        return float(above[min(step, len(above)) - 1]) if len(above) else None
    below = distinct[distinct < threshold]
    return float(below[max(len(below) - step, 0)]) if len(below) else None


def _flip(context: _Context) -> Pattern | None:
    entry = context.pattern.entry
    i = context.pick(len(entry))
    condition = entry[i]
    op: Op = ">" if condition.op == "<" else "<"
    if any(c.feature == condition.feature and c.op == op for c in entry):
        return None
    return context.child(entry=_replaced(entry, i, replace(condition, op=op)))


def _swap(context: _Context) -> Pattern | None:
    entry = context.pattern.entry
    i = context.pick(len(entry))
    others = entry[:i] + entry[i + 1 :]
    options = [
        (feature, op) for feature, op in context.unused(others) if feature != entry[i].feature
    ]
    if not options:
        return None
    feature, op = options[context.pick(len(options))]
    return context.child(entry=_replaced(entry, i, Condition(feature, op, context.fresh(feature))))


def _add(context: _Context) -> Pattern | None:
    entry = context.pattern.entry
    options = context.unused(entry)
    if len(entry) >= context.max_conditions or not options:
        return None
    feature, op = options[context.pick(len(options))]
    return context.child(entry=(*entry, Condition(feature, op, context.fresh(feature))))


def _drop(context: _Context) -> Pattern | None:
    entry = context.pattern.entry
    if len(entry) < 2:
        return None
    i = context.pick(len(entry))
    return context.child(entry=entry[:i] + entry[i + 1 :])


def _scale_hold(context: _Context) -> Pattern:
    exit_ = context.pattern.exit
    factor = _HOLD_FACTORS[context.pick(len(_HOLD_FACTORS))]
    bars = max(1, round(exit_.max_bars * factor))
    if bars == exit_.max_bars:
        bars += 1  # a one-bar hold halved is still one bar: lengthen it instead
    return context.child(exit_=replace(exit_, max_bars=bars))


def _stops(context: _Context) -> Pattern:
    exit_ = context.pattern.exit
    name = "take_profit" if context.rng.random() < 0.5 else "stop_loss"
    current: float | None = getattr(exit_, name)
    value: float | None
    if current is None:
        low, high = (math.log(bound) for bound in _STOP_RANGE)
        value = math.exp(context.rng.uniform(low, high))
    elif context.rng.random() < 1 / 3:
        value = None
    else:
        value = current * _STOP_FACTORS[context.pick(len(_STOP_FACTORS))]
    if name == "take_profit":
        return context.child(exit_=replace(exit_, take_profit=value))
    return context.child(exit_=replace(exit_, stop_loss=value))


def _retime(context: _Context) -> Pattern | None:
    """Move the rule to another timeframe, each threshold to the same percentile there and the
    time limit to the same span of time."""
    pattern, quantiles = context.pattern, context.quantiles
    every = (*pattern.entry, *pattern.exit.conditions)
    options = [
        timeframe
        for timeframe in quantiles.timeframes
        if timeframe != pattern.timeframe
        and all(
            quantiles.has(pattern.timeframe, c.feature) and quantiles.has(timeframe, c.feature)
            for c in every
        )
    ]
    if not options:
        return None
    target = options[context.pick(len(options))]

    def moved(condition: Condition) -> Condition:
        rank = quantiles.percentile(pattern.timeframe, condition.feature, condition.threshold)
        return replace(condition, threshold=quantiles.value(target, condition.feature, rank))

    ratio = timeframe_ns(pattern.timeframe) / timeframe_ns(target)
    exit_ = replace(
        pattern.exit,
        max_bars=max(1, round(pattern.exit.max_bars * ratio)),
        conditions=tuple(moved(c) for c in pattern.exit.conditions),
    )
    return context.child(
        entry=tuple(moved(c) for c in pattern.entry), exit_=exit_, timeframe=target
    )


_OPERATORS: tuple[tuple[Callable[[_Context], Pattern | None], float], ...] = (
    (_nudge, 3.0),
    (_flip, 1.0),
    (_swap, 1.0),
    (_add, 1.0),
    (_drop, 1.0),
    (_scale_hold, 1.0),
    (_stops, 1.0),
    (_retime, 0.25),
)


# --- helpers ----------------------------------------------------------------------------------


def _replaced(
    conditions: tuple[Condition, ...], index: int, condition: Condition
) -> tuple[Condition, ...]:
    return (*conditions[:index], condition, *conditions[index + 1 :])


def _some(conditions: tuple[Condition, ...], rng: np.random.Generator) -> tuple[Condition, ...]:
    """Return a random non-empty subset of `conditions`, in random order."""
    count = int(rng.integers(1, len(conditions) + 1))
    return tuple(conditions[int(i)] for i in rng.permutation(len(conditions))[:count])


def _canonical(conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    return tuple(sorted(conditions, key=lambda c: (c.feature, c.op, c.threshold)))


def _child(
    parent: Pattern,
    *,
    parents: tuple[str, ...],
    entry: tuple[Condition, ...] | None = None,
    exit_: Exit | None = None,
    timeframe: str | None = None,
) -> Pattern:
    exit_ = parent.exit if exit_ is None else exit_
    return Pattern(
        entry=_canonical(parent.entry if entry is None else entry),
        side=parent.side,
        exit=replace(exit_, conditions=_canonical(exit_.conditions)),
        timeframe=parent.timeframe if timeframe is None else timeframe,
        source=Source.EVOLVED,
        parents=parents,
    )
