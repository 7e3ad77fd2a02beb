"""The crash test on PostgreSQL: a run killed mid-checkpoint and resumed equals one never killed.

Needs PostgreSQL on 127.0.0.1:5432 (it skips otherwise, saying so). Each run gets a database
of its own, created through the `test` database and dropped afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from psycopg import sql

from coinswarm.infra import audit
from coinswarm.infra.storage import Store
from integration.test_storage_postgres import SERVER, _admin

ARGS = [
    "backtest",
    "--strategy",
    "committee",
    "--bars",
    "1500",
    "--checkpoint-every",
    "120",
    "--quiet",
    "--json",
]


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    admin, user = _admin()
    names = [f"coinswarm_test_{secrets.token_hex(6)}" for _ in range(2)]
    with admin:
        for name in names:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            first, second = (f"postgresql+psycopg://{user}@{SERVER}/{n}" for n in names)
            yield first, second
        finally:
            for name in names:
                admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def coinswarm(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "coinswarm", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )


def contents(url: str, run: str):
    with Store.open(url) as store:
        entries = [(e.seq, e.kind, e.payload, e.hash) for e in audit.entries(store.engine)]
        orders = [
            (o.order_id, o.client_order_id, o.status, o.filled_quantity, o.fees, o.updated_ts)
            for o in store.orders(run)
        ]
        return store.fills(run), orders, store.verdicts(run), entries


def test_kill_mid_checkpoint_then_resume_on_postgresql(databases):
    whole, killed = databases
    for url in databases:
        assert coinswarm("db", "upgrade", "--db", url).returncode == 0
    done = coinswarm(*ARGS, "--db", whole)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)["run"]
    env = {**os.environ, "COINSWARM_CRASH_AT": "checkpoint_before_snapshot:3"}
    crash = coinswarm(*ARGS, "--db", killed, env=env)
    assert crash.returncode == -signal.SIGKILL
    resumed = coinswarm("resume", run, "--json", "--db", killed)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == json.loads(done.stdout)
    expected = contents(whole, run)
    assert expected[0]
    assert expected[3]
    assert contents(killed, run) == expected
    assert coinswarm("audit", "verify", "--db", killed).returncode == 0
