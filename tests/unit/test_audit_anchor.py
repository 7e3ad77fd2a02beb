"""The audit chain's anchors: where the anchor file lives, that it only moves forward, what a
missing file means, and the signatures a key adds."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from coinswarm.infra import audit, audit_anchor
from coinswarm.infra.audit_anchor import Anchor, AnchorFile
from coinswarm.infra.storage import Store
from storage_contract import new_run, raw

SECRET = "correct horse battery staple"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "coinswarm.db"


@pytest.fixture
def store(database: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{database}", upgrade=True) as opened:
        yield opened


def anchor_file(database: Path) -> AnchorFile:
    file = AnchorFile.for_url(make_url(f"sqlite:///{database}"))
    assert file is not None
    return file


def change(store: Store, n: int) -> None:
    store.record_config_change(ts=n, actor="ada", changes={"n": n})


def test_the_anchor_file_sits_beside_the_database_unless_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert anchor_file(tmp_path / "a.db").path == tmp_path / "a.db.audit-anchor"
    assert AnchorFile.for_url(make_url("sqlite://")) is None  # in memory: nothing to anchor
    server = AnchorFile.for_url(make_url("postgresql+psycopg://ada:secret@db:5432/coinswarm"))
    other_password = AnchorFile.for_url(make_url("postgresql://ada:other@db:5432/coinswarm"))
    other_database = AnchorFile.for_url(make_url("postgresql://ada:secret@db:5432/elsewhere"))
    assert server is not None
    assert other_password is not None
    assert other_database is not None
    assert server.path == other_password.path != other_database.path
    assert server.path.parent == Path(os.environ["COINSWARM_HOME"])  # the home of the data
    assert "secret" not in str(server.path)
    monkeypatch.setenv(audit_anchor.ANCHOR_FILE_VARIABLE, str(tmp_path / "kept" / "anchor.json"))
    assert anchor_file(tmp_path / "a.db").path == tmp_path / "kept" / "anchor.json"


def test_a_new_database_has_no_anchor_until_its_first_entry(store: Store, database: Path) -> None:
    report = audit_anchor.verify(store.engine)
    assert report.ok
    assert report.lines()[1].endswith(
        "(none yet), 0 run records; unsigned (no COINSWARM_AUDIT_KEY)"
    )
    run_id = new_run(store)
    change(store, 1)
    head = audit.verify(store.engine)
    assert anchor_file(database).read() == Anchor(head.entries, head.tip_hash)
    store.anchor_run(run_id)
    assert audit_anchor.verify(store.engine).ok


def test_the_file_only_moves_forward(tmp_path: Path) -> None:
    file = AnchorFile(tmp_path / "anchor")
    file.advance(Anchor(3, "c" * 64), create=False)
    assert file.read() is None  # not created unless asked
    file.advance(Anchor(3, "c" * 64), create=True)
    file.advance(Anchor(2, "b" * 64), create=True)
    file.advance(Anchor(3, "d" * 64), create=True)
    assert file.read() == Anchor(3, "c" * 64)
    file.advance(Anchor(4, "e" * 64), create=False)
    assert json.loads(file.path.read_text()) == {"seq": 4, "hash": "e" * 64, "mac": None}
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_two_writers_at_once_leave_the_file_at_the_final_head(database: Path) -> None:
    url = f"sqlite:///{database}"
    with Store.open(url, upgrade=True) as first, Store.open(url) as second:
        new_run(first)

        def write(store: Store, offset: int) -> None:
            for n in range(25):
                change(store, offset + n)

        threads = [
            threading.Thread(target=write, args=(writer, k * 100))
            for k, writer in enumerate((first, second))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        head = audit.verify(first.engine)
        assert head.entries == 51
        assert anchor_file(database).read() == Anchor(51, head.tip_hash)
        assert audit_anchor.verify(first.engine).ok


def test_a_deleted_file_is_named_and_not_quietly_recreated(store: Store, database: Path) -> None:
    run_id = new_run(store)
    store.set_run_status(run_id, "finished", 2)
    anchor_file(database).path.unlink()
    change(store, 3)  # a later writer must not paper over the deletion
    assert not anchor_file(database).exists()
    [problem] = audit_anchor.verify(store.engine).problems()
    assert problem.startswith(f"anchor file {anchor_file(database).path} disagrees: it is missing")
    assert "1 run records hold anchors" in problem


def test_a_garbled_file_is_named(store: Store, database: Path) -> None:
    new_run(store)
    anchor_file(database).path.write_text("not json")
    [problem] = audit_anchor.verify(store.engine).problems()
    assert "disagrees: it cannot be read: expected a JSON anchor" in problem


def test_the_first_run_anchor_creates_the_file_before_it_commits(
    store: Store, database: Path
) -> None:
    """A run anchor never exists without the file, even if the process dies right after."""
    run_id = new_run(store)
    anchor_file(database).path.unlink()  # as if killed between the run's commit and the file
    head = audit.verify(store.engine)

    def killed_before_the_commit() -> None:
        with store.transaction():
            store.anchor_run(run_id)
            raise RuntimeError("killed before the commit")

    with pytest.raises(RuntimeError):
        killed_before_the_commit()
    assert anchor_file(database).read() == Anchor(head.entries, head.tip_hash)
    assert audit_anchor.verify(store.engine).ok


def test_with_a_key_anchors_are_signed_and_checked(
    store: Store, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(audit_anchor.KEY_VARIABLE, SECRET)
    run_id = new_run(store)
    store.set_run_status(run_id, "finished", 2)
    held = anchor_file(database).read()
    assert held is not None
    assert held.mac == audit_anchor.sign(held.seq, held.hash, SECRET.encode())
    report = audit_anchor.verify(store.engine)
    assert report.ok
    assert report.lines()[-1].endswith("1 run records; signatures checked")
    monkeypatch.setenv(audit_anchor.KEY_VARIABLE, "another key")
    problems = audit_anchor.verify(store.engine).problems()
    assert len(problems) == 2
    assert all("signature does not match COINSWARM_AUDIT_KEY" in p for p in problems)
    assert all(SECRET not in line for line in audit_anchor.verify(store.engine).lines())


def test_a_forger_without_the_key_cannot_re_anchor_a_cut_chain(
    store: Store, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut the tail and rewrite both anchors to the new head, unsigned: refused."""
    monkeypatch.setenv(audit_anchor.KEY_VARIABLE, SECRET)
    run_id = new_run(store)
    for n in range(4):
        change(store, n)
    store.set_run_status(run_id, "finished", 9)
    raw(store, "DELETE FROM audit_log WHERE seq > 3")
    cut = audit.verify(store.engine)
    forged = {"seq": 3, "hash": cut.tip_hash, "mac": None}
    anchor_file(database).path.write_text(json.dumps(forged))
    with store.engine.begin() as connection:
        connection.execute(
            text("UPDATE runs SET audit_seq = 3, audit_hash = :h, audit_mac = NULL"),
            {"h": cut.tip_hash},
        )
    problems = audit_anchor.verify(store.engine).problems()
    assert [p.partition(" disagrees: ")[2] for p in problems] == [
        "it is unsigned, but COINSWARM_AUDIT_KEY is set: forged, or written without the key"
    ] * 2


def test_a_lost_file_is_written_afresh_only_when_the_rest_checks_out(
    store: Store, database: Path
) -> None:
    run_id = new_run(store)
    for n in range(4):
        change(store, n)
    store.set_run_status(run_id, "finished", 9)
    file = anchor_file(database)
    file.path.write_text("")  # lost in a disk fault
    assert not audit_anchor.verify(store.engine).ok
    head = audit.verify(store.engine)
    assert audit_anchor.reanchor(store.engine) == Anchor(head.entries, head.tip_hash)
    assert file.read() == Anchor(head.entries, head.tip_hash)
    assert audit_anchor.verify(store.engine).ok
    raw(store, "DELETE FROM audit_log WHERE seq > 3")
    file.path.unlink()
    with pytest.raises(audit_anchor.AuditMismatchError, match=f"run {run_id} disagrees: .*cut"):
        audit_anchor.reanchor(store.engine)
    assert not file.exists()
