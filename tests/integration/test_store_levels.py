"""`coinswarm backtest --store full|summary|none`: each level keeps exactly what it says.

One committee backtest (1,500 synthetic hours, a checkpoint every 120 bars) is run at every
level in a data folder of its own. full keeps everything; summary the run with its orders
(and their history), fills, deposits and final ledger, the same rows as full's, and the
run's folder; none nothing at all. Only full can be resumed; the others say so in one line.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cli_harness import coinswarm
from coinswarm.backtest.runs import EXPLANATIONS, read_explanations

ARGS = ("backtest", "--strategy", "committee", "--bars", "1500", "--checkpoint-every", "120")
ORDERS_AND_FILLS = ("intents", "orders", "order_state_changes", "fills", "deposits")
DECISIONS = ("verdicts", "votes", "risk_events")
RISK_KINDS = ("risk_decision", "risk_event", "manual_stop", "reset")


def rows(database: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(database) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        return {t: db.execute(f"select * from {t} order by rowid").fetchall() for t in tables}


def backtest(home: Path, level: str, *, crash_at: str | None = None):
    args = [*ARGS, "--store", level, "--json", "--quiet"]
    crash = {} if crash_at is None else {"COINSWARM_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, "-m", "coinswarm", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, **crash, "COINSWARM_HOME": str(home)},
    )


@pytest.fixture(scope="module")
def levels(tmp_path_factory):
    """Return, per level, its data folder and the run's --json summary."""
    ran = {}
    for level in ("full", "summary", "none"):
        home = tmp_path_factory.mktemp(level)
        done = backtest(home, level)
        assert done.returncode == 0, done.stderr
        ran[level] = home, json.loads(done.stdout)
    return ran


def without_store(summary: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in summary.items() if k != "store"}


def test_every_level_runs_the_same_backtest(levels):
    summaries = {level: summary for level, (_, summary) in levels.items()}
    assert [s["store"] for s in summaries.values()] == ["full", "summary", "none"]
    assert without_store(summaries["summary"]) == without_store(summaries["full"])
    assert without_store(summaries["none"]) == without_store(summaries["full"])
    assert summaries["full"]["fills"] > 10


def test_full_keeps_every_table(levels):
    home, _ = levels["full"]
    held = rows(home / "coinswarm.db")
    for table in (*ORDERS_AND_FILLS, *DECISIONS, "ledger_snapshots", "audit_log"):
        assert held[table], table
    assert len(held["ledger_snapshots"]) > 5  # a checkpoint every 120 bars


def test_summary_keeps_the_orders_and_fills_of_full_and_nothing_of_the_decisions(levels):
    full = rows(levels["full"][0] / "coinswarm.db")
    summary = rows(levels["summary"][0] / "coinswarm.db")
    for table in ORDERS_AND_FILLS:
        assert summary[table] == full[table], table  # the same rows, ids included
    for table in DECISIONS:
        assert summary[table] == [], table
    [snapshot] = summary["ledger_snapshots"]
    assert snapshot[1:] == full["ledger_snapshots"][-1][1:]  # the final ledger, the same
    last = full["ledger_snapshots"][-1][0]
    for table in ("snapshot_balances", "snapshot_positions", "snapshot_round_trips"):
        final = [r[1:] for r in full[table] if r[0] == last]
        assert [r[1:] for r in summary[table]] == final, table
    # The audit log: what full logs, but the risk layer's decisions and events.
    kept = [(e[2], e[5]) for e in full["audit_log"] if e[2] not in RISK_KINDS]
    assert [(e[2], e[5]) for e in summary["audit_log"]] == kept
    [run] = summary["runs"]
    assert run[6] == "finished"
    assert json.loads(run[5])["store"] == "summary"


def test_summary_and_full_keep_the_same_explanations_and_none_keeps_no_folder(levels):
    (full_home, full), (summary_home, summary) = levels["full"], levels["summary"]
    assert full["run"] == summary["run"]  # what is kept is not part of the run's id
    run = full["run"]
    assert read_explanations(summary_home / "runs", run) == read_explanations(
        full_home / "runs", run
    )
    assert (summary_home / "runs" / run / EXPLANATIONS).is_file()
    none_home, _ = levels["none"]
    assert not (none_home / "runs").exists()
    assert not (none_home / "coinswarm.db").exists()
    assert [p.name for p in none_home.iterdir() if p.name != "coinswarm.log"] == []


