"""Kill a backtest with SIGKILL anywhere, resume it, and get exactly the uninterrupted run.

RELIABILITY scenarios 5 to 7 and 21 against the simulated exchange. The run's database (every
table: orders with their histories, fills, verdicts and votes, risk decisions, snapshots and the
whole hash-chained audit log) after kill + `coinswarm resume` must equal, row for row and hash
for hash, the database of a run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ARGS = ["--strategy", "committee", "--bars", "1500", "--checkpoint-every", "120", "--quiet"]
KILLS = 20


def coinswarm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coinswarm", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )


def dump(path: Path) -> dict[str, list[tuple]]:
    """Return every row of every table, in primary-key order."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        return {t: db.execute(f"select * from {t} order by rowid").fetchall() for t in tables}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    database = folder / "coinswarm.db"
    started = time.monotonic()
    done = coinswarm("backtest", *ARGS, "--json", "--db", f"sqlite:///{database}")
    duration = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    contents = dump(database)
    assert len(contents["fills"]) > 10
    assert len(contents["audit_log"]) > 50
    return summary, contents, duration


def same_database(database: Path, uninterrupted) -> None:
    _, contents, _ = uninterrupted
    resumed = dump(database)
    for table, rows in contents.items():
        assert resumed[table] == rows, table


def resume_and_compare(database: Path, uninterrupted) -> None:
    summary, _, _ = uninterrupted
    done = coinswarm("resume", summary["run"], "--json", "--db", f"sqlite:///{database}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == summary
    same_database(database, uninterrupted)
    verify = coinswarm("audit", "verify", "--db", f"sqlite:///{database}")
    assert verify.returncode == 0, verify.stdout


def test_kill_at_random_moments_then_resume_gives_the_uninterrupted_run(tmp_path, uninterrupted):
    _, _, duration = uninterrupted
    rng = random.Random(20251125)
    # Kills spread over most of a run's life; a loaded machine may run faster or slower later.
    delays = sorted(rng.uniform(0.0, 0.8 * duration) for _ in range(KILLS))
    killed = 0
    for n, delay in enumerate(delays):
        database = tmp_path / f"run-{n}.db"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coinswarm",
                "backtest",
                *ARGS,
                "--json",
                "--db",
                f"sqlite:///{database}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait(timeout=60)
        summary, _, _ = uninterrupted
        done = coinswarm("resume", summary["run"], "--db", f"sqlite:///{database}", "--json")
        if done.returncode != 0 and "no run" in done.stderr:
            # Killed before the run was stored: starting it again is the resume.
            done = coinswarm("backtest", *ARGS, "--json", "--db", f"sqlite:///{database}")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == summary
        same_database(database, uninterrupted)  # equal audit rows, hashes included
    assert killed >= KILLS // 4  # enough kills must land while the run is working


@pytest.mark.parametrize(
    "point",
    [
        "after_checkpoint:1",  # the first checkpoint is durable, nothing after it
        "after_checkpoint:4",
        "checkpoint_before_snapshot:2",  # mid-transaction: the whole checkpoint is lost
        "storage_after_fill_row:3",  # scenario 7: killed while writing a fill
    ],
)
def test_kill_at_a_named_point_then_resume_gives_the_uninterrupted_run(
    tmp_path, uninterrupted, point
):
    database = tmp_path / "coinswarm.db"
    coinswarm("db", "upgrade", "--db", f"sqlite:///{database}")
    env = {**os.environ, "COINSWARM_CRASH_AT": point}
    killed = coinswarm("backtest", *ARGS, "--json", "--db", f"sqlite:///{database}", env=env)
    assert killed.returncode == -signal.SIGKILL
    resume_and_compare(database, uninterrupted)


def test_running_a_finished_run_again_checks_it_and_changes_nothing(tmp_path, uninterrupted):
    _, contents, _ = uninterrupted
    database = tmp_path / "coinswarm.db"
    first = coinswarm("backtest", *ARGS, "--json", "--db", f"sqlite:///{database}")
    again = coinswarm("backtest", *ARGS, "--json", "--db", f"sqlite:///{database}")
    assert first.stdout == again.stdout
    assert dump(database) == contents


def test_a_resume_refuses_a_database_whose_fills_no_longer_add_up(tmp_path, uninterrupted):
    summary, _, _ = uninterrupted
    database = tmp_path / "coinswarm.db"
    env = {**os.environ, "COINSWARM_CRASH_AT": "after_checkpoint:5"}
    coinswarm("backtest", *ARGS, "--json", "--db", f"sqlite:///{database}", env=env)
    with sqlite3.connect(database) as db:
        db.execute("delete from fills where rowid = (select max(rowid) from fills)")
    done = coinswarm("resume", summary["run"], "--db", f"sqlite:///{database}")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "snapshot" in done.stderr or "ledger" in done.stderr
