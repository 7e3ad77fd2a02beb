"""A discovery run from data to verdicts: started, resumed after a kill, closed, stored.

A run's identity is its inputs (the data files and their fingerprint, and every setting): they
are stored with it, so `evolve --resume RUN` rebuilds the same dataset and refuses data that
changed under it. Cycles are committed one at a time (`evolution.loop`); the closing verdicts
are committed as one more step, and only then is the run marked finished.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coinswarm.data.loader import load_bars
from coinswarm.data.synthetic import synthetic_market
from coinswarm.domain.errors import CoinswarmError, DataError
from coinswarm.domain.pattern import Pattern
from coinswarm.evolution.closing import Closing, close_run
from coinswarm.evolution.config import EvolutionConfig
from coinswarm.evolution.dataset import Dataset
from coinswarm.evolution.ledger import StoreLedger
from coinswarm.evolution.loop import CycleReport, Discovery, LoopState
from coinswarm.evolution.scoring import WindowResult, score_item
from coinswarm.evolution.windows import Window, WindowPlan, plan_windows
from coinswarm.evolution.workers import Executor, Workload
from coinswarm.infra.storage import EvolutionStatus, PatternUpdate, Store

__all__ = [
    "DEMO_DATA",
    "DiscoveryRun",
    "RunInputs",
    "RunStateError",
    "bars_needed",
    "load_dataset",
    "plan_for",
]

DEMO_DATA = "synthetic:demo"
"""The `--demo` market: two synthetic instruments, a year of hourly bars each."""
_DEMO_BARS = 8_760


class RunStateError(CoinswarmError, ValueError):
    """A run asked for that cannot be started or resumed as asked."""


@dataclass(frozen=True, slots=True)
class RunInputs:
    """What decides a run: its data (files, and a digest of every bar) and its settings."""

    files: tuple[str, ...]
    fingerprint: str
    config: EvolutionConfig

    def to_json(self) -> str:
        return json.dumps(
            {
                "files": list(self.files),
                "fingerprint": self.fingerprint,
                "config": json.loads(self.config.model_dump_json()),
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> RunInputs:
        data = json.loads(text)
        config = EvolutionConfig.model_validate(data["config"])
        return cls(tuple(data["files"]), data["fingerprint"], config)

    @property
    def run_id(self) -> str:
        """`evo-` and 12 hex digits of the inputs: the same inputs name the same run."""
        return "evo-" + hashlib.sha256(self.to_json().encode()).hexdigest()[:12]


def load_dataset(files: Sequence[str], timeframes: Sequence[str]) -> Dataset:
    """Load the run's bars (or the demo market) on every timeframe its candidates may trade."""
    if tuple(files) == (DEMO_DATA,):
        series = [
            synthetic_market(instrument="BTC-USD", bars=_DEMO_BARS, seed=1),
            synthetic_market(instrument="ETH-USD", bars=_DEMO_BARS, seed=2, start_price=1_500.0),
        ]
    else:
        series = [load_bars(Path(path)) for path in files]
    return Dataset(series, timeframes)


def plan_for(dataset: Dataset, config: EvolutionConfig) -> WindowPlan:
    """Cut the dataset's span into the run's walk-forward folds and holdout."""
    return plan_windows(
        dataset.start_ns,
        dataset.end_ns,
        bar_ns=dataset.bar_ns,
        folds=config.folds,
        holdout_share=config.holdout_share,
        purge_bars=config.purge_bars,
        embargo_bars=config.embargo_bars,
    )


