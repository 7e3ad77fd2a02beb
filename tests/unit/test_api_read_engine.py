"""The API reads a database without ever writing to it or holding up the session that does.

The store begins its SQLite transactions IMMEDIATE (it writes); the API's own engine begins
them deferred and is query_only, so a dashboard reading mid-transaction never takes the one
write lock a running session needs for its next checkpoint.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from coinswarm.api.reads.stores import read_engine
from coinswarm.infra.storage import RunRecord, Store, resolve_url


def _run(run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id, mode="paper", venue=f"simulated:{run_id}", strategy="sma-cross",
        created_ts=1, updated_ts=1,
    )  # fmt: skip


def test_the_read_engine_cannot_write(tmp_path):
    url = resolve_url(f"sqlite:///{tmp_path / 'r.db'}")
    Store.open(url, upgrade=True).close()
    engine = read_engine(url)
    try:
        with engine.connect() as connection, pytest.raises(OperationalError, match="readonly"):
            connection.execute(text("DELETE FROM runs"))
    finally:
        engine.dispose()


def test_a_read_in_progress_does_not_hold_up_a_writer(tmp_path):
    url = resolve_url(f"sqlite:///{tmp_path / 'w.db'}")
    with Store.open(url, upgrade=True) as store:
        store.create_run(_run("run-a"))
        engine = read_engine(url)
        try:
            with engine.connect() as reader, reader.begin():
                before = reader.execute(text("SELECT count(*) FROM runs")).scalar()
                started = time.monotonic()
                store.create_run(_run("run-b"))  # would wait 10 s behind an IMMEDIATE reader
                assert time.monotonic() - started < 2
                # The reader keeps the snapshot it began with.
                assert reader.execute(text("SELECT count(*) FROM runs")).scalar() == before
        finally:
            engine.dispose()
        assert [r.run_id for r in store.runs()] == ["run-a", "run-b"]
