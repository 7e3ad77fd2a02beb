"""Discovery beside a session, step by step, on a market that grows one closed bar at a time:
it waits (saying how many bars more), starts a run once the windows fit, commits one cycle per
step, closes the run, starts the next on the bars closed by then; it never reads a bar whose
close has not passed, and a step that fails or a session that ends loses nothing committed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.data.closed_bars import ClosedBars, ReplayClosing
from coinswarm.data.synthetic import synthetic_market
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.domain.errors import DataError
from coinswarm.evolution.config import Cadence, EvolutionConfig
from coinswarm.evolution.run import bars_needed
from coinswarm.evolution.session.discovery import LookaheadError, SessionDiscovery, StepReport
from coinswarm.evolution.windows import plan_windows
from coinswarm.evolution.workers import InlineExecutor, WorkersError
from coinswarm.infra.storage import EvolutionStatus, Store

START = 1_700_000_000 * 10**9 // NS_PER_HOUR * NS_PER_HOUR
CONFIG = EvolutionConfig(
    seed=3,
    cycles=3,
    folds=1,
    population=8,
    children=4,
    extracted=3,
    timeframes=("1h",),
    purge_bars=1,
    embargo_bars=0,
    min_in_sample_trades=3,
    cadence=Cadence(chaos_trades=10, academic=100, technical=100),
)
NEEDED = bars_needed(CONFIG, NS_PER_HOUR)


class Session:
    """A paper session's market as discovery sees it: recorded bars that close one by one."""

    def __init__(self, bars: int = NEEDED + 12) -> None:
        self.market = [
            synthetic_market(instrument="BTC-USD", bars=bars, start=START, seed=5),
            synthetic_market(instrument="ETH-USD", bars=bars, start=START, seed=6),
        ]
        self.closed = ClosedBars()
        self.replay = ReplayClosing(self.market, self.closed)
        self.reads: list[tuple[int | None, list[int]]] = []  # (now, each series' last close)

    def close_until(self, bars: int) -> None:
        """Let the market's time pass the close of its first `bars` bars."""
        self.replay.reach(START + bars * NS_PER_HOUR)

    def bars(self) -> Sequence[BarSeries]:
        """The session's closed bars, each read checked against the clock of that moment."""
        series = self.closed.snapshot()
        now = self.closed.now_ns()
        ends = [int(s.ts[-1]) + s.interval_ns for s in series]
        self.reads.append((now, ends))
        assert now is not None
        assert all(end <= now for end in ends), "a bar that had not closed reached discovery"
        return series

    def discovery(self, store: Store, **options: object) -> SessionDiscovery:
        return SessionDiscovery(
            self.bars, self.closed.now_ns, store, CONFIG, stamp_ns=lambda: 0, **options
        )  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'paper.db'}", upgrade=True) as opened:
        yield opened


@given(
    folds=st.integers(min_value=1, max_value=4),
    purge=st.integers(min_value=1, max_value=200),
    embargo=st.integers(min_value=0, max_value=50),
    holdout=st.floats(min_value=0.05, max_value=0.45),
)
def test_bars_needed_is_the_fewest_the_windows_fit_in(
    folds: int, purge: int, embargo: int, holdout: float
) -> None:
    config = EvolutionConfig(
        cycles=folds, folds=folds, purge_bars=purge, embargo_bars=embargo, holdout_share=holdout
    )
    needed = bars_needed(config, NS_PER_HOUR)

    def plan(bars: int) -> None:
        plan_windows(
            0,
            bars * NS_PER_HOUR,
            bar_ns=NS_PER_HOUR,
            folds=folds,
            holdout_share=holdout,
            purge_bars=purge,
            embargo_bars=embargo,
        )

    plan(needed)
    with pytest.raises(DataError):
        plan(needed - 1)


def test_it_waits_then_runs_a_cycle_a_step_closes_and_starts_the_next_run(store: Store) -> None:
    session = Session()
    told: list[str] = []
    discovery = session.discovery(store, say=told.append)
    assert discovery.step().message == "waiting for the session's first closed bar"
    reports: list[StepReport] = []
    for bars in range(NEEDED - 3, NEEDED + 6):
        session.close_until(bars)
        reports.append(discovery.step())
    kinds = [r.kind for r in reports]
    assert kinds == ["waiting"] * 3 + ["cycle", "cycle", "cycle", "closed", "cycle", "cycle"]
    assert reports[0].message.startswith(
        f"waiting for 3 more closed bars (a run's windows need {NEEDED}"
    )
    assert reports[2].message.startswith("waiting for 1 more closed bars")
    assert sum(line.startswith("discovery: waiting") for line in told) == 2, "once per change"

    first, second = reports[3].run_id, reports[7].run_id
    assert first is not None
    assert second is not None
    assert first != second
    assert [r.cycle for r in reports[3:6]] == [0, 1, 2]
    assert reports[6].run_id == first
    runs = {r.run_id: r for r in store.evolution_runs()}
    assert runs[first].status is EvolutionStatus.FINISHED
    assert runs[second].status is EvolutionStatus.RUNNING
    assert runs[second].next_cycle == 2
    assert store.trial_count(first) > 0
    # Each run's windows lie within the bars closed when it started: NEEDED, then NEEDED + 4.
    for run_id, bars in ((first, NEEDED), (second, NEEDED + 4)):
        ends = [s.end_ns for p in store.patterns(run_id) for s in p.pattern.scores]
        assert ends
        assert max(ends) <= START + bars * NS_PER_HOUR
    assert session.reads, "the instrumented source was read"
    assert any(line.startswith(f"discovery run {first} closed:") for line in told)


