"""Search a strategy's parameters walk-forward, and judge the search as discovery is judged.

The best in-sample fit of a parameter search is not evidence: with enough trials some
combination always fits the past. So the search runs as the discovery loop does
(`evolution.windows`): on fold k the proposer (Optuna's TPE, seeded) sees only in-sample
window k, scoring each proposal by the annualised Sharpe ratio of its daily returns after
fees from the real engine (`evolution.optimize.windows`); the best of fold k is then run once
on out-of-sample window k, which nothing chose on. The walk-forward record is those
out-of-sample windows, each traded with its own fold's choice, concatenated.

The final choice is fold k's for the last (longest) in-sample window. It is scored once more,
on the holdout set aside at the start, after everything else.

The verdict applies the run's `ProofThresholds` to the walk-forward record
(`proof.failed_checks`): its trades, net return and Sharpe ratio; the deflated Sharpe ratio
for every trial run (refused ones too) and the spread of the trials' daily Sharpe ratios over
the research span; the probability of backtest overfitting by CSCV over each distinct trial's
daily returns on the research span (every fold's windows, before the holdout; one backtest
each); Hansen's SPA against buy-and-hold on the same days; and the final choice's holdout
return. The random-entry test is not applied: it re-draws one rule's fixed trades, and a
strategy sizes and exits its own.

A proposal the strategy's own model refuses (`fast >= slow`) is a refused trial: counted,
stored, never backtested.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import optuna

from coinswarm.domain.pattern import Sample
from coinswarm.evolution.config import EvolutionConfig, ProofThresholds
from coinswarm.evolution.optimize.space import Dimension, describe, propose
from coinswarm.evolution.optimize.windows import WindowRecord, window_days, window_json
from coinswarm.evolution.proof import SearchEvidence, failed_checks, judge_search
from coinswarm.evolution.statistics.sharpe import deflated_sharpe_ratio
from coinswarm.evolution.windows import Fold, Window, WindowPlan, plan_windows
from coinswarm.infra.storage import Trial
from coinswarm.strategies import InvalidStrategyError, build_strategy

__all__ = [
    "DEFAULT_TRIALS",
    "PBO_BASIS",
    "RANDOM_ENTRY_NOT_APPLIED",
    "TRIAL_KIND",
    "Backtester",
    "FoldResult",
    "OptimizeReport",
    "OptimizeSettings",
    "TrialRecord",
    "TrialSink",
    "optimize",
]

TRIAL_KIND = "optimize"
DEFAULT_TRIALS = 20
PBO_BASIS = (
    "each distinct trial's daily returns over the research span (every fold's windows, "
    "before the holdout), one backtest each"
)
RANDOM_ENTRY_NOT_APPLIED = (
    "random-entry p: not applied (it re-draws one rule's fixed trades; a strategy sizes and "
    "exits its own)"
)
_WINDOWS = EvolutionConfig()  # the discovery loop's purge, embargo, holdout and thresholds


class Backtester(Protocol):
    """Run the strategy with text parameters over a window (`strategy_windows.StrategyWindows`)."""

    def run(self, parameters: Mapping[str, str], window: Window) -> WindowRecord: ...


class TrialSink(Protocol):
    """Where each fold's trials go (the store's trial ledger), then the closing report."""

    def commit(self, cycle: int, trials: Sequence[Trial], state_json: str) -> None: ...


@dataclass(frozen=True, slots=True)
class OptimizeSettings:
    """What decides a search, given its data: the strategy, the space, the budget, the seed."""

    strategy: str
    space: tuple[Dimension, ...]
    trials: int = DEFAULT_TRIALS  # per fold
    seed: int = 0
    folds: int = _WINDOWS.folds
    holdout_share: float = _WINDOWS.holdout_share
    purge_bars: int = _WINDOWS.purge_bars
    embargo_bars: int = _WINDOWS.embargo_bars
    proof: ProofThresholds = field(default_factory=ProofThresholds)

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "space": [d.to_json() for d in self.space],
            "trials_per_fold": self.trials,
            "seed": self.seed,
            "folds": self.folds,
            "holdout_share": self.holdout_share,
            "purge_bars": self.purge_bars,
            "embargo_bars": self.embargo_bars,
            "proof": self.proof.model_dump(),
        }

    def plan(self, span: Window, bar_ns: int) -> WindowPlan:
        """Cut `span` into the folds and the holdout (DataError when it is too short)."""
        return plan_windows(
            span.start_ns,
            span.end_ns,
            bar_ns=bar_ns,
            folds=self.folds,
            holdout_share=self.holdout_share,
            purge_bars=self.purge_bars,
            embargo_bars=self.embargo_bars,
        )


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One proposal on one fold's in-sample window: its record, or why it was refused."""

    fold: int  # 1-based, as `Fold.index`
    number: int  # within the fold, from 0
    parameters: dict[str, str]
    in_sample: WindowRecord | None
    refused: str | None = None

    def ledger_entry(self, out_of_sample: WindowRecord | None) -> Trial:
        """Return the trial as the ledger keeps it; the fold's choice carries its OOS Sharpe."""
        extras: dict[str, Any] = {"fold": self.fold, "parameters": self.parameters}
        if self.refused is not None:
            extras["refused"] = self.refused
        if out_of_sample is not None:
            extras["chosen"] = True
        return Trial(
            kind=TRIAL_KIND,
            in_sample_sharpe=0.0 if self.in_sample is None else self.in_sample.sharpe,
            out_of_sample_sharpe=None if out_of_sample is None else out_of_sample.sharpe,
            trades=0 if self.in_sample is None else self.in_sample.trades,
            extras=extras,
        )


