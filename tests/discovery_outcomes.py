"""One whole discovery run per seed, as the discovery checks run them in worker processes.

Each function here is module-level so that a `ProcessPoolExecutor` worker can import it, runs
a stored run (`DiscoveryRun.start` then `run`, inline executor, its own SQLite file) to the
end, and returns a small picklable outcome: what was proven, and for the planted market how
much of each proven pattern's time in the market sits on the bars that carry the edge.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coinswarm.domain.bar import BarSeries
from coinswarm.domain.pattern import Pattern
from coinswarm.evolution.config import EvolutionConfig
from coinswarm.evolution.dataset import Dataset
from coinswarm.evolution.evaluate import evaluate
from coinswarm.evolution.leaderboard import leaderboard
from coinswarm.evolution.ledger import StoreLedger
from coinswarm.evolution.run import DiscoveryRun, RunInputs
from coinswarm.evolution.workers import InlineExecutor
from coinswarm.infra.storage import Store
from planted_edge import balanced_drift_bars, balanced_edge_market, random_walk_market

PLANTED_DRIFT = math.log(1.08)
"""+8% over the 24 bars after a dip (see tests/integration/test_discovery_checks.py for why 8)."""


@dataclass(frozen=True, slots=True)
class Proven:
    """A proven pattern, and how its trades sit on the planted drift."""

    rule: str
    side: str
    timeframe: str
    trades: int
    drift_share: float  # of the hourly bars it held, the share that drift
    base_share: float  # of all hourly bars, the share that drift


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one seed's run found."""

    seed: int
    candidates: int
    trials: int
    proven: tuple[Proven, ...]
    seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU: the same on a busy machine

    def line(self) -> str:
        """The seed's outcome in one line: counts, and the proven pattern nearest the drift."""
        longs = [p for p in self.proven if p.side == "long"]
        best = max(self.proven, key=lambda p: (p.side == "long", p.drift_share), default=None)
        found = (
            "nothing"
            if best is None
            else f"{len(self.proven)} ({len(longs)} long), nearest the drift: {best.side} "
            f"{best.timeframe} {best.rule} ({best.trades} trades, held bars drifting "
            f"{best.drift_share:.0%} vs {best.base_share:.0%} of all bars)"
        )
        return (
            f"seed {self.seed}: {self.candidates} candidates, {self.trials} trials, "
            f"{self.seconds:.0f} s ({self.cpu_seconds:.0f} s CPU); proven: {found}"
        )


def planted_outcome(seed: int, bars: int, config: EvolutionConfig) -> Outcome:
    """Run discovery on the balanced planted-edge market of `seed`."""
    series = balanced_edge_market(seed, bars, drift=PLANTED_DRIFT)
    drifting = balanced_drift_bars(seed, bars, drift=PLANTED_DRIFT)
    return _outcome(seed, series, config, drifting)


def random_walk_outcome(seed: int, bars: int, config: EvolutionConfig) -> Outcome:
    """Run discovery on the random walk of `seed` (nothing there to find)."""
    series = random_walk_market(seed, bars)
    return _outcome(seed, series, config, np.zeros(bars, dtype=bool))


def _outcome(
    seed: int, series: BarSeries, config: EvolutionConfig, drifting: np.ndarray
) -> Outcome:
    began, cpu = time.monotonic(), time.process_time()
    dataset = Dataset([series], config.timeframes)
    inputs = RunInputs(("seed:" + str(seed),), dataset.fingerprint, config)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'run.db'}"
        with Store.open(url, upgrade=True) as store, InlineExecutor() as executor:
            run = DiscoveryRun.start(store, inputs, dataset, executor, now_ns=0)
            run.run(now_ns=lambda: 0)
            state = StoreLedger(store, run.run_id).last_state()
            assert state is not None
            rows = leaderboard(store, run.run_id, proven_only=True)
    proven = tuple(
        _proven(state.candidates[row.pattern_id], row.rule, dataset, series, drifting)
        for row in rows
    )
    return Outcome(
        seed,
        len(state.candidates),
        state.trials,
        proven,
        time.monotonic() - began,
        time.process_time() - cpu,
    )


def _proven(
    pattern: Pattern, rule: str, dataset: Dataset, hourly: BarSeries, drifting: np.ndarray
) -> Proven:
    """Trade `pattern` over the whole market; measure the drift under the bars it held."""
    (market,) = dataset.markets(pattern.timeframe)
    series = market.series
    result = evaluate(pattern, series.open, series.close, market.features.values)
    ts = np.append(series.ts, series.ts[-1] + series.interval_ns)  # an exit at `end` is the end
    hour0, hour_ns = int(hourly.ts[0]), hourly.interval_ns
    held = np.zeros(len(hourly), dtype=bool)
    for entry, leave in zip(result.entries, result.exits, strict=True):
        held[(ts[entry] - hour0) // hour_ns : (ts[leave] - hour0) // hour_ns] = True
    share = float(np.mean(drifting[held])) if held.any() else 0.0
    return Proven(
        rule=rule,
        side=pattern.side.value,
        timeframe=pattern.timeframe,
        trades=result.trades,
        drift_share=share,
        base_share=float(np.mean(drifting)),
    )
