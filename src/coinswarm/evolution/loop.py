"""The discovery loop: invent candidates, select on the past, score on the unseen, prove at the end.

One cycle (docs/ISSUE13_PLAN.md, "The loop"): a chaos batch on the fold's in-sample window,
candidates extracted from it, the libraries on their cadence, children of tournament winners;
every new candidate evaluated in sample (each one a trial in the ledger); head-to-head and
agent competition on their cadence; the population capped; at a fold's last cycle, every
member scored on the fold's out-of-sample window. Then the cycle is committed, whole, to the
ledger: a run killed at any moment resumes from its last committed cycle, and because cycle
c's randomness is `default_rng([seed, c])` and nothing else is random, it ends with the same
leaderboard as a run never killed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from coinswarm.domain.pattern import Pattern, Sample, Score, Source
from coinswarm.evolution.chaos import ChaosBatch, chaos_trades
from coinswarm.evolution.config import EvolutionConfig
from coinswarm.evolution.dataset import Dataset
from coinswarm.evolution.extract import extract_patterns
from coinswarm.evolution.library import academic_patterns, technical_patterns
from coinswarm.evolution.scoring import WindowResult
from coinswarm.evolution.variation import FeatureQuantiles, crossover, mutate, tournament
from coinswarm.evolution.windows import Window, WindowPlan
from coinswarm.infra.storage import Trial

__all__ = ["CycleReport", "Discovery", "Ledger", "LoopState", "WindowScorer"]

WindowScorer = Callable[[Sequence[tuple[Pattern, Window]]], list[WindowResult]]
"""Score each (pattern, window), in order: inline, or through a pool or a Ray cluster."""

UNFIT = -math.inf


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one committed cycle did, for the progress bar and the ledger."""

    cycle: int
    fold: int
    trials: tuple[Trial, ...]
    born: tuple[Pattern, ...]
    retired: tuple[str, ...]
    scores: tuple[tuple[str, Score], ...]
    population: int
    best_in_sample: float
    best_out_of_sample: float | None


class Ledger(Protocol):
    """Where a run's cycles are committed; the store implements it, tests keep it in memory."""

    def commit(self, report: CycleReport, state: LoopState) -> None: ...

    def last_state(self) -> LoopState | None: ...


