"""The discovery loop's store: the same tests on SQLite (unit) and PostgreSQL (integration).

A backend's test module imports these with `storage_contract`'s and defines `database_url`.
What is proved: patterns, lineage, scores and trials come back as written; a cycle is written
whole or not at all (a statement failing at its end, a SIGKILL before its commit); cycles are
accepted only in turn, so a resumed run's ledger stays dense; an 0002 database holding a run
upgrades to 0003 and back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, inspect, text

from coinswarm.domain.pattern import Condition, Exit, Pattern, Sample, Score, Side, Source
from coinswarm.infra.storage import (
    IMPORTED,
    CycleOrderError,
    EvolutionStatus,
    LineageLink,
    PatternUpdate,
    RunExistsError,
    StorageError,
    Store,
    StoredPattern,
    Trial,
    current_revision,
    head_revision,
    upgrade,
)
from coinswarm.infra.storage.database import connect
from coinswarm.infra.storage.migrate import _config
from generators import START_NS

__all__ = [
    "test_a_cycle_failing_at_its_last_statement_leaves_nothing_of_it",
    "test_a_cycle_out_of_turn_is_refused",
    "test_a_killed_cycle_is_lost_whole_and_the_resumed_ledger_stays_dense",
    "test_a_run_ends_once_and_only_an_unfinished_run_resumes",
    "test_an_0002_database_with_a_run_upgrades_to_0003_and_back",
    "test_imported_patterns_keep_their_scores_once",
    "test_patterns_are_listed_by_run_and_status",
    "test_patterns_lineage_scores_and_trials_round_trip",
    "test_the_trial_ledger_is_dense_across_cycles",
]

HOUR = 3_600_000_000_000
CONFIG = '{"seed":7,"windows":[[0,1]]}'


def rule(threshold: float, *, parents: tuple[str, ...] = (), source: Source = Source.CHAOS):
    return Pattern(
        entry=(Condition("rsi:14", "<", threshold), Condition("hour", ">", 3.0)),
        side=Side.LONG,
        exit=Exit(max_bars=24, take_profit=0.05, stop_loss=0.02),
        source=source,
        parents=parents,
        reference="test",
    )


def score(cycle: int, sharpe: float, sample: Sample = Sample.IN_SAMPLE, **metrics: float) -> Score:
    return Score(
        sample=sample,
        start_ns=START_NS + cycle * HOUR,
        end_ns=START_NS + (cycle + 500) * HOUR,
        instruments=("BTC-USDT", "ETH-USDT"),
        timeframe="1h",
        trades=12 + cycle,
        net_return=0.1 + cycle,
        sharpe=sharpe,
        cycle=cycle,
        **metrics,  # type: ignore[arg-type]
    )


def trials_of(cycle: int, count: int) -> list[Trial]:
    return [
        Trial(
            kind="child" if n % 2 else "chaos",
            in_sample_sharpe=n / 3 - cycle,
            out_of_sample_sharpe=None if n % 3 else 1e-300 * n,
            trades=n,
            pattern_id=None if n % 2 else f"{n:016x}",
            extras={"cycle": cycle, "n": n} if n == 1 else {},
        )
        for n in range(count)
    ]


def _id(stored: StoredPattern) -> str:
    return stored.pattern.id


def new_evolution_run(store: Store, created_ns: int = START_NS) -> str:
    run_id = f"evo-{uuid.uuid4().hex[:8]}"
    store.create_evolution_run(run_id, CONFIG, created_ns)
    return run_id


PARENT = rule(30.0)
CHILD = rule(25.0, parents=(PARENT.id, "ffffffffffffffff"), source=Source.EVOLVED)
GRANDCHILD = rule(20.0, parents=(CHILD.id,), source=Source.EVOLVED)
# Floats a text round trip would bend if it were not exact: a third, the smallest normal.
FULL = score(0, 1 / 3, max_drawdown=0.2, exposure=0.5, n_trials=40, deflated_sharpe=-0.1,
             pbo=2.2250738585072014e-308, spa_p=0.04, random_entry_p=0.01)  # fmt: skip


def _first_cycle(store: Store, run_id: str) -> None:
    store.commit_cycle(
        run_id,
        0,
        trials=trials_of(0, 5),
        patterns=[
            PatternUpdate(pattern=PARENT, status="candidate", born_cycle=0),
            PatternUpdate(pattern=CHILD, status="candidate", born_cycle=0, reason="bred"),
        ],
        scores=[(PARENT.id, FULL), (CHILD.id, score(0, -2.5e300)), (PARENT.id, score(0, 0.0))],
        state_json='{"population":["a"]}',
    )


# -- round trip --------------------------------------------------------------------------------


def test_patterns_lineage_scores_and_trials_round_trip(store: Store) -> None:
    run_id = new_evolution_run(store)
    _first_cycle(store, run_id)
    holdout = score(1, 0.7, Sample.HOLDOUT)
    after = store.commit_cycle(
        run_id,
        1,
        trials=trials_of(1, 3),
        # Carrying its scores: they are not stored again, only `scores` is.
        patterns=[
            PatternUpdate(
                pattern=PARENT.with_score(FULL), status="proven", born_cycle=9, reason="holdout"
            ),
            PatternUpdate(pattern=GRANDCHILD, status="candidate", born_cycle=1),
        ],
        scores=[(PARENT.id, holdout)],
        state_json='{"population":["b"]}',
    )
    assert (after.last_cycle, after.next_cycle, after.state_json) == (1, 2, '{"population":["b"]}')
    assert store.evolution_run(run_id) == after
    assert (after.config_json, after.status, after.created_ns) == (CONFIG, "running", START_NS)

    proven = StoredPattern(
        run_id=run_id,
        pattern=PARENT,
        status="proven",
        reason="holdout",
        born_cycle=0,  # from its first write, not the update's 9
    )
    child = replace(proven, pattern=CHILD, status="candidate", reason="bred")
    grandchild = replace(child, pattern=GRANDCHILD, reason="", born_cycle=1)
    # By the cycle each was born in, then by id.
    assert store.patterns(run_id) == [*sorted([proven, child], key=_id), grandchild]
    found = store.pattern(PARENT.id)
    assert found is not None
    assert found.pattern.scores == (FULL, score(0, 0.0), holdout)  # compare=False on Pattern
    assert (
        found.pattern.to_json()
        == PARENT.with_score(FULL).with_score(score(0, 0.0)).with_score(holdout).to_json()
    )
    found = store.pattern(CHILD.id, run_id)
    assert found is not None
    assert found.pattern.parents == CHILD.parents
    assert found.pattern.scores == (score(0, -2.5e300),)
    assert store.lineage(GRANDCHILD.id) == [
        LineageLink(run_id, GRANDCHILD.id, CHILD.id),
        *sorted(
            [
                LineageLink(run_id, CHILD.id, PARENT.id),
                LineageLink(run_id, CHILD.id, "ffffffffffffffff"),
            ],
            key=lambda link: link.parent_id,
        ),
    ]
    assert store.lineage(PARENT.id) == []
    assert store.pattern("0000000000000000") is None

    stored = store.trials(run_id)
    assert [t.trial for t in stored] == trials_of(0, 5) + trials_of(1, 3)
    assert [(t.seq, t.cycle) for t in stored] == [(n, 0) for n in range(5)] + [
        (n, 1) for n in range(5, 8)
    ]
    assert store.trial_count(run_id) == 8


def test_patterns_are_listed_by_run_and_status(store: Store) -> None:
    older = new_evolution_run(store, START_NS)
    newer = new_evolution_run(store, START_NS + HOUR)
    _first_cycle(store, newer)
    _first_cycle(store, older)
    store.commit_cycle(
        older,
        1,
        patterns=[PatternUpdate(pattern=CHILD, status="rejected", born_cycle=0, retired_cycle=1)],
        state_json="{}",
    )
    listed = [(p.run_id, p.pattern.id, p.status) for p in store.patterns()]
    first, second = sorted([PARENT.id, CHILD.id])
    status = {PARENT.id: "candidate", CHILD.id: "rejected"}
    assert listed == [
        (older, first, status[first]),
        (older, second, status[second]),
        (newer, first, "candidate"),
        (newer, second, "candidate"),
    ]
    (rejected,) = store.patterns(status="rejected")
    assert (rejected.run_id, rejected.retired_cycle, rejected.pattern.scores) == (
        older,
        1,
        (score(0, -2.5e300),),
    )
    assert [p.run_id for p in store.patterns(newer, "candidate")] == [newer, newer]
    assert store.patterns(newer, "rejected") == []
    assert store.patterns("no-such-run") == []
    newest = store.pattern(CHILD.id)
    assert newest is not None
    assert newest.run_id == newer
    assert [r.run_id for r in store.evolution_runs()] == [older, newer]


def test_imported_patterns_keep_their_scores_once(store: Store) -> None:
    scored = CHILD.with_score(FULL).with_score(score(3, 1.5, Sample.OUT_OF_SAMPLE))
    assert store.import_patterns([scored, PARENT, scored], "lib.json", imported_ns=START_NS) == [
        CHILD.id,
        PARENT.id,
    ]
    assert store.import_patterns([scored, GRANDCHILD], "lib.json", imported_ns=START_NS) == [
        GRANDCHILD.id
    ]
    imported = store.patterns(status=IMPORTED)
    every = sorted([CHILD.id, GRANDCHILD.id, PARENT.id])
    assert [(p.run_id, p.pattern.id) for p in imported] == [("import:lib.json", i) for i in every]
    child = store.pattern(CHILD.id)
    assert child is not None
    assert child.pattern.scores == scored.scores
    assert (child.status, child.reason) == (IMPORTED, "imported from lib.json")
    assert [link.parent_id for link in store.lineage(GRANDCHILD.id, "import:lib.json")] == [
        CHILD.id,
        PARENT.id,
        "ffffffffffffffff",
    ]
    (run,) = store.evolution_runs()
    assert (run.imported, run.status, run.finished_ns) == (True, "finished", START_NS)
    with pytest.raises(StorageError, match="is finished"):
        store.commit_cycle(run.run_id, 0, state_json="{}")
    with pytest.raises(StorageError, match="kept for imports"):
        store.create_evolution_run("import:mine", CONFIG, START_NS)


# -- one cycle, whole or not at all ------------------------------------------------------------


def _fail_on_run_update(conn, cursor, statement, parameters, context, executemany) -> None:
    if statement.lstrip().upper().startswith("UPDATE EVOLUTION_RUNS"):
        raise RuntimeError("the database went away at the end of the cycle")


def _held(store: Store, run_id: str) -> tuple[object, ...]:
    return (store.evolution_run(run_id), store.patterns(run_id), store.trials(run_id))


def _second_cycle(store: Store, run_id: str) -> None:
    store.commit_cycle(
        run_id,
        1,
        trials=trials_of(1, 40),
        patterns=[
            PatternUpdate(pattern=PARENT, status="demoted", born_cycle=0),
            PatternUpdate(pattern=GRANDCHILD, status="candidate", born_cycle=1),
        ],
        scores=[(CHILD.id, score(1, 0.3)), (GRANDCHILD.id, score(1, 0.4))],
        state_json='{"population":["c"]}',
    )


def _listening(engine: Engine) -> None:
    event.listen(engine, "before_cursor_execute", _fail_on_run_update)


def test_a_cycle_failing_at_its_last_statement_leaves_nothing_of_it(store: Store) -> None:
    run_id = new_evolution_run(store)
    _first_cycle(store, run_id)
    before = _held(store, run_id)
    _listening(store.engine)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            _second_cycle(store, run_id)
    finally:
        event.remove(store.engine, "before_cursor_execute", _fail_on_run_update)
    assert _held(store, run_id) == before
    assert store.lineage(GRANDCHILD.id) == []
    _second_cycle(store, run_id)
    assert store.trial_count(run_id) == 45
    statuses = {p.pattern.id: p.status for p in store.patterns(run_id)}
    assert statuses == {PARENT.id: "demoted", CHILD.id: "candidate", GRANDCHILD.id: "candidate"}


_CHILD_PROCESS = """
import sys
sys.path.insert(0, sys.argv[2])
from coinswarm.infra.storage import Store
from evolution_store_contract import _second_cycle
with Store.open(sys.argv[1]) as store:
    _second_cycle(store, sys.argv[3])
