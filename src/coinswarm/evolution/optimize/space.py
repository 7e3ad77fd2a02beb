"""A strategy's parameter space for a search: `--space KEY=LOW..HIGH[:STEP]`, checked, proposed.

`fast=5..50:5` is a grid of whole numbers (LOW, HIGH and STEP all whole; STEP 1 when left
out); `threshold=0.1..0.9:0.1` a grid of decimals; `threshold=0.1..0.9` a continuous range.
A grid is counted in exact decimals from LOW, so `0.1..0.9:0.1` proposes `0.4`, never
`0.30000000000000004`, and its HIGH must be LOW plus a whole number of STEPs.

Every KEY is checked against the strategy's own parameter model before any backtest runs:
an unknown name, or a range whose ends (or a value inside) the model refuses, is one clear
error. Combinations the model refuses as a whole (`fast >= slow`) are not errors here: the
search records them as refused trials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from coinswarm.domain.errors import CoinswarmError
from coinswarm.strategies import InvalidStrategyError, build_strategy, parameter_model

if TYPE_CHECKING:
    import optuna

__all__ = ["Dimension", "SpaceError", "check_space", "describe", "parse_space", "propose"]

_WHOLE = re.compile(r"[+-]?\d+")


class SpaceError(CoinswarmError, ValueError):
    """A `--space` that cannot be searched: malformed, empty, or not the strategy's."""


@dataclass(frozen=True, slots=True)
class Dimension:
    """One parameter's range. `step` None: continuous (decimals only)."""

    key: str
    low: Decimal
    high: Decimal
    step: Decimal | None
    whole: bool  # whole numbers: LOW, HIGH and STEP are all whole

    @property
    def size(self) -> int | None:
        """How many values the grid holds (None: continuous)."""
        if self.step is None:
            return None
        return int((self.high - self.low) / self.step) + 1

    def at(self, index: int) -> str:
        """Return the grid's `index`-th value as the strategy's text parameter."""
        if self.step is None:
            raise ValueError(f"{self.key}: a continuous range has no grid")
        value = self.low + index * self.step
        return str(int(value)) if self.whole else str(value)

    def to_json(self) -> dict[str, Any]:
        def number(value: Decimal) -> int | float:
            return int(value) if self.whole else float(value)

        return {
            "key": self.key,
            "low": number(self.low),
            "high": number(self.high),
            "step": None if self.step is None else number(self.step),
            "kind": "int" if self.whole else "float",
        }


def parse_space(text: str) -> Dimension:
    """Parse `KEY=LOW..HIGH[:STEP]`; raise SpaceError saying what is wrong and what was found."""
    key, equals, bounds = text.partition("=")
    key = key.strip()
    if not equals or not key or any(c.isspace() for c in key):
        raise SpaceError(f"--space: expected KEY=LOW..HIGH[:STEP], found {text!r}")
    span, colon, step_text = bounds.partition(":")
    low_text, dots, high_text = span.partition("..")
    if not dots:
        raise SpaceError(f"--space {key}: expected LOW..HIGH[:STEP], found {bounds!r}")
    low, high = _number(key, "LOW", low_text), _number(key, "HIGH", high_text)
    step = _number(key, "STEP", step_text) if colon else None
    whole = all(_WHOLE.fullmatch(t.strip()) for t in (low_text, high_text, step_text) if t)
    if not low < high:
        msg = f"--space {key}: expected LOW below HIGH, found {low_text.strip()}..{high_text}"
        raise SpaceError(msg)
    if step is not None and step <= 0:
        raise SpaceError(f"--space {key}: expected a STEP above 0, found {step_text.strip()}")
    if step is None and whole:
        step = Decimal(1)
    if step is not None:
        _check_grid(key, low, high, step)
    return Dimension(key, low, high, step, whole)


def _number(key: str, name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise SpaceError(f"--space {key}: expected {name} to be a number, found {text.strip()!r}")
    return value


def _check_grid(key: str, low: Decimal, high: Decimal, step: Decimal) -> None:
    steps = (high - low) / step
    if steps != steps.to_integral_value():
        below = low + int(steps) * step
        msg = (
            f"--space {key}: HIGH {high} is not LOW {low} plus a whole number of steps of "
            f"{step}; expected {below} or {below + step}"
        )
        raise SpaceError(msg)


def check_space(strategy: str, space: Sequence[Dimension]) -> None:
    """Check each dimension names a parameter of `strategy` whose model takes its values.

    Raise SpaceError (or InvalidStrategyError for an unknown strategy) before any work.
    """
    if not space:
        raise SpaceError("--space: expected at least one KEY=LOW..HIGH[:STEP] to search")
    keys = [d.key for d in space]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise SpaceError(f"--space: {', '.join(twice)} is given twice (each key may appear once)")
    model = parameter_model(strategy)
    if model is None:
        raise SpaceError(f"--space: strategy {strategy} takes no parameters to search")
    for dimension in space:
        if dimension.key in model.model_fields:
            _check_field(model, dimension)
        else:
            _check_routed(strategy, model, dimension)


def _probes(dimension: Dimension) -> list[str]:
    """Both ends, and a value inside: a whole-number field refuses a decimal range there."""
    if dimension.step is None:
        inside = str((dimension.low + dimension.high) / 2)
        return [str(dimension.low), inside, str(dimension.high)]
    size = dimension.size or 1
    return [dimension.at(0), dimension.at(min(1, size - 1)), dimension.at(size - 1)]


def _check_field(model: type[BaseModel], dimension: Dimension) -> None:
    field = model.model_fields[dimension.key]
    # The field's type with its constraints (ge=1, ...), built at run time from the model.
    annotated: Any = Annotated[field.annotation, field]
    adapter: TypeAdapter[Any] = TypeAdapter(annotated)
    for value in _probes(dimension):
        try:
            adapter.validate_python(value)
        except ValidationError as refused:
            reason = refused.errors()[0]["msg"]
            msg = f"--space {dimension.key}: the strategy refuses {value}: {reason}"
            raise SpaceError(msg) from None


def _check_routed(strategy: str, model: type[BaseModel], dimension: Dimension) -> None:
    """A key the model does not declare: only a model that routes keys itself (the
    committee's AGENT.KEY) may take it; it must build at one end of the range at least."""
    accepted = getattr(model, "accepted", None)
    named = accepted() if callable(accepted) else ", ".join(model.model_fields)
    if not hasattr(model, "from_parameters"):
        msg = f"--space {dimension.key}: not a parameter of {strategy} (its parameters: {named})"
        raise SpaceError(msg)
    errors = []
    for value in (_probes(dimension)[0], _probes(dimension)[-1]):
        try:
            build_strategy(strategy, {dimension.key: value})
        except InvalidStrategyError as refused:
            errors.append(str(refused))
    if len(errors) == 2:
        raise SpaceError(f"--space {dimension.key}: {errors[0]}")


def propose(trial: optuna.Trial, space: Sequence[Dimension]) -> dict[str, str]:
    """Return the strategy's text parameters the sampler proposes for `trial`."""
    chosen: dict[str, str] = {}
    for dimension in space:
        if dimension.size is None:
            value = trial.suggest_float(dimension.key, float(dimension.low), float(dimension.high))
            chosen[dimension.key] = repr(value)
        else:
            index = trial.suggest_int(dimension.key, 0, dimension.size - 1)
            chosen[dimension.key] = dimension.at(index)
    return chosen


def describe(parameters: Mapping[str, str]) -> str:
    """Return `fast=10 slow=120`: parameters as a person reads them."""
    return " ".join(f"{k}={v}" for k, v in parameters.items())