@dataclass(slots=True)
class LoopState:
    """Everything cycle c+1 needs from cycles 0..c: what a resumed run reloads."""

    next_cycle: int = 0
    population: dict[str, Pattern] = field(default_factory=dict)
    fitness: dict[str, float] = field(default_factory=dict)
    seen_in_fold: set[str] = field(default_factory=set)
    chaos: ChaosBatch | None = None
    trials: int = 0
    in_sample_sharpes: list[float] = field(default_factory=list)
    candidates: dict[str, Pattern] = field(default_factory=dict)  # every distinct trial
    scored_folds: dict[str, list[int]] = field(default_factory=dict)  # id -> folds scored OOS

    def to_json(self) -> str:
        return json.dumps(
            {
                "next_cycle": self.next_cycle,
                "population": sorted(self.population),
                "fitness": self.fitness,
                "seen_in_fold": sorted(self.seen_in_fold),
                "chaos": None if self.chaos is None else self.chaos.to_json(),
                "trials": self.trials,
                "in_sample_sharpes": self.in_sample_sharpes,
                # Ids only: the patterns themselves are in the ledger, written once each.
                "candidates": sorted(self.candidates),
                "scored_folds": self.scored_folds,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str, patterns: Mapping[str, Pattern]) -> LoopState:
        """Rebuild the state from its JSON and the ledger's patterns (by id)."""
        data = json.loads(text)
        try:
            candidates = {i: patterns[i] for i in data["candidates"]}
        except KeyError as missing:
            raise ValueError(f"the ledger lacks pattern {missing} that the state names") from None
        return cls(
            next_cycle=data["next_cycle"],
            population={k: candidates[k] for k in data["population"]},
            fitness={k: float(v) for k, v in data["fitness"].items()},
            seen_in_fold=set(data["seen_in_fold"]),
            chaos=None if data["chaos"] is None else ChaosBatch.from_json(data["chaos"]),
            trials=data["trials"],
            in_sample_sharpes=[float(v) for v in data["in_sample_sharpes"]],
            candidates=candidates,
            scored_folds={k: list(v) for k, v in data["scored_folds"].items()},
        )


class Discovery:
    """Run the cycles of one discovery run over `dataset`, committing each to `ledger`."""

    def __init__(
        self,
        dataset: Dataset,
        config: EvolutionConfig,
        plan: WindowPlan,
        score: WindowScorer,
        ledger: Ledger,
    ) -> None:
        self.dataset = dataset
        self.config = config
        self.plan = plan
        self._score = score
        self.ledger = ledger
        self.state = ledger.last_state() or LoopState()
        self._quantiles: dict[int, FeatureQuantiles] = {}

    def run(
        self,
        on_cycle: Callable[[CycleReport], None] | None = None,
        *,
        stop: Callable[[], bool] = lambda: False,
    ) -> LoopState:
        """Run every cycle not yet committed, or until `stop()` says so between two cycles;
        return the state (its `next_cycle` says how far it got)."""
        while self.state.next_cycle < self.config.cycles and not stop():
            report = self.cycle(self.state.next_cycle)
            if on_cycle is not None:
                on_cycle(report)
        return self.state

    def cycle(self, c: int) -> CycleReport:
        """Run cycle `c` and commit it."""
        if c != self.state.next_cycle:
            raise ValueError(f"expected cycle {self.state.next_cycle}, asked for {c}")
        config, state = self.config, self.state
        fold = config.fold_of(c)
        if c > 0 and config.fold_of(c - 1) != fold:
            self._enter_fold(fold)
        in_sample = self.plan.folds[fold].in_sample
        rng = np.random.default_rng([config.seed, c])
        trials: list[Trial] = []
        batch = chaos_trades(
            self.dataset,
            in_sample,
            rng,
            count=config.cadence.chaos_trades,
            timeframe=self.dataset.timeframes[0],
            fee_rate=config.fee_rate,
        )
        state.chaos = batch if state.chaos is None else ChaosBatch.concatenate([state.chaos, batch])
        # A chaos trade is a trial too: one random rule, tried once.
        trials += [
            Trial(kind="chaos", in_sample_sharpe=0.0, trades=1, extras={"net_return": float(r)})
            for r in batch.net_return
        ]
        offered = self._offspring(c, rng, fold)
        born, new_trials, scores = self._admit(c, offered, in_sample)
        trials += new_trials
        retired = self._compete(c, rng, in_sample)
        retired += self._cap()
        best_oos = None
        if config.ends_fold(c):
            unseen = self._score_out_of_sample(c, fold)
            best_oos = max((s.sharpe for _, s in unseen), default=None)
            scores += unseen
        state.trials += len(trials)
        state.next_cycle = c + 1
        best = max(state.fitness.values(), default=UNFIT)
        report = CycleReport(
            c,
            fold,
            tuple(trials),
            tuple(born),
            tuple(retired),
            tuple(scores),
            len(state.population),
            best,
            best_oos,
        )
        self.ledger.commit(report, state)
        return report

    def _offspring(self, c: int, rng: np.random.Generator, fold: int) -> list[tuple[str, Pattern]]:
        """Every candidate this cycle offers, labelled by where it came from."""
        config, state = self.config, self.state
        offered: list[tuple[str, Pattern]] = []
        assert state.chaos is not None
        offered += [("extracted", p) for p in extract_patterns(state.chaos, top=config.extracted)]
        if c % config.cadence.academic == 0:
            for timeframe in self.dataset.timeframes:
                offered += [("academic", p) for p in academic_patterns(timeframe)]
        if c % config.cadence.technical == 0:
            for timeframe in self.dataset.timeframes:
                offered += [("technical", p) for p in technical_patterns(timeframe)]
        members = sorted(state.population)
        if members:
            fitness = [state.fitness[m] for m in members]
            quantiles = self._quantiles_for(fold)
            for _ in range(config.children):
                first = state.population[members[tournament(fitness, rng)]]
                second = None
                if len(members) >= 2 and rng.random() < 0.3:
                    second = state.population[members[tournament(fitness, rng)]]
                # Thresholds are on their timeframe's scale: cross within one timeframe only.
                if second is not None and second.timeframe == first.timeframe and second != first:
                    offered.append(("child", crossover(first, second, rng)))
                else:
                    offered.append(("child", mutate(first, rng, quantiles)))
        return offered

    def _admit(
        self, c: int, offered: list[tuple[str, Pattern]], window: Window
    ) -> tuple[list[Pattern], list[Trial], list[tuple[str, Score]]]:
        """Score the candidates not yet seen this fold; each distinct one is a trial, and its
        in-sample score is the first it receives."""
        state = self.state
        fresh: dict[str, tuple[str, Pattern]] = {}
        for kind, pattern in offered:
            if pattern.id not in state.seen_in_fold and pattern.id not in fresh:
                fresh[pattern.id] = (kind, pattern)
        order = sorted(fresh)
        results = self._score([(fresh[i][1], window) for i in order])
        born, trials, scores = [], [], []
        for pattern_id, result in zip(order, results, strict=True):
            kind, pattern = fresh[pattern_id]
            state.seen_in_fold.add(pattern_id)
            fit = self._fitness(result)
            sharpe = result.sharpe
            if pattern_id not in state.candidates:
                state.candidates[pattern_id] = pattern
                state.in_sample_sharpes.append(sharpe)
                trials.append(
                    Trial(
                        kind=kind,
                        in_sample_sharpe=sharpe,
                        trades=result.trades,
                        pattern_id=pattern_id,
                    )
                )
                born.append(pattern)
                scores.append(
                    (pattern_id, result.score(Sample.IN_SAMPLE, pattern, self.dataset, c))
                )
            if fit > UNFIT:
                state.population[pattern_id] = pattern
                state.fitness[pattern_id] = fit
        return born, trials, scores

    def _fitness(self, result: WindowResult) -> float:
        return result.sharpe if result.trades >= self.config.min_in_sample_trades else UNFIT

    def _compete(self, c: int, rng: np.random.Generator, window: Window) -> list[str]:
        """Hold the matches this cycle's cadence calls for; retire the losers, return them."""
        cadence, state = self.config.cadence, self.state
        retired: set[str] = set()
        if c % cadence.head_to_head == 0 and len(state.population) >= 2:
            retired |= self._head_to_head(rng, window)
        if c % cadence.agent_competition == 0 and state.population:
            retired |= self._agent_competition()
        for member in sorted(retired):
            state.population.pop(member, None)
            state.fitness.pop(member, None)
        return sorted(retired)

    def _head_to_head(self, rng: np.random.Generator, window: Window) -> set[str]:
        """Pair the members at random and score each pair on the same random half of the
        window; a loser that also lost money there is out."""
        state = self.state
        members = sorted(state.population)
        rng.shuffle(members)
        half = (window.end_ns - window.start_ns) // 2
        start = window.start_ns + int(rng.integers(0, half))
        arena = Window(start, start + half)
        pairs = list(zip(members[0::2], members[1::2], strict=False))
        players = [m for pair in pairs for m in pair]
        results = self._score([(state.population[m], arena) for m in players])
        sharpe = {m: r.sharpe for m, r in zip(players, results, strict=True)}
        losers = {a if (sharpe[a], b) < (sharpe[b], a) else b for a, b in pairs}
        return {m for m in losers if sharpe[m] < 0}

    def _agent_competition(self) -> set[str]:
        """Members that do worse in sample than the median published rule are out: a
        discovery has to beat what any textbook already offers."""
        state = self.state
        rules = [p.id for p in state.candidates.values() if p.source is Source.ACADEMIC]
        bar = [state.fitness[i] for i in rules if i in state.fitness]
        if not bar:
            return set()
        median = float(np.median(bar))
        return {m for m, fit in state.fitness.items() if fit < median}

    def _cap(self) -> list[str]:
        state = self.state
        ranked = sorted(state.population, key=lambda m: (-state.fitness[m], m))
        dropped = ranked[self.config.population :]
        for member in dropped:
            del state.population[member]
            del state.fitness[member]
        return dropped

    def _score_out_of_sample(self, c: int, fold: int) -> list[tuple[str, Score]]:
        state = self.state
        window = self.plan.folds[fold].out_of_sample
        members = sorted(state.population)
        results = self._score([(state.population[m], window) for m in members])
        scores = []
        for member, result in zip(members, results, strict=True):
            pattern = state.population[member]
            state.scored_folds.setdefault(member, []).append(fold)
            scores.append((member, result.score(Sample.OUT_OF_SAMPLE, pattern, self.dataset, c)))
        return scores

    def _enter_fold(self, fold: int) -> None:
        """A new fold: its in-sample window is longer; the survivors are re-ranked on it."""
        state = self.state
        state.seen_in_fold = set()
        state.chaos = None
        window = self.plan.folds[fold].in_sample
        members = sorted(state.population)
        results = self._score([(state.population[m], window) for m in members])
        for member, result in zip(members, results, strict=True):
            state.seen_in_fold.add(member)
            fit = self._fitness(result)
            if fit > UNFIT:
                state.fitness[member] = fit
            else:  # too few trades on the longer window: no longer fit to breed
                del state.population[member], state.fitness[member]

    def _quantiles_for(self, fold: int) -> FeatureQuantiles:
        if fold not in self._quantiles:
            window = self.plan.folds[fold].in_sample
            self._quantiles[fold] = FeatureQuantiles.build(self.dataset, window)
        return self._quantiles[fold]
