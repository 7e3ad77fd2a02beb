"""`evolution.optimize`: the search chooses on in-sample windows only, the same seed gives the
same trials, refused proposals are trials, and the verdict follows the evidence.

The backtester here is a fake with the real one's interface: each (parameters, window) gets
daily returns from a seeded generator around a mean the parameters decide, so the search has
a known best, and every window it was asked for is on record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import numpy as np
import pytest

from coinswarm.bootstrap import BacktestRequest
from coinswarm.domain.bar import NS_PER_HOUR
from coinswarm.evolution.config import ProofThresholds
from coinswarm.evolution.optimize.ledger import StoreTrials, search_config, start_run
from coinswarm.evolution.optimize.search import OptimizeSettings, optimize
from coinswarm.evolution.optimize.space import parse_space
from coinswarm.evolution.optimize.windows import WindowRecord, window_days
from coinswarm.evolution.proof import SearchEvidence, failed_checks
from coinswarm.evolution.windows import Window, WindowPlan
from coinswarm.infra.storage import Store, Trial

DAY = 24 * NS_PER_HOUR
SPAN = Window(1_600_000_000 * 10**9 // DAY * DAY, (1_600_000_000 * 10**9 // DAY + 4 * 365) * DAY)
SPACE = (parse_space("fast=5..50:5"), parse_space("slow=60..200:20"))

Edge = Callable[[Mapping[str, str]], float]


def no_edge(_parameters: Mapping[str, str]) -> float:
    return 0.0


def planted_edge(parameters: Mapping[str, str]) -> float:
    """Best at fast=20 whatever slow: a daily mean of 0.3%, less 0.02% per step of 5 away."""
    return 0.003 - 0.0002 * abs(int(parameters["fast"]) - 20) / 5


class FakeBacktester:
    """Seeded daily returns around `edge(parameters)`; every call is kept in `calls`."""

    def __init__(self, edge: Edge = no_edge, *, trades: int = 40) -> None:
        self.edge = edge
        self.trades = trades
        self.calls: list[tuple[dict[str, str], Window]] = []

    def run(self, parameters: Mapping[str, str], window: Window) -> WindowRecord:
        self.calls.append((dict(parameters), window))
        assert int(parameters["fast"]) < int(parameters["slow"]), "a refused one was backtested"
        days = window_days(window)[1]
        first = window.start_ns // DAY
        values = [int(v) for v in parameters.values()]
        noise = np.random.default_rng([first, days, *values]).standard_normal(days)
        hold = np.random.default_rng([first, days]).standard_normal(days)
        return WindowRecord(window, self.edge(parameters) + 0.01 * noise, self.trades, 0.01 * hold)


class Tampered(FakeBacktester):
    """The same on in-sample windows; anything else (out of sample, holdout) is inverted."""

    def __init__(self, plan: WindowPlan, edge: Edge) -> None:
        super().__init__(edge)
        self.in_sample = {fold.in_sample for fold in plan.folds}

    def run(self, parameters: Mapping[str, str], window: Window) -> WindowRecord:
        honest = super().run(parameters, window)
        if window in self.in_sample:
            return honest
        return WindowRecord(window, -3 * honest.daily, 0, honest.hold_daily)


def settings(seed: int = 0, **changes: object) -> OptimizeSettings:
    values: dict[str, object] = {"space": SPACE, "trials": 12, "seed": seed, **changes}
    return OptimizeSettings("sma-cross", **values)  # type: ignore[arg-type]


def plan_of(chosen: OptimizeSettings) -> WindowPlan:
    return chosen.plan(SPAN, NS_PER_HOUR)


def test_each_fold_searches_its_in_sample_window_only_then_runs_its_choice_once_unseen():
    chosen = settings()
    plan = plan_of(chosen)
    fake = FakeBacktester(planted_edge)
    report = optimize(chosen, plan, fake)
    calls = iter(fake.calls)
    for fold, result in zip(plan.folds, report.folds, strict=True):
        searched = [next(calls) for _ in range(chosen.trials)]
        assert {window for _, window in searched} == {fold.in_sample}
        assert [p for p, _ in searched] == [t.parameters for t in result.trials]
        assert result.chosen is not None
        assert next(calls) == (result.chosen.parameters, fold.out_of_sample)
    assert next(calls) == (report.final.chosen.parameters, plan.holdout)
    # The rest: each distinct parameter set once over the research span, for the PBO.
    research = Window(plan.folds[0].in_sample.start_ns, plan.folds[-1].out_of_sample.end_ns)
    rest = list(calls)
    assert {window for _, window in rest} == {research}
    tried = {json.dumps(t.parameters) for f in report.folds for t in f.trials}
    assert sorted(json.dumps(p) for p, _ in rest) == sorted(tried)
    assert report.distinct == len(tried)


def test_the_choices_do_not_change_when_every_unseen_window_says_otherwise():
    chosen = settings()
    plan = plan_of(chosen)
    honest = optimize(chosen, plan, FakeBacktester(planted_edge))
    tampered = optimize(chosen, plan, Tampered(plan, planted_edge))
    assert [f.chosen.parameters for f in honest.folds if f.chosen] == [
        f.chosen.parameters for f in tampered.folds if f.chosen
    ]
    # The tampering reached the out-of-sample figures, and only them.
    assert honest.walk_forward.net_return > 0 > tampered.walk_forward.net_return
    assert honest.proven
    assert not tampered.proven


def test_a_fold_chooses_the_best_in_sample_sharpe_among_its_trials():
    report = optimize(settings(), plan_of(settings()), FakeBacktester(planted_edge))
    for result in report.folds:
        sharpes = [t.in_sample.sharpe for t in result.trials if t.in_sample is not None]
        assert result.chosen is not None
        assert result.chosen.in_sample is not None
        assert result.chosen.in_sample.sharpe == max(sharpes)
    # The planted edge is found: the final choice is fast=20 or next to it.
    assert abs(int(report.final.chosen.parameters["fast"]) - 20) <= 5


def test_the_same_seed_gives_the_same_trials_and_report_and_another_seed_does_not():
    def trials(report):
        return [t.parameters for f in report.folds for t in f.trials]

    first = optimize(settings(seed=3), plan_of(settings()), FakeBacktester(planted_edge))
    again = optimize(settings(seed=3), plan_of(settings()), FakeBacktester(planted_edge))
    other = optimize(settings(seed=4), plan_of(settings()), FakeBacktester(planted_edge))
    assert trials(first) == trials(again)
    assert json.dumps(first.to_json(), sort_keys=True) == json.dumps(
        again.to_json(), sort_keys=True
    )
    assert trials(first) != trials(other)


def test_a_proposal_the_strategy_refuses_is_a_trial_that_is_never_backtested():
    # fast from 10 to 100 against slow from 60 to 200: fast >= slow is refused by sma-cross.
    space = (parse_space("fast=10..100:10"), parse_space("slow=60..200:20"))
    chosen = settings(space=space, trials=15)
    fake = FakeBacktester()
    report = optimize(chosen, plan_of(chosen), fake)
    refused = [t for f in report.folds for t in f.trials if t.refused is not None]
    assert refused
    assert all(int(t.parameters["fast"]) >= int(t.parameters["slow"]) for t in refused)
    assert all("expected fast < slow" in str(t.refused) for t in refused)
    assert all(t.in_sample is None for t in refused)
    assert report.n_trials == 3 * 15  # refused ones count
    assert report.to_json()["refused_trials"] == len(refused)
    entry = refused[0].ledger_entry(None)
    assert entry.extras["refused"] == refused[0].refused
    assert (entry.in_sample_sharpe, entry.trades) == (0.0, 0)


def test_a_fold_whose_every_proposal_is_refused_has_no_choice_and_says_so():
    space = (parse_space("fast=60..100:10"), parse_space("slow=20..50:10"))
    chosen = settings(space=space, trials=4, folds=2)
    fake = FakeBacktester()
    report = optimize(chosen, plan_of(chosen), fake)
    assert fake.calls == []
    assert all(f.chosen is None for f in report.folds)
    assert report.holdout is None
    assert "fold 1: every proposal was refused" in report.reasons
    assert report.to_json()["final"]["holdout"]["sharpe"] is None
    assert report.to_json()["final"]["holdout"]["sample"] == "holdout"


def test_a_planted_edge_is_proven_and_noise_is_not_with_the_reasons():
    proven = optimize(settings(), plan_of(settings()), FakeBacktester(planted_edge))
    assert proven.reasons == ()
    assert proven.deflated_sharpe >= 0.95
    assert proven.search.pbo is not None
    assert proven.search.pbo <= 0.5
    noise = optimize(settings(), plan_of(settings()), FakeBacktester(no_edge, trades=5))
    assert not noise.proven
    assert any(r.startswith("deflated Sharpe") and "for 36 trials" in r for r in noise.reasons)
    assert "15 trades < 30" in noise.reasons
    assert noise.verdict_line().startswith("36 trials; deflated Sharpe ")
    assert "verdict: not proven because" in noise.verdict_line()


def test_every_score_is_labelled_with_its_sample():
    report = optimize(settings(), plan_of(settings()), FakeBacktester(planted_edge)).to_json()
    for fold in report["folds"]:
        assert fold["in_sample"]["sample"] == "in_sample"
        assert fold["out_of_sample"]["sample"] == "out_of_sample"
    final = report["final"]
    labels = [final[k]["sample"] for k in ("in_sample", "out_of_sample", "holdout")]
    assert labels == ["in_sample", "out_of_sample", "holdout"]
    assert report["walk_forward"]["sample"] == "out_of_sample"
    assert report["walk_forward"]["days"] == sum(
        f["out_of_sample"]["days"] for f in report["folds"]
    )
    assert report["n_trials"] == 36
    assert 0 <= report["deflated_sharpe"] <= 1
    assert report["not_checked"][0].startswith("random-entry p: not applied")


class MemorySink:
    def __init__(self) -> None:
        self.cycles: list[tuple[int, list[Trial], str]] = []

    def commit(self, cycle: int, trials, state_json: str) -> None:
        self.cycles.append((cycle, list(trials), state_json))


def test_each_fold_commits_its_trials_and_the_last_cycle_the_report():
    sink = MemorySink()
    report = optimize(settings(), plan_of(settings()), FakeBacktester(planted_edge), sink=sink)
    assert [(c, len(t)) for c, t, _ in sink.cycles] == [(0, 12), (1, 12), (2, 12), (3, 0)]
    assert json.loads(sink.cycles[-1][2]) == json.loads(json.dumps(report.to_json()))
    chosen = [t for _, trials, _ in sink.cycles for t in trials if t.extras.get("chosen")]
    assert [t.out_of_sample_sharpe for t in chosen] == [
        f.out_of_sample.sharpe for f in report.folds
    ]
    assert all(t.kind == "optimize" for _, trials, _ in sink.cycles for t in trials)


def test_the_store_keeps_the_search_as_a_countable_run(tmp_path):
    chosen = settings(trials=3, folds=2)
    config = search_config(chosen, BacktestRequest(strategy="sma-cross"))
    with Store.open(f"sqlite:///{tmp_path / 'search.db'}", upgrade=True) as store:
        run_id = start_run(store, config, created_ns=1)
        again = start_run(store, config, created_ns=2)
        optimize(chosen, plan_of(chosen), FakeBacktester(), sink=StoreTrials(store, run_id))
        assert run_id.startswith("optimize-")
        assert run_id.endswith("-1")
        assert again == run_id.removesuffix("-1") + "-2"  # the same search again is counted
        assert store.trial_count(run_id) == 6
        assert {t.trial.kind for t in store.trials(run_id)} == {"optimize"}
        assert [t.cycle for t in store.trials(run_id)] == [0, 0, 0, 1, 1, 1]
        run = store.evolution_run(run_id)
        assert run is not None
        assert run.last_cycle == 2


@pytest.mark.parametrize("folds", [1, 2])
def test_the_final_choice_is_the_last_folds(folds):
    chosen = settings(folds=folds, trials=5)
    report = optimize(chosen, plan_of(chosen), FakeBacktester(planted_edge))
    assert report.final is report.folds[-1]
    assert len(report.folds) == folds


def test_the_random_entry_check_is_skipped_only_where_it_does_not_apply():
    search = SearchEvidence(n_trials=10, trial_sharpe_variance=0.0, pbo=None, reality_check_p=None)
    passing = {"trades": 40, "sharpe": 1.0, "net": 0.2, "dsr": 0.99}
    assert failed_checks(ProofThresholds(), search, **passing, p_random=None) == ()
    assert failed_checks(ProofThresholds(), search, **passing, p_random=0.5) == (
        "random-entry p 0.500 > 0.05",
    )
