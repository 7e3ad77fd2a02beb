"""`coinswarm audit verify` and `coinswarm resume` against a database whose audit log was cut.

A real backtest writes a real database; the tampering goes past the append-only triggers the
way someone with the file would (drop them, delete or rewrite rows), and then the CLI must
name the anchor that disagrees and refuse to resume.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cli_harness import coinswarm
from coinswarm.infra import audit

ARGS = ["--strategy", "committee", "--bars", "600", "--checkpoint-every", "100", "--quiet"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """Return a database holding one finished backtest, its run id and its number of entries."""
    folder = tmp_path_factory.mktemp("audited")
    database = folder / "coinswarm.db"
    done = coinswarm("backtest", *ARGS, "--json", "--db", f"sqlite:///{database}", home=folder)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(database) as db:
        [(entries,)] = db.execute("select count(*) from audit_log").fetchall()
    assert entries > 10
    return database, json.loads(done.stdout)["run"], entries


def copy_of(finished: tuple[Path, str, int], folder: Path) -> Path:
    """Copy the database and its anchor file, as a person moving them both would."""
    database = folder / "coinswarm.db"
    database.write_bytes(finished[0].read_bytes())
    anchor = finished[0].with_name("coinswarm.db.audit-anchor")
    database.with_name(anchor.name).write_bytes(anchor.read_bytes())
    return database


def tamper(database: Path, statement: str, rows: list[tuple[object, ...]] | None = None) -> None:
    with sqlite3.connect(database) as db:
        db.execute("drop trigger audit_log_no_update")
        db.execute("drop trigger audit_log_no_delete")
        db.executemany(statement, rows or [()])


def verify(database: Path) -> tuple[int, list[str]]:
    done = coinswarm("audit", "verify", "--db", f"sqlite:///{database}", home=database.parent)
    return done.returncode, done.stdout.splitlines()


def test_an_untouched_database_verifies_with_its_anchors(finished, tmp_path):
    database = copy_of(finished, tmp_path)
    code, lines = verify(database)
    assert code == 0, lines
    assert lines[0].startswith(f"audit log intact: {finished[2]} entries")
    assert lines[1].startswith(f"anchors agree: anchor file {database}.audit-anchor (entry ")


def test_a_cut_tail_fails_verify_naming_each_anchor_and_resume_refuses(finished, tmp_path):
    database = copy_of(finished, tmp_path)
    _, run_id, entries = finished
    tamper(database, f"delete from audit_log where seq > {entries - 3}")
    code, lines = verify(database)
    assert code == 1
    assert lines[0] == f"audit log intact: {entries - 3} entries, tip " + lines[0].rsplit(" ")[-1]
    cut = (
        f"disagrees: it anchors entry {entries}, but the chain ends at entry {entries - 3}: "
        "its newest 3 entries were cut"
    )
    assert lines[1:] == [f"anchor file {database}.audit-anchor {cut}", f"run {run_id} {cut}"]
    resumed = coinswarm("resume", run_id, "--db", f"sqlite:///{database}", home=tmp_path)
    assert resumed.returncode == 2
    assert resumed.stderr.startswith(f"error: run {run_id} cannot be resumed: anchor file ")
    assert len(resumed.stderr.strip().splitlines()) == 1
    assert resumed.stdout == ""


def test_a_chain_rewritten_and_rehashed_fails_verify(finished, tmp_path):
    """Change the first entry and recompute every hash after it: the chain holds, the anchors
    do not."""
    database = copy_of(finished, tmp_path)
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "select seq, ts, kind, actor, run_id, payload from audit_log order by seq"
        ).fetchall()
    rewritten, prev = [], audit.GENESIS_HASH
    for seq, ts, kind, actor, run_id, payload in rows:
        body = '{"forged":true}' if seq == 1 else payload
        digest = audit.entry_hash(
            prev, seq=seq, ts=ts, kind=kind, actor=actor, run_id=run_id, payload=body
        )
        rewritten.append((body, prev, digest, seq))
        prev = digest
    tamper(database, "update audit_log set payload=?, prev_hash=?, hash=? where seq=?", rewritten)
    code, lines = verify(database)
    assert lines[0].startswith("audit log intact")  # recomputed well enough to fool the chain
    assert code == 1
    assert len(lines) == 3
    assert all(line.endswith("the chain was rewritten") for line in lines[1:])


def test_a_database_moved_without_its_anchor_file_is_named_until_re_anchored(finished, tmp_path):
    database = copy_of(finished, tmp_path)
    Path(f"{database}.audit-anchor").unlink()
    code, lines = verify(database)
    assert code == 1
    assert lines[1].startswith(f"anchor file {database}.audit-anchor disagrees: it is missing")
    anchored = coinswarm("audit", "anchor", "--db", f"sqlite:///{database}", home=tmp_path)
    assert anchored.returncode == 0, anchored.stderr
    assert anchored.stdout.startswith(f"anchor file written at entry {finished[2]}, hash ")
    assert verify(database)[0] == 0
