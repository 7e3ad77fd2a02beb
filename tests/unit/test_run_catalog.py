"""The run catalog: which runs are running or killed, how to resume each, what a prune removes,
and that deleting a run takes every row of it and keeps the audit log verifying."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from coinswarm import bootstrap
from coinswarm.backtest import catalog, pruning
from coinswarm.backtest.catalog import Place, RunEntry
from coinswarm.backtest.runs import RunNotFoundError
from coinswarm.infra import audit_anchor
from coinswarm.infra.audit import AuditKind, entries
from coinswarm.infra.storage import RunBusyError, RunLocks, RunRecord, RunStart, Store
from coinswarm.infra.storage.database import resolve_url

DAY = 86_400 * 1_000_000_000
NOW = 1_800_000_000 * 1_000_000_000
FUTURE = 4_000_000_000 * 1_000_000_000  # after any wall clock this test meets


def _record(run_id: str, mode: str = "backtest", status: str = "finished", **inputs: object):
    return RunRecord(
        run_id=run_id,
        mode=mode,
        venue=f"simulated:{run_id}",
        strategy="sma-cross",
        parameters={"fast": "3", "slow": "8"},
        inputs=inputs,
        status=status,
        created_ts=0,
        updated_ts=0,
    )


def _entry(
    run_id: str,
    *,
    mode: str = "backtest",
    status: str = "finished",
    started: int | None = None,
    option: str | None = None,
    **inputs: object,
) -> RunEntry:
    start = None if started is None else RunStart(1, "here", started, started)
    return RunEntry(
        record=_record(run_id, mode, status, **inputs),
        status=status,
        place=Place(resolve_url("sqlite:///x.db"), option),
        orders=0,
        fills=0,
        start=start,
        folder=None,
        summary=None,
    )


# -- status ------------------------------------------------------------------------------------


def test_a_run_left_running_with_no_process_holding_it_is_killed() -> None:
    assert catalog.status_of("running", held=True) == "running"
    assert catalog.status_of("running", held=False) == "killed"
    for stored in ("finished", "failed", "interrupted"):
        assert catalog.status_of(stored, held=False) == stored


def test_a_run_lock_is_held_while_held_and_refuses_a_second_holder(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'c.db'}", upgrade=True) as store:
        locks = store.locks()
        assert locks.running(["run-a"]) == set()
        with locks.hold("run-a"):
            assert locks.running(["run-a", "run-b"]) == {"run-a"}
            busy = pytest.raises(RunBusyError, match="run-a is running in another process")
            with busy, RunLocks.for_engine(store.engine).hold("run-a"):
                pass
            first = locks.started("run-a")
        assert locks.running(["run-a"]) == set()
        with locks.hold("run-a"):
            again = locks.started("run-a")
        assert first is not None
        assert again is not None
        assert again.first_ns == first.first_ns <= again.last_ns  # the first start is kept
        assert locks.forget("run-a") > 0
        assert locks.started("run-a") is None


def test_a_lock_dies_with_its_process_even_by_kill_9(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Store.open(url, upgrade=True).close()
    holder = (
        "import sys, time\n"
        "from coinswarm.infra.storage import Store\n"
        f"store = Store.open({url!r})\n"
        "held = store.locks().hold('run-k')\n"
        "held.__enter__()\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True
    ) as held:
        try:
            assert held.stdout is not None
            assert held.stdout.readline().strip() == "held"
            with Store.open(url) as store:
                assert store.locks().running(["run-k"]) == {"run-k"}
                held.kill()
                held.wait(timeout=30)
                assert store.locks().running(["run-k"]) == set()
        finally:
            held.kill()


# -- listing and finding -----------------------------------------------------------------------


def test_runs_are_listed_from_every_database_newest_first_and_filtered(tmp_path: Path) -> None:
    urls = {mode: f"sqlite:///{tmp_path / f'{mode}.db'}" for mode in ("backtest", "paper")}
    with Store.open(urls["backtest"], upgrade=True) as store:
        store.create_run(_record("run-old", status="finished"))
        store.create_run(_record("run-left", status="running"))  # nobody holds it: killed
        with store.locks().hold("run-old"):
            pass  # stamps when it started
    with Store.open(urls["paper"], upgrade=True) as store:
        store.create_run(_record("run-p", mode="paper", status="interrupted", started_ns=FUTURE))
    where = [Place(resolve_url(url), url) for url in urls.values()]
    listed = catalog.list_runs(where, tmp_path / "runs")
    assert {e.run_id: e.status for e in listed} == {
        "run-old": "finished",
        "run-left": "killed",
        "run-p": "interrupted",
    }
    assert listed[0].run_id == "run-p"  # started latest, by its inputs
    assert [e.run_id for e in catalog.list_runs(where, tmp_path, modes=["paper"])] == ["run-p"]
    killed = catalog.list_runs(where, tmp_path, statuses=["killed"])
    assert [e.run_id for e in killed] == ["run-left"]
    assert len(catalog.list_runs(where, tmp_path, limit=2)) == 2
    assert catalog.list_runs(where, tmp_path, strategy="committee") == []


def test_looking_never_creates_a_database_and_names_where_it_looked(tmp_path: Path) -> None:
    missing = tmp_path / "absent.db"
    where = [Place(resolve_url(f"sqlite:///{missing}"))]
    assert catalog.list_runs(where, tmp_path) == []
    with pytest.raises(RunNotFoundError, match=r"absent\.db \(no such file\)"):
        catalog.find_runs(where, ["run-x"], tmp_path)
    assert not missing.exists()


def test_a_run_id_in_two_databases_must_be_chosen_with_db(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db")]
    for url in urls:
        with Store.open(url, upgrade=True) as store:
            store.create_run(_record("run-twice"))
    where = [Place(resolve_url(url)) for url in urls]
    with pytest.raises(catalog.AmbiguousRunError, match="choose one with --db"):
        catalog.find_runs(where, ["run-twice"], tmp_path)


def test_an_unfinished_run_ignores_a_summary_left_by_an_earlier_run_of_its_id(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    folder = tmp_path / "runs" / "run-again"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text('{"final_equity": 123.0}')
    with Store.open(url, upgrade=True) as store:
        store.create_run(_record("run-again", status="running"))
        with store.locks().hold("run-again"):
            (entry,) = catalog.list_runs([Place(resolve_url(url))], tmp_path / "runs")
    assert entry.status == "running"
    assert entry.final_equity() is None
    with Store.open(url) as store:
        store.set_run_status("run-again", "finished", 1)
    (folder / "summary.json").write_text('{"final_equity": 456.0}')
    (entry,) = catalog.list_runs([Place(resolve_url(url))], tmp_path / "runs")
    assert entry.final_equity() == 456.0


# -- resuming ----------------------------------------------------------------------------------


def test_the_resume_command_of_each_mode() -> None:
    assert _entry("run-b", status="killed").resume().command == "coinswarm resume run-b"
    given = _entry("run-b", status="interrupted", option="sqlite:///my runs.db")
    assert given.resume().command == "coinswarm resume run-b --db 'sqlite:///my runs.db'"
    assert _entry("run-f").resume().command is None
    summary = _entry("run-s", status="killed", store="summary").resume()
    assert summary.command is None
    assert "--store summary" in str(summary.note)
    assert _entry("run-r", status="running").resume().command is None
    paper = _entry("run-p", mode="paper", status="killed", started_ns=NOW)
    assert paper.resume().command == "coinswarm resume run-p"
    old_paper = _entry("run-o", mode="paper", status="killed").resume()
    assert old_paper.command is None
    assert "recorded their start" in str(old_paper.note)
    local = _entry("sandbox-l", mode="sandbox", status="interrupted", url=None).resume()
    assert local.command is None
    assert "default local exchange" in str(local.note)
    live = _entry(
        "live-1", mode="live", status="failed", url="https://x.test", products=["BTC-USD"]
    )
    assert live.resume().command == (
        "coinswarm live --url https://x.test --product BTC-USD --strategy sma-cross "
        "--param fast=3 --param slow=8 --resume live-1"
    )
    assert live.resume().note == "add the --phase it ran with"
    phased = replace(live, record=replace(live.record, inputs={**live.record.inputs, "phase": "3"}))
    assert "--phase 3 --resume live-1" in str(phased.resume().command)


# -- pruning -----------------------------------------------------------------------------------


def test_prune_takes_only_runs_matching_every_criterion_and_spares_the_unsafe() -> None:
    entries = [
        _entry("b-new", started=NOW - DAY),
        _entry("b-old", started=NOW - 40 * DAY),
        _entry("b-older", started=NOW - 50 * DAY, status="failed"),
        _entry("b-unknown"),
        _entry("b-running", status="running", started=NOW - 60 * DAY),
        _entry("l-old", mode="live", started=NOW - 60 * DAY),
    ]

    def plan(**rules: object) -> tuple[list[str], list[str]]:
        made = pruning.plan_prune(entries, pruning.PruneRules(**rules), now_ns=NOW)
        return [e.run_id for e in made.chosen], [e.run_id for e, _ in made.spared]

    month = 30 * DAY
    assert plan(older_than_ns=month) == (
        ["b-old", "b-older"],
        ["b-unknown", "b-running", "l-old"],
    )
    assert plan(older_than_ns=month, include_live=True)[0] == ["b-old", "b-older", "l-old"]
    assert plan(statuses=frozenset({"failed"})) == (["b-older"], [])
    # the newest one of each mode stays; the running one is spared, not pruned
    assert plan(keep=1) == (["b-old", "b-older", "b-unknown"], ["b-running"])
    assert pruning.PruneRules().empty


def test_deleting_a_running_or_a_live_run_is_refused_before_anything_goes() -> None:
    with pytest.raises(pruning.RunInUseError, match="is running"):
        pruning.check_deletable([_entry("a"), _entry("b", status="running")], allow_live=True)
    with pytest.raises(pruning.LiveRunError, match="pass --yes"):
        pruning.check_deletable([_entry("l", mode="live")], allow_live=False)
    pruning.check_deletable([_entry("l", mode="live", status="killed")], allow_live=True)


# -- deleting ----------------------------------------------------------------------------------


def _backtest(url: str, seed: int) -> str:
    request = bootstrap.BacktestRequest(
        strategy="committee", synthetic_bars=600, seed=seed, database=url, checkpoint_every=100
    )
    return bootstrap.run(request).run_id


def _table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        names = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        skip = {"audit_log", "alembic_version"}
        return {
            name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in names
            if name not in skip
        }


def test_deleting_a_run_removes_every_row_and_file_and_the_audit_log_still_verifies(
    tmp_path: Path,
) -> None:
    both, alone = tmp_path / "both.db", tmp_path / "alone.db"
    gone = _backtest(f"sqlite:///{both}", seed=3)
    kept = _backtest(f"sqlite:///{both}", seed=4)
    assert _backtest(f"sqlite:///{alone}", seed=4) == kept
    runs_dir, sessions = tmp_path / "runs", tmp_path / "sessions"
    (runs_dir / gone).mkdir(parents=True)
    (runs_dir / gone / "summary.json").write_text("{}")
    sessions.mkdir()
    (sessions / f"{gone}.jsonl").write_text("x\n")
    (sessions / f"{gone}.2.jsonl").write_text("y\n")
    (sessions / f"{kept}.jsonl").write_text("z\n")
    where = [Place(resolve_url(f"sqlite:///{both}"))]
    (entry,) = catalog.find_runs(where, [gone], runs_dir)
    with Store.open(f"sqlite:///{both}") as store:
        before = store.row_counts(gone)
    assert min(before[k] for k in ("verdicts", "votes", "fills", "risk_events", "orders")) > 0

    report = pruning.delete_runs(
        [entry], sessions_dir=sessions, ts=NOW, actor="ada", reason="a test"
    )

    # Every table now holds exactly what a database that only ever had the kept run holds.
    assert _table_counts(both) == _table_counts(alone)
    assert not (runs_dir / gone).exists()
    assert sorted(p.name for p in sessions.iterdir()) == [f"{kept}.jsonl"]
    (removal,) = report.removed
    assert removal.rows == {k: v for k, v in before.items() if k != "audit_entries"}
    (space,) = report.spaces
    assert space.after is not None
    assert space.before is not None
    assert space.after < space.before
    assert report.bytes_reclaimed == space.reclaimed + removal.file_bytes > 0
    with Store.open(f"sqlite:///{both}") as store:
        assert audit_anchor.verify(store.engine).ok
        last = entries(store.engine)[-1]
        assert store.get_run(gone) is None
    assert (last.kind, last.actor, last.run_id) == (AuditKind.RUN, "ada", gone)
    assert last.data()["deleted"] is True
    assert last.data()["rows"]["verdicts"] == before["verdicts"]


def test_a_run_that_started_again_meanwhile_is_not_deleted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Store.open(url, upgrade=True) as store:
        store.create_run(_record("run-busy", status="interrupted"))
    (entry,) = catalog.find_runs([Place(resolve_url(url))], ["run-busy"], tmp_path)
    with Store.open(url) as store, store.locks().hold("run-busy"):
        report = pruning.delete_runs(
            [entry], sessions_dir=tmp_path, ts=NOW, actor="ada", reason="a test"
        )
        assert report.busy == ("run-busy",)
        assert report.removed == ()
        assert store.get_run("run-busy") is not None


def test_show_gives_why_a_run_failed_and_its_last_checkpoint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Store.open(url, upgrade=True) as store:
        store.create_run(_record("run-f", status="running"))
        store.set_run_status("run-f", "failed", 1, reason="ValueError: no mark for BTC-USD")
    where = [Place(resolve_url(url))]
    (entry,) = catalog.find_runs(where, ["run-f"], tmp_path)
    shown = catalog.details(entry, tmp_path / "sessions").to_json()
    assert shown["status"] == "failed"
    assert shown["reason"] == "ValueError: no mark for BTC-USD"
    assert shown["last_checkpoint"] is None
    assert shown["resume"] == "coinswarm resume run-f"