def test_each_step_commits_exactly_one_cycle(store: Store) -> None:
    session = Session()
    discovery = session.discovery(store)
    session.close_until(NEEDED)
    committed = []
    for _ in range(3):
        report = discovery.step()
        assert report.run_id is not None
        stored = store.evolution_run(report.run_id)
        assert stored is not None
        committed.append(stored.next_cycle)
    assert committed == [1, 2, 3]


class LeakyBars:
    """A source that hands out one bar more than has closed: the bar still forming."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __call__(self) -> Sequence[BarSeries]:
        now = self.session.closed.now_ns()
        assert now is not None
        return [s.between(None, now + 1) for s in self.session.market]


def test_a_source_that_hands_out_a_forming_bar_is_refused_and_nothing_is_stored(
    store: Store,
) -> None:
    session = Session()
    session.close_until(NEEDED + 5)
    discovery = SessionDiscovery(LeakyBars(session), session.closed.now_ns, store, CONFIG)
    with pytest.raises(LookaheadError, match=r"closes at .* after the session's now"):
        discovery.step()
    assert store.evolution_runs() == []


def test_a_clock_behind_the_run_s_bars_stops_the_cycle_before_it_commits(store: Store) -> None:
    session = Session()
    session.close_until(NEEDED)
    now = [session.closed.now_ns()]
    discovery = SessionDiscovery(session.bars, lambda: now[0], store, CONFIG)
    run_id = discovery.step().run_id
    assert run_id is not None
    now[0] = START  # a clock gone wrong: the run's bars have not closed by it
    with pytest.raises(LookaheadError, match="its bars run to"):
        discovery.step()
    stored = store.evolution_run(run_id)
    assert stored is not None
    assert stored.next_cycle == 1


class FlakyExecutor(InlineExecutor):
    """Inline evaluation that fails once, at its `fail_at`-th batch."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.calls = 0
        self.fail_at = fail_at

    def run(self, workload, items, *, item_seconds=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.fail_at:
            raise WorkersError("a worker fell over")
        return super().run(workload, items, item_seconds=item_seconds)


def test_a_step_that_fails_mid_cycle_is_redone_from_the_last_commit_to_the_same_end(
    tmp_path: Path,
) -> None:
    session = Session()
    session.close_until(NEEDED)
    states = []
    for name, executor in (("whole", InlineExecutor()), ("flaky", FlakyExecutor(fail_at=3))):
        with Store.open(f"sqlite:///{tmp_path / name}.db", upgrade=True) as store:
            discovery = session.discovery(store, executor=executor)
            reports, failed = [], 0
            while len(reports) < 4:
                try:
                    reports.append(discovery.step())
                except WorkersError:
                    failed += 1
            assert failed == (name == "flaky")
            assert [r.kind for r in reports] == ["cycle", "cycle", "cycle", "closed"]
            run_id = reports[0].run_id
            assert run_id is not None
            stored = store.evolution_run(run_id)
            assert stored is not None
            states.append((stored.state_json, store.trial_count(run_id)))
    assert states[0] == states[1]


def test_a_run_the_session_stopped_is_stored_interrupted_and_resumed_on_the_same_bars(
    store: Store,
) -> None:
    session = Session()
    session.close_until(NEEDED)
    first = session.discovery(store)
    run_id = first.step().run_id
    assert run_id is not None
    first.close()
    stored = store.evolution_run(run_id)
    assert stored is not None
    assert stored.status is EvolutionStatus.INTERRUPTED
    again = session.discovery(store)  # the same paper replay, started again
    report = again.step()
    assert (report.run_id, report.cycle) == (run_id, 1)
    again.step()
    assert again.step().kind == "closed"
    assert again.step().kind == "unchanged", "no bar closed since: that run is done"
    session.close_until(NEEDED + 1)
    assert again.step().kind == "cycle"