@dataclass(frozen=True, slots=True)
class FoldResult:
    """A fold's trials, its in-sample choice (None: every proposal refused), and the choice's
    out-of-sample record (flat when there is no choice: nothing traded)."""

    fold: Fold
    trials: tuple[TrialRecord, ...]
    chosen: TrialRecord | None
    out_of_sample: WindowRecord

    def to_json(self) -> dict[str, Any]:
        chosen = self.chosen
        return {
            "fold": self.fold.index,
            "trials": len(self.trials),
            "refused": sum(1 for t in self.trials if t.refused is not None),
            "parameters": None if chosen is None else chosen.parameters,
            "in_sample": window_json(
                self.fold.in_sample, Sample.IN_SAMPLE, _chosen_in_sample(chosen)
            ),
            "out_of_sample": self.out_of_sample.to_json(Sample.OUT_OF_SAMPLE),
        }


@dataclass(frozen=True, slots=True, eq=False)
class OptimizeReport:
    """A search's choices with their out-of-sample and holdout evidence, and its verdict."""

    settings: OptimizeSettings
    plan: WindowPlan
    folds: tuple[FoldResult, ...]
    walk_forward: WindowRecord  # every fold's out-of-sample record, concatenated
    holdout: WindowRecord | None  # the final choice's, scored once at the end
    search: SearchEvidence
    deflated_sharpe: float
    distinct: int  # distinct parameter sets backtested (the PBO's candidates)
    reasons: tuple[str, ...]  # each failed check; empty when proven

    @property
    def n_trials(self) -> int:
        return sum(len(f.trials) for f in self.folds)

    @property
    def final(self) -> FoldResult:
        return self.folds[-1]

    @property
    def proven(self) -> bool:
        return not self.reasons

    def verdict_line(self) -> str:
        pbo = "n/a" if self.search.pbo is None else f"{self.search.pbo:.2f}"
        verdict = "proven" if self.proven else f"not proven because {'; '.join(self.reasons)}"
        return (
            f"{self.n_trials} trials; deflated Sharpe {self.deflated_sharpe:.2f}; PBO {pbo}; "
            f"verdict: {verdict}"
        )

    def to_json(self) -> dict[str, Any]:
        final = self.final
        walk_forward = self.walk_forward.to_json(Sample.OUT_OF_SAMPLE)
        del walk_forward["start"], walk_forward["end"]  # several windows, listed per fold
        return {
            "strategy": self.settings.strategy,
            "space": [d.to_json() for d in self.settings.space],
            "seed": self.settings.seed,
            "trials_per_fold": self.settings.trials,
            "windows": {
                "folds": self.settings.folds,
                "purge_bars": self.settings.purge_bars,
                "embargo_bars": self.settings.embargo_bars,
                "holdout_share": self.settings.holdout_share,
            },
            "folds": [f.to_json() for f in self.folds],
            "final": {
                "parameters": None if final.chosen is None else final.chosen.parameters,
                "in_sample": window_json(
                    final.fold.in_sample, Sample.IN_SAMPLE, _chosen_in_sample(final.chosen)
                ),
                "out_of_sample": final.out_of_sample.to_json(Sample.OUT_OF_SAMPLE),
                "holdout": window_json(self.plan.holdout, Sample.HOLDOUT, self.holdout),
            },
            "walk_forward": walk_forward,
            "n_trials": self.n_trials,
            "refused_trials": sum(1 for f in self.folds for t in f.trials if t.refused),
            "distinct_parameters": self.distinct,
            "deflated_sharpe": self.deflated_sharpe,
            "trial_sharpe_variance": self.search.trial_sharpe_variance,
            "pbo": self.search.pbo,
            "pbo_basis": PBO_BASIS,
            "spa_p": self.search.reality_check_p,
            "verdict": "proven" if self.proven else "not proven",
            "reasons": list(self.reasons),
            "not_checked": [RANDOM_ENTRY_NOT_APPLIED],
            "thresholds": self.settings.proof.model_dump(),
        }


