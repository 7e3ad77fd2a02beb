"""`coinswarm runs ...` and interrupted runs, from the command line.

Two backtests and a paper run are listed, shown, compared, deleted (every row goes, the audit
log still verifies) and pruned (the database file shrinks); a backtest and a paper run stopped
with SIGINT print the command that resumes them, and that command finishes them; a run killed
with SIGKILL is listed as killed, with the same command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cli_harness import coinswarm

SMA = ("--strategy", "sma-cross", "--param", "fast=3", "--param", "slow=8")
# Tables whose rows do not belong to trading runs (the audit log keeps its entries by design;
# discovery runs are not `coinswarm runs`' business).
DISCOVERY = {"evolution_runs", "patterns", "pattern_lineage", "pattern_scores", "evolution_trials"}
NOT_RUN_ROWS = {"audit_log", "alembic_version", "runs", *DISCOVERY}


def _json(*args: str, home: Path) -> Any:
    done = coinswarm(*args, "--json", home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _size(database: Path) -> int:
    files = (database, database.with_name(database.name + "-wal"))
    return sum(p.stat().st_size for p in files if p.exists())


def _run_rows(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        names = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return sum(
            connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in names
            if name not in NOT_RUN_ROWS
        )


def test_runs_are_listed_shown_compared_deleted_and_pruned(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sma = _json("backtest", "--bars", "800", *SMA, "--quiet", home=home)["run"]
    committee = _json("backtest", "--strategy", "committee", "--bars", "600", "--quiet", home=home)
    paper = _json("paper", "--bars", "300", "--speed", "max", *SMA, "--quiet", home=home)

    listed = {r["run"]: r for r in _json("runs", "list", home=home)["runs"]}
    assert set(listed) == {sma, committee["run"], paper["run"]}
    assert {r["mode"] for r in listed.values()} == {"backtest", "paper"}
    assert {r["status"] for r in listed.values()} == {"finished"}
    assert listed[paper["run"]]["database"] == str(home / "paper.db")
    assert listed[committee["run"]]["final_equity"] == committee["final_equity"]
    assert listed[committee["run"]]["orders"] == committee["orders"]
    only_paper = _json("runs", "list", "--mode", "paper", home=home)["runs"]
    assert [r["run"] for r in only_paper] == [paper["run"]]
    only_committee = _json("runs", "list", "--strategy", "committee", home=home)["runs"]
    assert [r["run"] for r in only_committee] == [committee["run"]]

    shown = _json("runs", "show", sma, home=home)
    assert shown["status"] == "finished"
    assert shown["resume"] is None
    assert shown["rows"]["orders"] == shown["orders"] > 0
    assert str(home / "runs" / sma / "summary.json") in shown["files"]
    text = coinswarm("runs", "show", committee["run"], home=home)
    assert text.returncode == 0, text.stderr
    assert "status: finished" in text.stdout
    assert "verdicts" in text.stdout

    compared = _json("runs", "compare", sma, committee["run"], home=home)["runs"]
    assert [r["run"] for r in compared] == [sma, committee["run"]]
    table = coinswarm("runs", "compare", sma, committee["run"], paper["run"], home=home)
    assert table.returncode == 0, table.stderr
    assert "total_return" in table.stdout
    assert all(run in table.stdout for run in (sma, committee["run"], paper["run"]))

    # Delete one backtest: what remains is exactly the other one's rows.
    database = home / "coinswarm.db"
    deleted = coinswarm("runs", "delete", sma, home=home)
    assert deleted.returncode == 0, deleted.stderr
    assert "reclaimed" in deleted.stdout
    kept = _json("runs", "show", committee["run"], home=home)["rows"]
    assert _run_rows(database) == sum(v for k, v in kept.items() if k != "audit_entries")
    assert not (home / "runs" / sma).exists()
    gone = coinswarm("runs", "show", sma, home=home)
    assert gone.returncode == 2
    assert gone.stderr.startswith(f"error: no run {sma!r}")
    verified = coinswarm("audit", "verify", home=home)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # Prune the paper run: its database shrinks by what the report says it reclaimed.
    paper_db = home / "paper.db"
    before = _size(paper_db)
    pruned = _json("runs", "prune", "--mode", "paper", "--status", "finished", home=home)
    assert pruned["chosen"] == [paper["run"]]
    (space,) = pruned["databases"]
    assert space["bytes_reclaimed"] == before - _size(paper_db) > 0
    assert pruned["bytes_reclaimed"] > space["bytes_reclaimed"]  # its files went too
    verified = coinswarm("audit", "verify", "--db", f"sqlite:///{paper_db}", home=home)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    left = _json("runs", "list", home=home)["runs"]
    assert [r["run"] for r in left] == [committee["run"]]


def test_bad_runs_commands_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for args, message in (
        (("runs", "list", "--status", "gone"), "error: --status: expected running,"),
        (("runs", "list", "--mode", "demo"), "error: --mode: expected backtest,"),
        (("runs", "prune"), "error: expected at least one of --older-than, --status or --keep"),
        (("runs", "compare", "run-1"), "error: expected two or more run ids"),
        (("runs", "delete", "run-1"), "error: no run 'run-1' in"),
    ):
        done = coinswarm(*args, home=home)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith(message), (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
    assert not home.exists() or not list(home.glob("*.db"))


def _start(
    args: list[str], home: Path, extra: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "COINSWARM_HOME": str(home), "PYTHONUNBUFFERED": "1", **(extra or {})}
    command = [sys.executable, "-m", "coinswarm", *args]
    pipe = subprocess.PIPE
    return subprocess.Popen(command, stdout=pipe, stderr=pipe, text=True, env=env)


def _wait_for(database: Path, query: str, process: subprocess.Popen[str]) -> None:
    """Wait until `query` finds a row in `database` (the run got that far)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
                if connection.execute(query).fetchone():
                    return
        except sqlite3.OperationalError:
            pass  # not created, or not migrated, yet
        time.sleep(0.05)
    raise AssertionError(f"{query} found nothing in {database} within 120 s")


