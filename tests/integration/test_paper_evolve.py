"""`coinswarm paper --evolve`: a paper session at replay speed with discovery beside it.

The session and the scheduler share one manual clock, in lockstep: the replay's waits move
it, and a discovery step takes no time on it, so the steps fall at known moments of the
session's replay. Discovery commits its cycles to paper.db while the session trades, on bars
the replay has closed, and the session's own results are those of a session without it; a
discovery that fails at every step is recorded, gives up, and leaves the session alone.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from coinswarm import bootstrap
from coinswarm.backtest.replay import ReplayPacer
from coinswarm.cli._beside import evolving
from coinswarm.data.closed_bars import ClosedBars
from coinswarm.evolution.config import Cadence, EvolutionConfig
from coinswarm.evolution.session.timers import ManualTimer
from coinswarm.infra.storage import EvolutionStatus, Store

BARS = 1_600
SPEED = 3_600.0  # an hour of market time a second: one hourly bar a second of the clock
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


def _request(database: str) -> bootstrap.BacktestRequest:
    return bootstrap.BacktestRequest(
        strategy="sma-cross",
        parameters={"fast": "3", "slow": "8"},
        synthetic_bars=BARS,
        mode="paper",
        phase="1",
        cash=Decimal(100_000),
        database=database,
    )


def _fills(outcome: bootstrap.BacktestOutcome) -> list[tuple[int, Decimal, Decimal]]:
    return [(f.ts, f.price, f.quantity) for f in outcome.result.fills]


def test_discovery_commits_cycles_beside_a_paper_session_and_changes_nothing_it_does(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'paper.db'}"
    alone = bootstrap.run(_request(database))

    timer = ManualTimer(sleepers=1)
    pacer = ReplayPacer(SPEED, monotonic=timer.now, sleep=timer.advance)
    closed, told = ClosedBars(), []
    with evolving(
        closed,
        mode="paper",
        database=database,
        every_s=60.0,
        say=told.append,
        timer=timer,
        config=CONFIG,
    ) as beside:
        outcome = bootstrap.run(_request(database), pace=pacer, closed_bars=closed)
        with Store.open(database) as reader:  # what discovery committed while the session ran
            during = reader.evolution_runs()
            ends = {
                r.run_id: max(s.end_ns for p in reader.patterns(r.run_id) for s in p.pattern.scores)
                for r in during
            }
    assert beside is not None

    assert outcome.result.final_equity == alone.result.final_equity
    assert _fills(outcome) == _fills(alone)
    assert len(alone.result.fills) >= 20, "sma-cross 3/8 trades often"

    scheduler = beside.scheduler
    assert scheduler.failures == []
    assert scheduler.steps == 1 + (BARS - 1) // 60, "a step each minute of the replay's clock"
    finished = [r for r in during if r.status is EvolutionStatus.FINISHED]
    assert finished, "a whole run was committed and closed while the session traded"
    assert sum(r.next_cycle for r in during) >= CONFIG.cycles + 1
    # Each run learnt from a part of the market, closed before the session reached its end.
    last_close = int(max(s.ts[-1] + s.interval_ns for s in alone.result.market.values()))
    assert all(end < last_close for end in ends.values())
    assert any(" closed: " in line for line in told)
    assert told[0] == "discovery: waiting for the session's first closed bar"

    with Store.open(database) as reader:  # after the session: nothing left running
        statuses = {r.status for r in reader.evolution_runs()}
        paper = reader.get_run(outcome.run_id)
    assert statuses <= {EvolutionStatus.FINISHED, EvolutionStatus.INTERRUPTED}
    assert paper is not None
    assert paper.status == "finished"


def test_a_discovery_that_fails_every_step_gives_up_and_the_session_trades_on(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'paper.db'}"
    alone = bootstrap.run(_request(database))
    broken = CONFIG.model_copy(update={"timeframes": ("15m",)})  # finer than the bars: refused
    timer = ManualTimer(sleepers=1)
    pacer = ReplayPacer(SPEED, monotonic=timer.now, sleep=timer.advance)
    closed, told = ClosedBars(), []
    with evolving(
        closed,
        mode="paper",
        database=database,
        every_s=60.0,
        say=told.append,
        timer=timer,
        config=broken,
    ) as beside:
        outcome = bootstrap.run(_request(database), pace=pacer, closed_bars=closed)
    assert beside is not None
    assert outcome.result.final_equity == alone.result.final_equity
    assert _fills(outcome) == _fills(alone)
    scheduler = beside.scheduler
    assert scheduler.gave_up
    assert len(scheduler.failures) == 5
    assert all(f.error.startswith("DataError: --timeframe 15m") for f in scheduler.failures)
    assert told[-1].startswith("discovery: stopped after 5 failed steps in a row")
    with Store.open(database) as reader:
        paper = reader.get_run(outcome.run_id)
        assert reader.evolution_runs() == []
    assert paper is not None
    assert paper.status == "finished"