def _chosen_in_sample(chosen: TrialRecord | None) -> WindowRecord | None:
    return None if chosen is None else chosen.in_sample


def optimize(
    settings: OptimizeSettings,
    plan: WindowPlan,
    backtester: Backtester,
    *,
    sink: TrialSink | None = None,
    say: Callable[[str], None] | None = None,
) -> OptimizeReport:
    """Search walk-forward over `plan`, score the final choice on the holdout, judge it all."""
    optuna.logging.set_verbosity(logging.WARNING)  # a line per trial is not for the user
    folds = []
    for fold in plan.folds:
        result = _search_fold(settings, fold, backtester)
        folds.append(result)
        if sink is not None:
            trials = [
                t.ledger_entry(result.out_of_sample if t is result.chosen else None)
                for t in result.trials
            ]
            sink.commit(fold.index - 1, trials, json.dumps(result.to_json(), sort_keys=True))
        if say is not None:
            say(_fold_line(result, len(plan.folds)))
    final = folds[-1].chosen
    holdout = None if final is None else backtester.run(final.parameters, plan.holdout)
    report = _judge(settings, plan, tuple(folds), holdout, backtester)
    if sink is not None:
        sink.commit(len(plan.folds), [], json.dumps(report.to_json(), sort_keys=True))
    return report


def _search_fold(settings: OptimizeSettings, fold: Fold, backtester: Backtester) -> FoldResult:
    """Propose `settings.trials` parameter sets on the fold's in-sample window only; run the
    best (the first of equals) once on its out-of-sample window."""
    seed = int(np.random.SeedSequence([settings.seed, fold.index]).generate_state(1)[0])
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    trials: list[TrialRecord] = []
    for number in range(settings.trials):
        trial = study.ask()
        parameters = propose(trial, settings.space)
        try:
            build_strategy(settings.strategy, parameters)
        except InvalidStrategyError as refused:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            trials.append(TrialRecord(fold.index, number, parameters, None, str(refused)))
            continue
        record = backtester.run(parameters, fold.in_sample)
        study.tell(trial, record.sharpe)
        trials.append(TrialRecord(fold.index, number, parameters, record))
    scored = [t for t in trials if t.in_sample is not None]
    chosen = max(scored, key=_in_sample_sharpe, default=None)
    if chosen is None:
        return FoldResult(fold, tuple(trials), None, _flat(fold.out_of_sample))
    out_of_sample = backtester.run(chosen.parameters, fold.out_of_sample)
    return FoldResult(fold, tuple(trials), chosen, out_of_sample)