def _resume_command(stderr: str) -> list[str]:
    (line,) = [line for line in stderr.splitlines() if line.startswith("resume it with: ")]
    return shlex.split(line.removeprefix("resume it with: "))


def test_a_backtest_stopped_by_ctrl_c_prints_the_command_that_finishes_it(
    tmp_path: Path,
) -> None:
    home, database = tmp_path / "home", tmp_path / "b.db"
    url = f"sqlite:///{database}"
    # A checkpoint every bar: slow enough to interrupt, and a checkpoint to resume from.
    args = ["backtest", "--bars", "600", "--checkpoint-every", "1", *SMA, "--db", url, "--quiet"]
    with _start(args, home) as process:
        _wait_for(database, "SELECT 1 FROM ledger_snapshots", process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    (run,) = [r["run"] for r in _json("runs", "list", "--db", url, home=home)["runs"]]
    assert f"interrupted: run {run} stopped before its end" in stderr
    command = _resume_command(stderr)
    assert command == ["coinswarm", "resume", run, "--db", url]
    shown = _json("runs", "show", run, "--db", url, home=home)
    assert shown["status"] == "interrupted"
    assert shown["resume"] == shlex.join(command)
    assert shown["final_equity"] is None

    resumed = _json(*command[1:], home=home)
    assert resumed["run"] == run
    assert resumed["bars"] == 600
    shown = _json("runs", "show", run, "--db", url, home=home)
    assert shown["status"] == "finished"
    assert shown["final_equity"] == resumed["final_equity"]
    again = _json("backtest", "--bars", "600", *SMA, "--db", f"sqlite:///{tmp_path / 'x.db'}",
                  "--quiet", home=home)  # fmt: skip
    assert again["final_equity"] == resumed["final_equity"]  # as if never interrupted


def test_a_paper_run_stopped_by_ctrl_c_is_resumed_from_paper_db_by_its_id(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    args = ["paper", "--bars", "400", "--speed", "36000", *SMA, "--quiet"]  # 10 bars a second
    with _start(args, home) as process:
        _wait_for(home / "paper.db", "SELECT 1 FROM runs", process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    # Ctrl-C ends a paper run cleanly after its bar: what it did is saved, then resumable.
    assert process.returncode == 0, stderr[-3000:]
    command = _resume_command(stderr)
    assert command[:2] == ["coinswarm", "resume"]
    assert len(command) == 3  # no --db: resume finds paper.db by itself
    run = command[2]
    listed = _json("runs", "list", "--status", "interrupted", home=home)["runs"]
    assert [r["run"] for r in listed] == [run]

    resumed = _json(*command[1:], home=home)
    assert resumed["run"] == run
    assert resumed["bars"] == 400
    assert _json("runs", "show", run, home=home)["status"] == "finished"
    assert not (home / "coinswarm.db").exists()  # looking there created nothing


def test_a_run_killed_outright_is_listed_as_killed_with_its_resume_command(
    tmp_path: Path,
) -> None:
    home, database = tmp_path / "home", tmp_path / "k.db"
    url = f"sqlite:///{database}"
    # Long enough to outlast two other commands; it never gets to finish.
    args = ["backtest", "--bars", "20000", "--checkpoint-every", "1", *SMA, "--db", url, "--quiet"]
    with _start(args, home) as process:
        _wait_for(database, "SELECT 1 FROM ledger_snapshots", process)
        (entry,) = _json("runs", "list", "--db", url, home=home)["runs"]
        refused = coinswarm("runs", "delete", entry["run"], "--db", url, home=home)
        process.kill()
        process.communicate(timeout=120)
    run = entry["run"]
    assert entry["status"] == "running"
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: run {run} is running; stop it first")
    (entry,) = _json("runs", "list", "--db", url, home=home)["runs"]
    assert entry["status"] == "killed"
    assert entry["resume"] == f"coinswarm resume {run} --db {url}"
    deleted = coinswarm("runs", "delete", run, "--db", url, home=home)
    assert deleted.returncode == 0, deleted.stderr
    assert _json("runs", "list", "--db", url, home=home)["runs"] == []


def _serve(tmp_path: Path) -> tuple[_Server, str, dict[str, str], Path]:
    """Start `coinswarm exchange serve`; return it, its REST URL, the sandbox's key variables
    and the certificate authority to trust."""
    key_file, ca = tmp_path / "key.json", tmp_path / "ca.pem"
    args = ["exchange", "serve", "--port", "0", "--key-out", str(key_file), "--cert-out", str(ca),
            "--bar-seconds", "0.3"]  # fmt: skip
    env = {**os.environ, "COINSWARM_HOME": str(tmp_path / "server-home"), "PYTHONUNBUFFERED": "1"}
    with (tmp_path / "server.log").open("w") as log:  # never a full pipe that stalls it
        server = subprocess.Popen(
            [sys.executable, "-m", "coinswarm", *args],
            stdout=subprocess.PIPE, stderr=log, text=True, env=env,
        )  # fmt: skip
    base = None
    deadline = time.monotonic() + 120
    while base is None:
        assert time.monotonic() < deadline, "exchange serve printed no REST address"
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line, "exchange serve ended before it printed its address"
        found = re.search(r"REST: (https://127\.0\.0\.1:\d+)/api/v3/brokerage", line)
        base = found.group(1) if found else None
    draining = threading.Thread(target=server.stdout.read, daemon=True)  # never a full pipe
    draining.start()
    key = json.loads(key_file.read_text())
    env = {
        "COINSWARM_SANDBOX_KEY_NAME": key["name"],
        "COINSWARM_SANDBOX_PRIVATE_KEY": key["privateKey"],
    }
    return _Server(server, draining), base, env, ca


class _Server:
    """The exchange process and the thread that drains its output, stopped together."""

    def __init__(self, process: subprocess.Popen[str], draining: threading.Thread) -> None:
        self.process, self.draining = process, draining

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        finally:
            self.process.kill()
            self.process.wait()
            self.draining.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()


def test_a_sandbox_session_stopped_by_ctrl_c_prints_the_command_that_resumes_it(
    tmp_path: Path,
) -> None:
    home, database = tmp_path / "home", tmp_path / "s.db"
    url = f"sqlite:///{database}"
    server, base, keys, ca = _serve(tmp_path)
    try:
        args = ["sandbox", "--url", base, "--product", "BTC-USD", "--ca-file", str(ca), *SMA,
                "--warmup", "20", "--db", url, "--quiet"]  # fmt: skip
        with _start(args, home, keys) as session:
            _wait_for(database, "SELECT 1 FROM ledger_snapshots", session)
            session.send_signal(signal.SIGINT)
            _, stderr = session.communicate(timeout=120)
        assert session.returncode == 0, stderr[-3000:]
        command = _resume_command(stderr)
        (entry,) = _json("runs", "list", "--db", url, home=home)["runs"]
        assert entry["status"] == "interrupted"
        assert entry["resume"] == shlex.join(command)
        assert command[:4] == ["coinswarm", "sandbox", "--url", base]
        assert command[-2:] == ["--resume", entry["run"]]
        assert "--ca-file" in command
        # The command as printed, told to stop after two more bars.
        resumed = coinswarm(*command[1:], "--bars", "2", "--json", home=home, env=keys)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert json.loads(resumed.stdout)["run"] == entry["run"]
        shown = _json("runs", "show", entry["run"], "--db", url, home=home)
        assert shown["status"] == "finished"
    finally:
        server.stop()
