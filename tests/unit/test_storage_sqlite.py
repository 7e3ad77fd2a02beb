"""Storage on SQLite: the shared contract, plus what only a file on disk can get wrong."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from alert_store_contract import *  # noqa: F403  (the alerts' outbox, likewise)
from coinswarm.infra.storage import (
    DATABASE_URL_VARIABLE,
    StorageError,
    Store,
    default_sqlite_path,
    resolve_url,
)
from coinswarm.infra.storage.types import ExactDecimal
from evolution_store_contract import *  # noqa: F403  (the discovery store's, likewise)
from storage_contract import *  # noqa: F403  (the contract's tests, collected here for SQLite)
from storage_contract import new_run, open_order


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'coinswarm.db'}"


def test_the_url_is_explicit_then_environment_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINSWARM_HOME", str(tmp_path))
    monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
    assert default_sqlite_path() == tmp_path / "coinswarm.db"
    assert resolve_url().database == str(tmp_path / "coinswarm.db")
    monkeypatch.setenv(DATABASE_URL_VARIABLE, "postgresql://me@127.0.0.1:5432/coinswarm")
    assert resolve_url().drivername == "postgresql+psycopg"
    assert resolve_url("sqlite:///elsewhere.db").database == "elsewhere.db"


def test_without_a_home_the_file_is_in_the_user_data_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COINSWARM_HOME")
    path = default_sqlite_path()
    assert path.name == "coinswarm.db"
    assert path.parent.name == "coinswarm"


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_full_sync(database_url: str) -> None:
    with Store.open(database_url, upgrade=True) as store, store.engine.connect() as connection:
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous")
        }
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2}


def _filled_database(path: Path) -> None:
    with Store.open(f"sqlite:///{path}", upgrade=True) as store:
        run_id = new_run(store)
        for n in range(200):
            store.record_order(run_id, open_order(f"c{n}", "1"))
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_a_truncated_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "coinswarm.db"
    _filled_database(path)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    with pytest.raises(StorageError, match=str(path)):
        Store.open(f"sqlite:///{path}", upgrade=True)


def test_a_file_truncated_to_nothing_is_not_mistaken_for_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "coinswarm.db"
    _filled_database(path)
    path.write_bytes(b"")
    with pytest.raises(StorageError, match=rf"{path}: .*empty file \(truncated\?\)"):
        Store.open(f"sqlite:///{path}", upgrade=True)


def test_a_garbage_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "coinswarm.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    with pytest.raises(StorageError, match=rf"{path}: cannot open the database"):
        Store.open(f"sqlite:///{path}", upgrade=True)


def test_a_foreign_sqlite_database_is_not_migrated(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE shopping (item TEXT)")
    connection.close()
    with pytest.raises(StorageError, match="found other tables"):
        Store.open(f"sqlite:///{path}", upgrade=True)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_money_columns_refuse_floats_and_non_finite_values(dialect: object) -> None:
    column = ExactDecimal()
    for bad in (1.5, Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(StorageError, match="expected a finite Decimal"):
            column.process_bind_param(bad, dialect)  # type: ignore[arg-type]
