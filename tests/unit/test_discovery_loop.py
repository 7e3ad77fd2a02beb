"""The discovery loop: deterministic for a seed, resumable from any committed cycle with the
same outcome, and honest about its windows (out-of-sample scores only at a fold's end, on that
fold's unseen window)."""

from __future__ import annotations

import pytest

from coinswarm.domain.pattern import Sample
from coinswarm.evolution.config import Cadence, EvolutionConfig
from coinswarm.evolution.dataset import Dataset
from coinswarm.evolution.ledger import MemoryLedger, StoreLedger
from coinswarm.evolution.loop import Discovery
from coinswarm.evolution.scoring import score_window
from coinswarm.evolution.windows import plan_windows
from coinswarm.infra.storage import Store
from planted_edge import planted_edge_market

CONFIG = EvolutionConfig(
    seed=7,
    cycles=6,
    folds=2,
    population=30,
    children=12,
    timeframes=("1h", "4h"),
    purge_bars=48,
    cadence=Cadence(chaos_trades=40, head_to_head=2, agent_competition=4, technical=3, academic=5),
)


@pytest.fixture(scope="module")
def dataset():
    return Dataset([planted_edge_market(seed=2, bars=8_000)], CONFIG.timeframes)


def discovery(dataset, ledger, config=CONFIG):
    plan = plan_windows(
        dataset.start_ns,
        dataset.end_ns,
        bar_ns=dataset.bar_ns,
        folds=config.folds,
        purge_bars=config.purge_bars,
        embargo_bars=config.embargo_bars,
    )

    def score(items):
        return [score_window(p, dataset, w, fee_rate=config.fee_rate) for p, w in items]

    return Discovery(dataset, config, plan, score, ledger), plan


def test_the_same_seed_gives_the_same_run_and_another_seed_another(dataset):
    first, _ = discovery(dataset, MemoryLedger())
    second, _ = discovery(dataset, MemoryLedger())
    other, _ = discovery(dataset, MemoryLedger(), CONFIG.model_copy(update={"seed": 8}))
    assert first.run().to_json() == second.run().to_json()
    assert other.run().to_json() != first.state.to_json()


@pytest.mark.parametrize("killed_after", [0, 2, 3])
def test_a_run_resumed_from_its_last_committed_cycle_ends_as_one_never_stopped(
    dataset, killed_after
):
    whole, _ = discovery(dataset, MemoryLedger())
    expected = whole.run().to_json()
    ledger = MemoryLedger()
    interrupted, _ = discovery(dataset, ledger)
    for c in range(killed_after + 1):
        interrupted.cycle(c)
    resumed, _ = discovery(dataset, ledger)  # a new process: only the ledger survives
    assert resumed.state.next_cycle == killed_after + 1
    assert resumed.run().to_json() == expected


def test_every_evaluation_is_in_the_trial_ledger_once(dataset):
    ledger = MemoryLedger()
    loop, _ = discovery(dataset, ledger)
    state = loop.run()
    trials = [t for r in ledger.reports for t in r.trials]
    assert state.trials == len(trials)
    chaos = [t for t in trials if t.kind == "chaos"]
    assert len(chaos) == CONFIG.cycles * CONFIG.cadence.chaos_trades
    named = [t.pattern_id for t in trials if t.pattern_id is not None]
    assert len(named) == len(set(named)) == len(state.candidates)
    assert {t.kind for t in trials} >= {"chaos", "extracted", "academic", "technical", "child"}


def test_out_of_sample_scores_come_only_at_a_folds_end_on_its_unseen_window(dataset):
    ledger = MemoryLedger()
    loop, plan = discovery(dataset, ledger)
    loop.run()
    for report in ledger.reports:
        unseen = [s for _, s in report.scores if s.sample is Sample.OUT_OF_SAMPLE]
        born = {p.id for p in report.born}
        fold = plan.folds[report.fold]
        for pattern_id, score in report.scores:
            if score.sample is Sample.IN_SAMPLE:  # each newborn's first score, on the fold's past
                assert pattern_id in born
                assert (score.start_ns, score.end_ns) == (
                    fold.in_sample.start_ns,
                    fold.in_sample.end_ns,
                )
        if not CONFIG.ends_fold(report.cycle):
            assert unseen == []
            continue
        assert unseen
        for score in unseen:
            assert (score.start_ns, score.end_ns) == (
                fold.out_of_sample.start_ns,
                fold.out_of_sample.end_ns,
            )
            assert score.start_ns >= fold.in_sample.end_ns + plan.purge_ns


def test_the_population_stays_within_its_cap(dataset):
    ledger = MemoryLedger()
    loop, _ = discovery(dataset, ledger)
    loop.run()
    assert all(r.population <= CONFIG.population for r in ledger.reports)
    assert max(r.population for r in ledger.reports) > 0


def test_a_run_committed_to_the_store_resumes_from_it_to_the_same_end(dataset, tmp_path):
    expected, _ = discovery(dataset, MemoryLedger())
    url = f"sqlite:///{tmp_path / 'coinswarm.db'}"
    with Store.open(url, upgrade=True) as store:
        store.create_evolution_run("evo-1", CONFIG.model_dump_json(), 0)
        first, _ = discovery(dataset, StoreLedger(store, "evo-1"))
        for c in range(3):
            first.cycle(c)
    with Store.open(url) as store:  # another process, after a kill
        resumed, _ = discovery(dataset, StoreLedger(store, "evo-1"))
        assert resumed.run().to_json() == expected.run().to_json()
        assert store.trial_count("evo-1") == resumed.state.trials
        stored = {p.pattern.id for p in store.patterns("evo-1")}
        assert stored == set(resumed.state.candidates)