def bars_needed(config: EvolutionConfig, bar_ns: int) -> int:
    """Return the fewest bars (a span of that many intervals) `plan_for` can cut into the
    run's folds and holdout: what discovery beside a session waits for before a run starts."""

    def fits(bars: int) -> bool:
        try:
            plan_windows(
                0,
                bars * bar_ns,
                bar_ns=bar_ns,
                folds=config.folds,
                holdout_share=config.holdout_share,
                purge_bars=config.purge_bars,
                embargo_bars=config.embargo_bars,
            )
        except DataError:
            return False
        return True

    low, high = 0, 1  # low never fits; high, once doubled far enough, does
    while not fits(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if fits(middle) else (middle, high)
    return high


class DiscoveryRun:
    """One stored run: its inputs, its data, and the executor its evaluations run on."""

    def __init__(
        self,
        store: Store,
        inputs: RunInputs,
        dataset: Dataset,
        executor: Executor,
        run_id: str,
    ) -> None:
        if dataset.fingerprint != inputs.fingerprint:
            msg = (
                f"run {run_id}: its data changed since it started (bars digest "
                f"{inputs.fingerprint}, now {dataset.fingerprint}); start a new run"
            )
            raise RunStateError(msg)
        self.store = store
        self.inputs = inputs
        self.dataset = dataset
        self.run_id = run_id
        self.plan = plan_for(dataset, inputs.config)
        workload = Workload((dataset, inputs.config.fee_rate), score_item)
        self.evaluations = 0  # patterns scored over a window, for the progress line

        def score(items: Sequence[tuple[Pattern, Window]]) -> list[WindowResult]:
            self.evaluations += len(items)
            return executor.run(workload, [(p.to_json(), w.start_ns, w.end_ns) for p, w in items])

        self.score = score

    @classmethod
    def start(
        cls, store: Store, inputs: RunInputs, dataset: Dataset, executor: Executor, *, now_ns: int
    ) -> DiscoveryRun:
        """Create the run; refuse one whose inputs already ran (resume it, or list it)."""
        run_id = inputs.run_id
        existing = store.evolution_run(run_id)
        if existing is not None:
            if existing.status is EvolutionStatus.FINISHED:
                hint = f"already ran on these inputs: coinswarm patterns list --run {run_id}"
            else:
                hint = f"is {existing.status.value}: coinswarm evolve --resume {run_id}"
            raise RunStateError(f"run {run_id} {hint}")
        run = cls(store, inputs, dataset, executor, run_id)  # refuses bad windows first
        store.create_evolution_run(run_id, inputs.to_json(), now_ns)
        return run

    @classmethod
    def resume(
        cls,
        store: Store,
        run_id: str,
        executor: Executor,
        load: Callable[[Sequence[str], Sequence[str]], Dataset] = load_dataset,
    ) -> DiscoveryRun:
        """Reopen a run that stopped before it finished, on the data it started with."""
        stored = store.evolution_run(run_id)
        if stored is None:
            raise RunStateError(f"no discovery run {run_id!r} in this database")
        if stored.status is EvolutionStatus.FINISHED:
            raise RunStateError(
                f"run {run_id} has finished: coinswarm patterns list --run {run_id}"
            )
        inputs = RunInputs.from_json(stored.config_json)
        try:
            dataset = load(inputs.files, inputs.config.timeframes)
        except (OSError, DataError) as error:
            raise RunStateError(f"run {run_id}: cannot load its data again: {error}") from None
        run = cls(store, inputs, dataset, executor, run_id)
        if stored.status is not EvolutionStatus.RUNNING:
            store.resume_evolution_run(run_id)
        return run

    def run(
        self,
        *,
        now_ns: Callable[[], int],
        on_cycle: Callable[[CycleReport], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> Closing | None:
        """Run the cycles not yet committed, close the run, mark it finished.

        When `stop()` turns true the run ends after the cycle in hand, is stored
        `interrupted`, and None is returned: `resume` carries on from there.
        """
        state = self.discovery().run(on_cycle, stop=stop)
        if state.next_cycle < self.inputs.config.cycles:
            self.store.finish_evolution_run(self.run_id, EvolutionStatus.INTERRUPTED, now_ns())
            return None
        return self.close(state, now_ns=now_ns)

    def discovery(self) -> Discovery:
        """Return the run's loop, at the cycle after the last one committed to the store."""
        ledger = StoreLedger(self.store, self.run_id)
        return Discovery(self.dataset, self.inputs.config, self.plan, self.score, ledger)

    def close(self, state: LoopState, *, now_ns: Callable[[], int]) -> Closing:
        """Judge the run whose cycles are all committed (`state`), store the verdicts (once),
        and mark it finished."""
        config = self.inputs.config
        if state.next_cycle < config.cycles:
            msg = f"run {self.run_id}: {config.cycles - state.next_cycle} cycles still to run"
            raise RunStateError(msg)
        closing = close_run(self.dataset, config, self.plan, state, self.score)
        if state.next_cycle == config.cycles:  # the verdicts are not stored yet
            self._commit_closing(closing, state)
        self.store.finish_evolution_run(self.run_id, EvolutionStatus.FINISHED, now_ns())
        return closing

    def _commit_closing(self, closing: Closing, state: LoopState) -> None:
        config = self.inputs.config
        updates = [
            PatternUpdate(pattern=state.candidates[i], status=status, born_cycle=0, reason=reason)
            for i, status, reason in closing.statuses
        ]
        state.next_cycle = config.cycles + 1
        self.store.commit_cycle(
            self.run_id,
            config.cycles,
            patterns=updates,
            scores=closing.scores,
            state_json=state.to_json(),
        )