@pytest.mark.parametrize("level", ["full", "summary"])
def test_audit_verify_passes(levels, level):
    home, _ = levels[level]
    done = coinswarm("audit", "verify", home=home)
    assert done.returncode == 0, done.stdout + done.stderr


def test_only_a_full_run_resumes_the_others_say_why_in_one_line(levels):
    home, summary = levels["summary"]
    refused = coinswarm("resume", summary["run"], home=home)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: ")
    assert "stored with --store summary" in refused.stderr
    home, summary = levels["none"]
    nothing = coinswarm("resume", summary["run"], home=home)
    assert nothing.returncode == 2
    assert nothing.stderr.count("\n") == 1
    assert f"no run {summary['run']!r}" in nothing.stderr
    home, summary = levels["full"]
    again = coinswarm("resume", summary["run"], "--json", home=home)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == summary


def test_an_unknown_level_is_one_error_line_and_writes_nothing(tmp_path):
    done = backtest(tmp_path, "most")
    assert done.returncode == 2
    assert done.stderr == ("error: --store: expected one of full, summary, none, found 'most'\n")
    assert not (tmp_path / "coinswarm.db").exists()
    assert not (tmp_path / "runs").exists()


def test_a_summary_killed_in_its_one_write_is_written_whole_by_the_next_run(tmp_path, levels):
    killed = backtest(tmp_path, "summary", crash_at="storage_after_fill_row:3")
    assert killed.returncode == -signal.SIGKILL
    left = rows(tmp_path / "coinswarm.db")
    assert [r[6] for r in left["runs"]] == ["running"]
    assert all(left[table] == [] for table in ORDERS_AND_FILLS)  # all or nothing
    _, summary = levels["summary"]
    refused = coinswarm("resume", summary["run"], home=tmp_path)
    assert refused.returncode == 2
    assert "stored with --store summary" in refused.stderr
    again = backtest(tmp_path, "summary")
    assert again.returncode == 0, again.stderr
    written = rows(tmp_path / "coinswarm.db")
    expected = rows(levels["summary"][0] / "coinswarm.db")
    for table in (*ORDERS_AND_FILLS, "ledger_snapshots", "snapshot_round_trips"):
        assert written[table] == expected[table], table


def test_a_full_run_replaces_a_summary_and_a_summary_adds_nothing_to_a_full(tmp_path, levels):
    assert backtest(tmp_path, "summary").returncode == 0
    full = backtest(tmp_path, "full")
    assert full.returncode == 0, full.stderr
    written = rows(tmp_path / "coinswarm.db")
    expected = rows(levels["full"][0] / "coinswarm.db")
    # The summary's rows were deleted, so the full run's rows have new ids.
    for table in ("verdicts", "votes", "risk_events"):
        assert [r[1:] for r in written[table]] == [r[1:] for r in expected[table]], table
    assert [r[4:] for r in written["fills"]] == [r[4:] for r in expected["fills"]]
    assert json.loads(written["runs"][0][5])["store"] == "full"
    deleted = [e for e in written["audit_log"] if json.loads(e[5]).get("deleted")]
    assert len(deleted) == 1
    before = len(written["audit_log"])
    assert backtest(tmp_path, "summary").returncode == 0
    assert len(rows(tmp_path / "coinswarm.db")["audit_log"]) == before
    verify = coinswarm("audit", "verify", home=tmp_path)
    assert verify.returncode == 0, verify.stdout


def test_none_still_writes_the_report_it_is_asked_for(tmp_path):
    report = tmp_path / "report.html"
    done = coinswarm(
        "backtest", "--bars", "300", "--param", "fast=3", "--param", "slow=8",
        "--store", "none", "--report", str(report), home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Why did it trade?" in report.read_text(encoding="utf-8")
    assert "not kept (--store none)" in done.stdout
    assert not (tmp_path / "coinswarm.db").exists()
    assert not (tmp_path / "runs").exists()
