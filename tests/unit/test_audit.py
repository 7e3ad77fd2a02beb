"""The audit log's hash chain: what an entry hashes, and that the chain refuses to be edited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from coinswarm.infra import audit
from coinswarm.infra.storage import StorageError, Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'audit.db'}", upgrade=True) as opened:
        yield opened


def _append(store: Store, n: int, **payload: object) -> audit.AuditEntry:
    with store.transaction() as session:
        return audit.append(
            session, ts=n, kind=audit.AuditKind.CONFIG_CHANGE, actor="ada", payload=payload
        )


def test_an_empty_log_verifies() -> None:
    report = audit.AuditReport(0, None, audit.GENESIS_HASH)
    assert report.ok
    assert str(report) == f"audit log intact: 0 entries, tip {audit.GENESIS_HASH}"


def test_entries_chain_from_the_genesis_hash(store: Store) -> None:
    first = _append(store, 1, b=2, a=1)
    second = _append(store, 2, a=1)
    assert (first.seq, first.prev_hash) == (1, audit.GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.payload == '{"a":1,"b":2}'  # canonical: sorted keys, no spaces
    assert first.data() == {"a": 1, "b": 2}
    report = audit.verify(store.engine)
    assert (report.ok, report.entries, report.tip_hash) == (True, 2, second.hash)
    assert audit.entries(store.engine, since=1) == [second]


def test_the_hash_covers_every_field() -> None:
    fields = {"seq": 1, "ts": 2, "kind": "order", "actor": "ada", "run_id": None, "payload": "{}"}
    base = audit.entry_hash(audit.GENESIS_HASH, **fields)  # type: ignore[arg-type]
    assert len(base) == 64
    for name, other in (("seq", 9), ("ts", 9), ("kind", "fill"), ("actor", "eve"),
                        ("run_id", "r"), ("payload", "{ }")):  # fmt: skip
        changed = {**fields, name: other}
        assert audit.entry_hash(audit.GENESIS_HASH, **changed) != base, name  # type: ignore[arg-type]
    assert audit.entry_hash("1" * 64, **fields) != base  # type: ignore[arg-type]


def test_an_entry_appended_in_a_rolled_back_transaction_is_gone(store: Store) -> None:
    _append(store, 1)

    def fail_after_append() -> None:
        with store.transaction() as session:
            audit.append(session, ts=2, kind="order", actor="ada", payload={})
            raise RuntimeError("the order was never stored")

    with pytest.raises(RuntimeError):
        fail_after_append()
    assert audit.verify(store.engine).entries == 1
    assert _append(store, 3).seq == 2


def test_the_database_refuses_updates_and_deletes(store: Store) -> None:
    _append(store, 1)
    for statement in ("UPDATE audit_log SET actor = 'eve'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
            connection.exec_driver_sql(statement)
    assert audit.verify(store.engine).ok


def test_a_payload_that_is_not_json_is_refused(store: Store) -> None:
    with pytest.raises(StorageError, match="JSON"):
        _append(store, 1, when=object())
    with pytest.raises(StorageError, match="JSON"):
        _append(store, 1, ratio=float("nan"))


def test_a_broken_report_names_the_entry() -> None:
    report = audit.AuditReport(3, audit.BrokenEntry(4, "its hash does not match"), "ab")
    assert not report.ok
    assert str(report) == "audit log broken at entry 4: its hash does not match"
