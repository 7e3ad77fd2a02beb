"""Where a discovery run's cycles go: the project's store, or memory for a quick look.

Each cycle is committed whole (trials, patterns born or retired, out-of-sample scores and the
loop's state) in one transaction, so a run killed at any moment loses at most the cycle it was
in, and its trial ledger never counts a trial twice.
"""

from __future__ import annotations

from dataclasses import replace

from coinswarm.domain.pattern import Pattern
from coinswarm.evolution.loop import CycleReport, LoopState
from coinswarm.infra.storage import PatternUpdate, Store

__all__ = ["CANDIDATE", "RETIRED", "MemoryLedger", "StoreLedger"]

CANDIDATE = "candidate"
RETIRED = "retired"


class StoreLedger:
    """Commit a run's cycles to the store under `run_id` (created by the caller)."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def commit(self, report: CycleReport, state: LoopState) -> None:
        retired = set(report.retired)
        updates = [
            PatternUpdate(
                pattern=p,
                status=RETIRED if p.id in retired else CANDIDATE,
                born_cycle=report.cycle,
                retired_cycle=report.cycle if p.id in retired else None,
            )
            for p in report.born
        ]
        born = {p.id for p in report.born}
        updates += [
            PatternUpdate(
                pattern=state.candidates[i],
                status=RETIRED,
                born_cycle=report.cycle,
                retired_cycle=report.cycle,
            )
            for i in sorted(retired - born)
        ]
        self.store.commit_cycle(
            self.run_id,
            report.cycle,
            trials=report.trials,
            patterns=updates,
            scores=report.scores,
            state_json=state.to_json(),
        )

    def last_state(self) -> LoopState | None:
        run = self.store.evolution_run(self.run_id)
        if run is None or run.state_json is None:
            return None
        stored = self.store.patterns(self.run_id)
        # The loop's patterns carry no scores: those are the store's record of them.
        patterns = {p.pattern.id: replace(p.pattern, scores=()) for p in stored}
        return LoopState.from_json(run.state_json, patterns)


class MemoryLedger:
    """Keep every cycle in memory (tests, `evolve --demo` without a database)."""

    def __init__(self) -> None:
        self.reports: list[CycleReport] = []
        self._patterns: dict[str, Pattern] = {}
        self._state: str | None = None

    def commit(self, report: CycleReport, state: LoopState) -> None:
        self.reports.append(report)
        self._patterns.update((p.id, p) for p in report.born)
        self._state = state.to_json()

    def last_state(self) -> LoopState | None:
        return None if self._state is None else LoopState.from_json(self._state, self._patterns)