print("not killed")
"""


def test_a_killed_cycle_is_lost_whole_and_the_resumed_ledger_stays_dense(
    store: Store, database_url: str
) -> None:
    run_id = new_evolution_run(store)
    _first_cycle(store, run_id)
    before = _held(store, run_id)
    tests = os.path.dirname(__file__)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD_PROCESS, database_url, tests, run_id],
        env={**os.environ, "COINSWARM_CRASH_AT": "evolution_cycle_written"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert _held(store, run_id) == before
    resumed = store.resume_evolution_run(run_id)
    assert (resumed.next_cycle, resumed.state_json) == (1, '{"population":["a"]}')
    _second_cycle(store, run_id)
    assert [t.seq for t in store.trials(run_id)] == list(range(45))


def test_a_cycle_out_of_turn_is_refused(store: Store) -> None:
    run_id = new_evolution_run(store)
    with pytest.raises(CycleOrderError, match=r"expected cycle 0 \(last committed: none yet\)"):
        store.commit_cycle(run_id, 1, trials=trials_of(1, 2), state_json="{}")
    _first_cycle(store, run_id)
    for wrong in (0, 2, -1):
        with pytest.raises(CycleOrderError, match=rf"expected cycle 1 .*found {wrong}"):
            store.commit_cycle(run_id, wrong, trials=trials_of(wrong, 2), state_json="{}")
    assert store.trial_count(run_id) == 5
    with pytest.raises(StorageError, match="expected a stored discovery run 'nope'"):
        store.commit_cycle("nope", 0, state_json="{}")
    with pytest.raises(StorageError, match="found a score of 0000000000000000"):
        store.commit_cycle(run_id, 1, scores=[("0000000000000000", FULL)], state_json="{}")
    twice = [PatternUpdate(pattern=GRANDCHILD, status="candidate", born_cycle=1)] * 2
    with pytest.raises(StorageError, match="one update per cycle, found two"):
        store.commit_cycle(run_id, 1, patterns=twice, state_json="{}")
    run = store.evolution_run(run_id)
    assert run is not None
    assert (run.last_cycle, run.state_json) == (0, '{"population":["a"]}')


def test_a_run_ends_once_and_only_an_unfinished_run_resumes(store: Store) -> None:
    run_id = new_evolution_run(store)
    with pytest.raises(RunExistsError, match=run_id):
        store.create_evolution_run(run_id, CONFIG, START_NS)
    _first_cycle(store, run_id)
    stopped = store.finish_evolution_run(run_id, EvolutionStatus.INTERRUPTED, START_NS + HOUR)
    assert (stopped.status, stopped.finished_ns) == ("interrupted", START_NS + HOUR)
    with pytest.raises(StorageError, match="is interrupted: expected a running run; resume it"):
        store.commit_cycle(run_id, 1, state_json="{}")
    resumed = store.resume_evolution_run(run_id)
    assert (resumed.status, resumed.finished_ns, resumed.next_cycle) == ("running", None, 1)
    with pytest.raises(StorageError, match="expected an ending status"):
        store.finish_evolution_run(run_id, "running", START_NS)
    store.finish_evolution_run(run_id, "finished", START_NS + 2 * HOUR)
    for attempt in (
        lambda: store.resume_evolution_run(run_id),
        lambda: store.finish_evolution_run(run_id, "failed", START_NS),
    ):
        with pytest.raises(StorageError, match="finished"):
            attempt()


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_cycle=st.lists(st.integers(0, 30), min_size=1, max_size=5))
def test_the_trial_ledger_is_dense_across_cycles(store: Store, per_cycle: list[int]) -> None:
    run_id = new_evolution_run(store)
    for cycle, count in enumerate(per_cycle):
        store.commit_cycle(run_id, cycle, trials=trials_of(cycle, count), state_json="{}")
        # A resumed run retrying the cycle it just committed is refused, adding nothing.
        with pytest.raises(CycleOrderError):
            store.commit_cycle(run_id, cycle, trials=trials_of(cycle, count), state_json="{}")
    stored = store.trials(run_id)
    assert [t.seq for t in stored] == list(range(sum(per_cycle)))
    assert [t.cycle for t in stored] == [c for c, n in enumerate(per_cycle) for _ in range(n)]
    assert store.trial_count(run_id) == sum(per_cycle)


# -- migration ---------------------------------------------------------------------------------

_RUN_0002 = (
    "INSERT INTO runs (id, mode, venue, strategy, parameters, inputs, status, ledger_events,"
    " created_ts, updated_ts, audit_seq) VALUES ('old-run', 'backtest', 'simulated:old-run',"
    " 'sma-cross', '{}', '{}', 'finished', 0, 1, 2, NULL)"
)
_PLACEHOLDER_ROW = (
    "INSERT INTO patterns (id, name, generation, parent_id, definition, status, created_ts,"
    " updated_ts) VALUES ('p1', 'three red bars', 0, NULL, '{}', 'candidate', 1, 1)"
)


def _tables(database_url: str) -> set[str]:
    engine = connect(database_url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _downgrade_to_0002(database_url: str) -> None:
    from alembic import command  # noqa: PLC0415 - only this test steps a migration back

    engine = connect(database_url)
    try:
        with engine.begin() as connection:
            command.downgrade(_config(connection), "0002")
    finally:
        engine.dispose()


def test_an_0002_database_with_a_run_upgrades_to_0003_and_back(database_url: str) -> None:
    assert upgrade(database_url, to="0002") == "0002"
    engine = connect(database_url)
    with engine.begin() as connection:
        connection.execute(text(_RUN_0002))
        connection.execute(text(_PLACEHOLDER_ROW))
    engine.dispose()
    assert upgrade(database_url) == head_revision()  # through 0003
    with Store.open(database_url) as store:
        run = store.get_run("old-run")
        assert run is not None
        assert (run.status, run.created_ts) == ("finished", 1)
        evolution = new_evolution_run(store)
        _first_cycle(store, evolution)
        assert store.trial_count(evolution) == 5
    # The placeholder's row was set aside, not lost.
    assert {"patterns_before_0003", "evolution_runs", "evolution_trials"} <= _tables(database_url)
    _downgrade_to_0002(database_url)
    assert current_revision(database_url) == "0002"
    tables = _tables(database_url)
    assert "patterns" in tables
    assert not tables & {"patterns_before_0003", "evolution_runs", "pattern_scores"}
    engine = connect(database_url)
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT id, name FROM patterns")).all()
        runs = connection.execute(text("SELECT id FROM runs")).scalars().all()
    engine.dispose()
    assert (kept, runs) == ([("p1", "three red bars")], ["old-run"])
    assert upgrade(database_url) == head_revision()  # and forward again
