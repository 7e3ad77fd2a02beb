"""The run catalog on PostgreSQL: a run's lock is an advisory lock every connection sees, it
dies with its process, and deleting a run takes every row and keeps the audit log verifying.

Needs PostgreSQL on 127.0.0.1:5432 (it skips otherwise, saying so); each test has a database
of its own.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from coinswarm import bootstrap
from coinswarm.backtest import catalog, pruning
from coinswarm.backtest.catalog import Place
from coinswarm.infra import audit_anchor
from coinswarm.infra.storage import RunBusyError, Store
from coinswarm.infra.storage.database import resolve_url
from integration.test_storage_postgres import SERVER, _admin

NOW = 1_800_000_000 * 1_000_000_000


@pytest.fixture
def database_url() -> Iterator[str]:
    admin, user = _admin()
    name = f"coinswarm_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"postgresql+psycopg://{user}@{SERVER}/{name}"
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_run_lock_is_seen_by_every_connection_and_dies_with_its_process(
    database_url: str,
) -> None:
    Store.open(database_url, upgrade=True).close()
    holder = (
        "import time\n"
        "from coinswarm.infra.storage import Store\n"
        f"store = Store.open({database_url!r})\n"
        "held = store.locks().hold('run-pg')\n"
        "held.__enter__()\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n"
    )
    command = [sys.executable, "-c", holder]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "held"
            with Store.open(database_url) as store:
                locks = store.locks()
                assert locks.running(["run-pg", "run-other"]) == {"run-pg"}
                with pytest.raises(RunBusyError), locks.hold("run-pg"):
                    pass
                process.kill()
                process.wait(timeout=30)
                # The server notices the dropped connection on its own time.
                for _ in range(100):
                    if not locks.running(["run-pg"]):
                        break
                    time.sleep(0.1)
                assert locks.running(["run-pg"]) == set()
                with locks.hold("run-pg"):
                    assert locks.running(["run-pg"]) == {"run-pg"}
                assert locks.running(["run-pg"]) == set()
        finally:
            process.kill()


def test_deleting_a_run_on_postgresql_takes_every_row_and_claims_no_bytes(
    database_url: str,
    tmp_path: Path,
) -> None:
    Store.open(database_url, upgrade=True).close()
    runs = []
    for seed in (3, 4):
        request = bootstrap.BacktestRequest(
            strategy="committee", synthetic_bars=400, seed=seed, database=database_url
        )
        runs.append(bootstrap.run(request).run_id)
    where = [Place(resolve_url(database_url), database_url)]
    gone, kept = catalog.find_runs(where, runs, tmp_path)
    with Store.open(database_url) as store:
        kept_rows = store.row_counts(kept.run_id)
    report = pruning.delete_runs([gone], sessions_dir=tmp_path, ts=NOW, actor="ada", reason="t")
    (space,) = report.spaces
    assert space.reclaimed == 0
    assert space.note is not None
    assert "reuses the space" in space.note
    with Store.open(database_url) as store:
        assert store.get_run(gone.run_id) is None
        left = store.row_counts(gone.run_id)
        assert left.pop("audit_entries") > 0  # kept: the chain must not break
        assert set(left.values()) == {0}
        assert store.row_counts(kept.run_id) == kept_rows
        assert audit_anchor.verify(store.engine).ok