def _in_sample_sharpe(trial: TrialRecord) -> float:
    return -math.inf if trial.in_sample is None else trial.in_sample.sharpe


def _flat(window: Window) -> WindowRecord:
    """The record of not trading (and not holding) over `window`."""
    days = window_days(window)[1]
    return WindowRecord(window, np.zeros(days), 0, np.zeros(days))


def _fold_line(result: FoldResult, folds: int) -> str:
    head = f"fold {result.fold.index}/{folds}: {len(result.trials)} trials"
    if result.chosen is None or result.chosen.in_sample is None:
        return f"{head}; every proposal was refused"
    return (
        f"{head}; chose {describe(result.chosen.parameters)} (in-sample Sharpe "
        f"{result.chosen.in_sample.sharpe:.2f}, out-of-sample {result.out_of_sample.sharpe:.2f})"
    )


def _judge(
    settings: OptimizeSettings,
    plan: WindowPlan,
    folds: tuple[FoldResult, ...],
    holdout: WindowRecord | None,
    backtester: Backtester,
) -> OptimizeReport:
    walk_forward = WindowRecord(
        Window(folds[0].fold.out_of_sample.start_ns, folds[-1].fold.out_of_sample.end_ns),
        np.concatenate([f.out_of_sample.daily for f in folds]),
        sum(f.out_of_sample.trades for f in folds),
        np.concatenate([f.out_of_sample.hold_daily for f in folds]),
    )
    research = _research_records(plan, folds, backtester)
    n_trials = sum(len(f.trials) for f in folds)
    search = judge_search(
        n_trials,
        [r.daily for r in research],
        np.column_stack([r.daily for r in research] or [np.zeros(1)]),
        walk_forward.daily[:, np.newaxis],
        walk_forward.hold_daily,
        seed=settings.seed,
    )
    daily = walk_forward.daily
    dsr = 0.0
    if len(daily) >= 2 and np.std(daily) > 0:
        dsr = deflated_sharpe_ratio(daily, n_trials, search.trial_sharpe_variance).dsr
    reasons = failed_checks(
        settings.proof,
        search,
        trades=walk_forward.trades,
        sharpe=walk_forward.sharpe,
        net=walk_forward.net_return,
        dsr=dsr,
        p_random=None,
    )
    reasons += tuple(
        f"fold {f.fold.index}: every proposal was refused" for f in folds if f.chosen is None
    )
    minimum = settings.proof.min_holdout_return
    if holdout is not None and holdout.net_return < minimum:
        reasons += (f"holdout net return {holdout.net_return:.2%} < {minimum:.2%}",)
    return OptimizeReport(
        settings, plan, folds, walk_forward, holdout, search, dsr, len(research), reasons
    )


def _research_records(
    plan: WindowPlan, folds: Sequence[FoldResult], backtester: Backtester
) -> list[WindowRecord]:
    """Each distinct parameter set tried (refused ones aside), once over the research span."""
    research = Window(plan.folds[0].in_sample.start_ns, plan.folds[-1].out_of_sample.end_ns)
    distinct: dict[str, dict[str, str]] = {}
    for fold in folds:
        for trial in fold.trials:
            if trial.in_sample is not None:
                distinct.setdefault(json.dumps(trial.parameters, sort_keys=True), trial.parameters)
    return [backtester.run(parameters, research) for parameters in distinct.values()]
