"""How the discovery loop is doing: its runs, cycles, trials, candidates and proven patterns.

Every database is read (the loop runs in the backtest's, or beside a paper session in that
mode's). A run's planned cycles come from the configuration it stored; its trials are its
ledger's length (every candidate evaluated, kept or not: what the deflated Sharpe counts).
A run killed mid-cycle still says running: nothing was left alive to change it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from coinswarm.api.reads.models import EvolutionProgress, EvolutionRunProgress
from coinswarm.api.reads.stores import Databases
from coinswarm.infra.storage import EvolutionRun, Store
from coinswarm.infra.storage.models import PatternRow

__all__ = ["evolution_progress"]

CANDIDATE, PROVEN, RUNNING = "candidate", "proven", "running"


def _planned(run: EvolutionRun) -> int | None:
    try:
        stored: Any = json.loads(run.config_json)
    except ValueError:
        return None
    config = stored.get("config") if isinstance(stored, dict) else None
    cycles = config.get("cycles") if isinstance(config, dict) else None
    return cycles if isinstance(cycles, int) and cycles > 0 else None


def _statuses(store: Store) -> dict[str, dict[str, int]]:
    query = select(PatternRow.run_id, PatternRow.status, func.count()).group_by(
        PatternRow.run_id, PatternRow.status
    )
    found: dict[str, dict[str, int]] = {}
    with store.transaction() as session:
        for run_id, status, count in session.execute(query):
            found.setdefault(run_id, {})[status] = int(count)
    return found


def _progress(run: EvolutionRun, trials: int, patterns: dict[str, int]) -> EvolutionRunProgress:
    planned = None if run.imported else _planned(run)
    # The closing step (the holdout, the verdicts) is committed as one more cycle, numbered
    # `planned`: it is counted as closing the run, not as a cycle of the loop.
    closed = planned is not None and run.next_cycle > planned
    done = run.next_cycle if planned is None else min(run.next_cycle, planned)
    return EvolutionRunProgress(
        run_id=run.run_id,
        status=str(run.status),
        imported=run.imported,
        created_ns=run.created_ns,
        finished_ns=run.finished_ns,
        cycles_done=done,
        cycles_planned=planned,
        closed=closed,
        progress=None if not planned else min(done / planned, 1.0),
        trials=trials,
        patterns=dict(sorted(patterns.items())),
        candidates=patterns.get(CANDIDATE, 0),
        proven=patterns.get(PROVEN, 0),
    )


def evolution_progress(databases: Databases) -> EvolutionProgress:
    """Return every discovery run, newest first, and the totals over them."""
    runs: list[EvolutionRunProgress] = []
    for _place, store in databases.stores():
        statuses = _statuses(store)
        runs += [
            _progress(run, store.trial_count(run.run_id), statuses.get(run.run_id, {}))
            for run in store.evolution_runs()
        ]
    runs.sort(key=lambda r: (r.created_ns, r.run_id), reverse=True)
    looping = [r for r in runs if not r.imported]
    if any(r.status == RUNNING for r in looping):
        status = RUNNING
    else:
        status = looping[0].status if looping else "idle"
    return EvolutionProgress(
        status=status,
        runs=runs,
        cycles=sum(r.cycles_done for r in runs),
        trials=sum(r.trials for r in runs),
        candidates=sum(r.candidates for r in runs),
        proven=sum(r.proven for r in runs),
    )
