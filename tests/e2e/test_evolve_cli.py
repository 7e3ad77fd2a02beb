"""`coinswarm evolve` and `coinswarm patterns` as a person runs them: a demo run, its
leaderboard, a pattern shown, exported and imported, a run resumed; bad input refused with
one error line, exit code 2 and nothing written."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from cli_harness import coinswarm
from coinswarm.data.loader import write_bars
from coinswarm.data.synthetic import synthetic_market


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One short demo run, shared by the tests that read it."""
    home = tmp_path_factory.mktemp("home")
    db = f"sqlite:///{home / 'evolve.db'}"
    done = coinswarm("evolve", "--demo", "--cycles", "3", "--json", "--db", db, home=home)
    assert done.returncode == 0, done.stderr
    return home, db, json.loads(done.stdout)


def test_a_demo_run_prints_its_leaderboard_with_the_statistics_beside_each_score(demo):
    _, _, summary = demo
    assert summary["run"].startswith("evo-")
    assert summary["trials"] >= 100  # every chaos trade and candidate is counted
    assert 0.0 <= summary["pbo"] <= 1.0
    rows = summary["leaderboard"]
    assert rows
    for row in rows:
        assert row["status"] in ("proven", "rejected")
        assert row["n_trials"] == summary["trials"]
        assert row["deflated_sharpe"] is not None
        assert row["random_entry_p"] is not None
        samples = {score["sample"] for score in row["scores"]}
        assert {"in_sample", "out_of_sample"} <= samples
        if row["status"] == "rejected":
            assert row["reason"]  # "not proven" always says why


def test_patterns_list_proven_json_is_the_leaderboard_of_the_proven(demo):
    home, db, summary = demo
    listed = coinswarm("patterns", "list", "--json", "--db", db, home=home)
    assert listed.returncode == 0, listed.stderr
    assert [r["pattern_id"] for r in json.loads(listed.stdout)] == [
        r["pattern_id"] for r in summary["leaderboard"]
    ]
    proven = coinswarm("patterns", "list", "--proven", "--json", "--db", db, home=home)
    assert {r["pattern_id"] for r in json.loads(proven.stdout)} == set(summary["proven"])


def test_a_pattern_is_shown_exported_and_imported(demo, tmp_path):
    home, db, summary = demo
    first = summary["leaderboard"][0]["pattern_id"]
    shown = coinswarm("patterns", "show", first, "--db", db, home=home)
    assert shown.returncode == 0, shown.stderr
    assert first in shown.stdout
    assert "out_of_sample" in shown.stdout
    exported = tmp_path / "patterns.jsonl"
    done = coinswarm("patterns", "export", str(exported), "--all", "--db", db, home=home)
    assert done.returncode == 0, done.stderr
    other = f"sqlite:///{tmp_path / 'other.db'}"
    imported = coinswarm("patterns", "import", str(exported), "--db", other, home=home)
    assert imported.returncode == 0, imported.stderr
    again = coinswarm("patterns", "show", first, "--db", other, home=home)
    assert again.returncode == 0
    assert first in again.stdout


def test_the_same_inputs_twice_are_refused_pointing_at_the_run(demo):
    home, db, summary = demo
    done = coinswarm("evolve", "--demo", "--cycles", "3", "--db", db, home=home)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert summary["run"] in done.stderr


def test_a_run_killed_with_sigkill_resumes_to_the_same_leaderboard(tmp_path):
    home = tmp_path / "home"
    args = ("evolve", "--demo", "--cycles", "6", "--json")
    whole = coinswarm(*args, "--db", f"sqlite:///{tmp_path / 'whole.db'}", home=home)
    assert whole.returncode == 0, whole.stderr
    expected = json.loads(whole.stdout)
    killed_db = tmp_path / "killed.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "coinswarm", *args, "--db", f"sqlite:///{killed_db}"],
        env={**os.environ, "COINSWARM_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if _last_cycle(killed_db) is not None:  # a cycle is committed: kill it mid-run
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    resumed = coinswarm(
        "evolve",
        "--resume",
        expected["run"],
        "--json",
        "--db",
        f"sqlite:///{killed_db}",
        home=home,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["leaderboard"] == expected["leaderboard"]


def _last_cycle(path):
    if not path.exists():
        return None
    try:
        with sqlite3.connect(path, timeout=0.1) as connection:
            row = connection.execute("select last_cycle from evolution_runs").fetchone()
    except sqlite3.OperationalError:  # not migrated yet, or busy
        return None
    return None if row is None else row[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("evolve",), "--data: give at least one bar file"),
        (("evolve", "--data", "missing.csv"), "expected a data file, found nothing"),
        (("evolve", "--demo", "--timeframes", "7x"), "timeframe"),
        (("evolve", "--resume", "evo-000000000000"), "no discovery run"),
        (("patterns", "import", "missing.jsonl"), "no such patterns file"),
    ],
)
def test_bad_input_is_one_error_line_exit_2_and_nothing_written(tmp_path, args, message):
    home = tmp_path / "home"
    db_path = tmp_path / "bad.db"
    done = coinswarm(*args, "--db", f"sqlite:///{db_path}", home=home, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ")
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not _evolution_runs(db_path)


def test_data_too_short_for_the_walk_forward_windows_writes_no_run(tmp_path):
    short = tmp_path / "SHORT-USD-1h.csv"
    write_bars(synthetic_market(instrument="SHORT-USD", bars=600, seed=1), short)
    db_path = tmp_path / "short.db"
    done = coinswarm("evolve", "--data", str(short), "--db", f"sqlite:///{db_path}", home=tmp_path)
    assert done.returncode == 2
    assert "bars after the purge and embargo" in done.stderr
    assert not _evolution_runs(db_path)


def _evolution_runs(path):
    if not path.exists():
        return []
    with sqlite3.connect(path) as connection:
        tables = {r[0] for r in connection.execute("select name from sqlite_master")}
        if "evolution_runs" not in tables:
            return []
        return connection.execute("select run_id from evolution_runs").fetchall()


def test_ctrl_c_stops_after_the_cycle_in_hand_and_says_how_to_resume(tmp_path):
    home = tmp_path / "home"
    db = tmp_path / "stopped.db"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coinswarm",
            "evolve",
            "--demo",
            "--cycles",
            "6",
            "--db",
            f"sqlite:///{db}",
        ],
        env={**os.environ, "COINSWARM_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and _last_cycle(db) is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "coinswarm evolve --resume evo-" in err
    with sqlite3.connect(db) as connection:
        ((status, last),) = connection.execute("select status, last_cycle from evolution_runs")
    assert status == "interrupted"
    assert last < 5
