"""Field-by-field mapping between the discovery loop's records and their rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import Row

from coinswarm.domain.pattern import Pattern, Score
from coinswarm.infra.storage.evolution_records import (
    EvolutionRun,
    EvolutionStatus,
    PatternUpdate,
    StoredPattern,
    StoredTrial,
    Trial,
)
from coinswarm.infra.storage.models import EvolutionRunRow, PatternRow, PatternScoreRow, TrialRow
from coinswarm.infra.storage.types import canonical_json, from_json

__all__ = [
    "TRIAL_COLUMNS",
    "definition_json",
    "pattern_values",
    "run_from_row",
    "score_from_row",
    "score_values",
    "stored_pattern",
    "trial_from_row",
    "trial_values",
]

# The score's fields kept as columns; the rest travel in its `metrics` JSON.
_SCORE_COLUMNS = (
    "sample",
    "start_ns",
    "end_ns",
    "instruments",
    "timeframe",
    "cycle",
    "trades",
    "net_return",
    "sharpe",
)


def run_from_row(row: EvolutionRunRow) -> EvolutionRun:
    return EvolutionRun(
        run_id=row.run_id,
        created_ns=row.created_ns,
        config_json=row.config_json,
        status=EvolutionStatus(row.status),
        last_cycle=row.last_cycle,
        state_json=row.state_json,
        finished_ns=row.finished_ns,
    )


def definition_json(pattern: Pattern) -> str:
    """Return the pattern's canonical form without its scores (they have rows of their own)."""
    definition = pattern.to_dict()
    del definition["scores"]
    return canonical_json(definition)


def pattern_values(run_id: str, update: PatternUpdate) -> dict[str, Any]:
    pattern = update.pattern
    return {
        "run_id": run_id,
        "pattern_id": pattern.id,
        "definition": definition_json(pattern),
        "source": pattern.source.value,
        "status": update.status,
        "reason": update.reason,
        "born_cycle": update.born_cycle,
        "retired_cycle": update.retired_cycle,
    }


def stored_pattern(row: PatternRow, scores: Iterable[Score]) -> StoredPattern:
    """Return the pattern a row holds, with `scores` (in the order received) attached."""
    pattern = Pattern.from_json(row.definition)
    return StoredPattern(
        run_id=row.run_id,
        pattern=replace(pattern, scores=tuple(scores)),
        status=row.status,
        reason=row.reason,
        born_cycle=row.born_cycle,
        retired_cycle=row.retired_cycle,
    )


def score_values(run_id: str, pattern_id: str, seq: int, score: Score) -> dict[str, Any]:
    fields = score.to_dict()
    values = {name: fields.pop(name) for name in _SCORE_COLUMNS}
    values["instruments"] = canonical_json(values["instruments"])
    return {
        "run_id": run_id,
        "pattern_id": pattern_id,
        "seq": seq,
        **values,
        "metrics": canonical_json(fields),
    }


def score_from_row(row: PatternScoreRow) -> Score:
    fields = {name: getattr(row, name) for name in _SCORE_COLUMNS}
    fields["instruments"] = from_json(row.instruments)
    return Score.from_dict({**fields, **from_json(row.metrics)})


def trial_values(run_id: str, seq: int, cycle: int, trial: Trial) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": seq,
        "cycle": cycle,
        "kind": trial.kind,
        "pattern_id": trial.pattern_id,
        "in_sample_sharpe": trial.in_sample_sharpe,
        "out_of_sample_sharpe": trial.out_of_sample_sharpe,
        "trades": trial.trades,
        "extras": canonical_json(dict(trial.extras)),
    }


TRIAL_COLUMNS = tuple(TrialRow.__table__.c)
"""The ledger's columns, read as plain rows: a ledger of millions is too many ORM objects."""
_NO_EXTRAS = canonical_json({})


def trial_from_row(row: Row[Any]) -> StoredTrial:
    """Return the trial a row of TRIAL_COLUMNS holds."""
    trial = Trial(
        kind=row.kind,
        in_sample_sharpe=row.in_sample_sharpe,
        out_of_sample_sharpe=row.out_of_sample_sharpe,
        trades=row.trades,
        pattern_id=row.pattern_id,
        extras={} if row.extras == _NO_EXTRAS else from_json(row.extras),
    )
    return StoredTrial(run_id=row.run_id, seq=row.seq, cycle=row.cycle, trial=trial)
