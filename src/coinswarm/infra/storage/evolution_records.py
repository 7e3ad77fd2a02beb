"""Records of the discovery loop's store: runs, trials, patterns with their standing, lineage.

They go in and out of `Store.commit_cycle` and its readers; the rows behind them never leave
the storage package. Values are research floats (no Decimal): Sharpe ratios, not money. A
record checks what the database would otherwise turn into something else (SQLite keeps NaN
as NULL) or accept silently (a negative trade count), so that a bad value is refused where it
was made, with its name.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from numbers import Real
from typing import Any

from coinswarm.domain.pattern import Pattern
from coinswarm.infra.storage.errors import StorageError

__all__ = [
    "IMPORTED",
    "IMPORT_PREFIX",
    "MAX_LABEL",
    "EvolutionRun",
    "EvolutionStatus",
    "LineageLink",
    "PatternUpdate",
    "StoredPattern",
    "StoredTrial",
    "Trial",
]

IMPORT_PREFIX = "import:"
"""Run ids of this form hold imported patterns (`Store.import_patterns`), not a loop's run."""
IMPORTED = "imported"
"""The status of an imported pattern."""
MAX_LABEL = 32
"""The longest trial kind or pattern status the columns take."""


class EvolutionStatus(StrEnum):
    """Where a discovery run stands. A killed run still says RUNNING: nothing could change it."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class EvolutionRun:
    """A discovery run: its configuration and, after each committed cycle, its state.

    `config_json` and `state_json` are the loop's own JSON text, kept byte for byte. A run
    resumes at `next_cycle` from `state_json`, the state the last committed cycle left.
    """

    run_id: str
    created_ns: int
    config_json: str
    status: EvolutionStatus
    last_cycle: int | None = None
    state_json: str | None = None
    finished_ns: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", EvolutionStatus(self.status))

    @property
    def next_cycle(self) -> int:
        """Return the cycle `commit_cycle` accepts next: 0 first, then one after the last."""
        return 0 if self.last_cycle is None else self.last_cycle + 1

    @property
    def imported(self) -> bool:
        """Tell whether this run only holds imported patterns."""
        return self.run_id.startswith(IMPORT_PREFIX)


@dataclass(frozen=True, slots=True, kw_only=True)
class Trial:
    """One entry of the trial ledger: a candidate the loop evaluated, kept or not.

    Every trial counts towards the multiple-testing corrections (the deflated Sharpe ratio
    needs how many were tried and how their Sharpe ratios spread), so the ledger keeps the
    rejected ones too. `kind` says what made it (chaos, candidate, child, academic, technical,
    optimize, ...); `extras` is a small JSON object of anything else worth keeping.
    """

    kind: str
    in_sample_sharpe: float
    out_of_sample_sharpe: float | None = None
    trades: int = 0
    pattern_id: str | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _label("trial kind", self.kind))
        object.__setattr__(
            self, "in_sample_sharpe", _finite("in_sample_sharpe", self.in_sample_sharpe)
        )
        if self.out_of_sample_sharpe is not None:
            oos = _finite("out_of_sample_sharpe", self.out_of_sample_sharpe)
            object.__setattr__(self, "out_of_sample_sharpe", oos)
        object.__setattr__(self, "trades", _count("trades", self.trades))
        if not isinstance(self.extras, Mapping):
            msg = f"trial extras: expected a mapping, found {type(self.extras).__name__}"
            raise StorageError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTrial:
    """A trial as the ledger holds it: numbered densely from 0 in its run, with its cycle."""

    run_id: str
    seq: int
    cycle: int
    trial: Trial


@dataclass(frozen=True, slots=True, kw_only=True)
class PatternUpdate:
    """A pattern a cycle found, or whose standing it changed, for `Store.commit_cycle`.

    `status` is the loop's word for it (candidate, proven, rejected, demoted, retired, ...)
    and `reason` why. The first write of a pattern in a run fixes its rule, provenance and
    `born_cycle`; later ones change its status, reason and `retired_cycle` only. Its scores
    are not taken from `pattern.scores` but from `commit_cycle`'s `scores`, each once.
    """

    pattern: Pattern
    status: str
    born_cycle: int
    reason: str = ""
    retired_cycle: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", _label("pattern status", self.status))
        object.__setattr__(self, "born_cycle", _count("born_cycle", self.born_cycle))
        if self.retired_cycle is not None:
            retired = _count("retired_cycle", self.retired_cycle)
            if retired < self.born_cycle:
                msg = (
                    f"pattern {self.pattern.id}: expected retired_cycle at or after born_cycle "
                    f"{self.born_cycle}, found {retired}"
                )
                raise StorageError(msg)
            object.__setattr__(self, "retired_cycle", retired)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredPattern:
    """A stored pattern with every score it received in its run, in the order received."""

    run_id: str
    pattern: Pattern
    status: str
    reason: str
    born_cycle: int
    retired_cycle: int | None = None


@dataclass(frozen=True, slots=True)
class LineageLink:
    """In run `run_id`, pattern `child_id` was bred from `parent_id`."""

    run_id: str
    child_id: str
    parent_id: str


def _label(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_LABEL:
        msg = f"{name}: expected text of 1 to {MAX_LABEL} characters, found {value!r}"
        raise StorageError(msg)
    return value


def _finite(name: str, value: object) -> float:
    # A plain float first: the ABC check below costs more than the rest of a trial's checks.
    if type(value) is float:
        number = value
    # numpy's float32 and float64 are Reals; a bool is one too, but never a Sharpe ratio.
    elif isinstance(value, bool) or not isinstance(value, Real):
        msg = f"{name}: expected a number, found {value!r}"
        raise StorageError(msg)
    else:
        number = float(value)
    if not math.isfinite(number):
        msg = f"{name}: expected a finite number, found {number}"
        raise StorageError(msg)
    return number


def _count(name: str, value: object) -> int:
    # operator.index takes numpy's integers as well as int, and refuses floats.
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = -1
    if isinstance(value, bool) or number < 0:
        msg = f"{name}: expected a whole number of at least 0, found {value!r}"
        raise StorageError(msg)
    return int(number)
