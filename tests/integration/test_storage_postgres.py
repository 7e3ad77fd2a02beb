"""Storage on PostgreSQL: the same contract as SQLite, each test in a database of its own.

Needs a server on 127.0.0.1:5432 that lets this user (or `postgres`) create databases through
the `test` database without a password, as development machines and CI have; skips otherwise.
"""

from __future__ import annotations

import getpass
import secrets
import threading
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from absent import absent
from alert_store_contract import *  # noqa: F403  (the alerts' outbox, likewise)
from coinswarm.infra import audit
from coinswarm.infra.storage import Store
from evolution_store_contract import *  # noqa: F403  (the discovery store's, likewise)
from storage_contract import *  # noqa: F403  (the contract's tests, collected here for PostgreSQL)
from storage_contract import new_run, open_order

SERVER = "127.0.0.1:5432"


def _admin() -> tuple[psycopg.Connection[tuple[object, ...]], str]:
    reasons = []
    for user in dict.fromkeys((getpass.getuser(), "postgres", "root")):
        try:
            connection = psycopg.connect(
                host="127.0.0.1", port=5432, dbname="test", user=user, connect_timeout=3,
                autocommit=True,
            )  # fmt: skip
        except psycopg.OperationalError as exc:
            reasons.append(f"{user}: {str(exc).strip().splitlines()[0]}")
            continue
        return connection, user
    return absent(f"no PostgreSQL server usable on {SERVER} ({'; '.join(reasons)})")


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


def test_concurrent_writers_keep_one_audit_chain(database_url: str) -> None:
    """Two stores appending at once queue on the chain's lock instead of forking it."""
    with Store.open(database_url, upgrade=True) as first, Store.open(database_url) as second:
        new_run(first)

        def write(store: Store, actor: str) -> None:
            for n in range(15):
                store.record_config_change(ts=n, actor=actor, changes={"n": n})

        threads = [
            threading.Thread(target=write, args=(store, actor))
            for store, actor in ((first, "ada"), (second, "grace"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report = audit.verify(first.engine)
    assert report.ok, str(report)
    assert report.entries == 31


def test_the_same_intent_from_two_writers_is_claimed_once(database_url: str) -> None:
    with Store.open(database_url, upgrade=True) as first, Store.open(database_url) as second:
        run_id = new_run(first)
        request = open_order("same-ms", "1").request
        results: list[bool] = []
        barrier = threading.Barrier(2)

        def claim(store: Store) -> None:
            barrier.wait()
            results.append(store.claim_intent(run_id, request, 0))

        threads = [threading.Thread(target=claim, args=(s,)) for s in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results) == [False, True]
