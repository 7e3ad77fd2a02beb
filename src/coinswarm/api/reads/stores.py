"""The databases the API reads, each opened once and shared by every request.

Opening a store checks its migration (some 20 ms): a dashboard polling a run's orders must not
pay that on every request. `Databases` keeps one engine per database and hands each request a
`Store` of its own over it (a store is not thread-safe, an engine is). The databases are those
`coinswarm runs list` reads: the one `--db` names, else each mode's own (`catalog.places`). A
SQLite file that does not exist is no database yet: it reads as empty, and looking never
creates it.

The engine the API reads through is its own, not the store's: the store begins every SQLite
transaction `IMMEDIATE` (it writes, and must not deadlock upgrading a read lock), which takes
the database's one write lock. Reading that way, a dashboard polling a run would hold up the
session writing it, for as long as a read lasts (an equity curve of 100,000 fills: a second).
The API's SQLite connections begin deferred transactions (a snapshot of the database as of
their first read, never waiting for the writer in WAL mode) and are `query_only`: nothing
sent through them can change the database. The store still opens each database once first,
for its checks: its integrity, and its migration (an older SQLite file is brought up to date,
as `coinswarm runs list` does).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event

from coinswarm.api.errors import NotFoundError
from coinswarm.backtest.catalog import AmbiguousRunError, Place, places
from coinswarm.backtest.defaults import default_runs_dir
from coinswarm.infra.storage import RunRecord, Store, sqlite_path
from coinswarm.infra.storage.database import MODES, resolve_url

__all__ = ["Databases", "Located", "read_engine"]


@dataclass(frozen=True, slots=True)
class Located:
    """A run and the database that holds it."""

    place: Place
    record: RunRecord

    @property
    def key(self) -> str:
        """Return a name of the run unique across databases (for caches)."""
        return f"{self.place.url.render_as_string(hide_password=False)}#{self.record.run_id}"


_BUSY_TIMEOUT_MS = 10_000


def _on_connect(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None  # transactions begin as `_on_begin` says
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only=ON")
    finally:
        cursor.close()


def _on_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN DEFERRED")


def read_engine(url: URL) -> Engine:
    """Return an engine that reads the database at `url` and cannot write to it (SQLite), or
    reads it as any client does (a server's own isolation)."""
    engine = create_engine(resolve_url(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
    return engine


class Databases:
    """Every database of the installation, opened lazily, closed with `close()`."""

    def __init__(self, db: str | None = None, runs_dir: Path | None = None) -> None:
        self._db = db
        self._runs_dir = runs_dir
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    @property
    def runs_dir(self) -> Path:
        """Return the runs folder (summaries and explanations of finished runs)."""
        return self._runs_dir or default_runs_dir()

    def places(self, modes: tuple[str, ...] = MODES) -> list[Place]:
        """Return the databases that hold the runs of `modes` (read afresh: the environment
        names them)."""
        return places(self._db, modes)

    @contextmanager
    def store(self, place: Place) -> Iterator[Store | None]:
        """Yield a store over `place`, or None for a SQLite file that does not exist."""
        engine = self._engine(place)
        yield None if engine is None else Store(engine)

    def stores(self, modes: tuple[str, ...] = MODES) -> Iterator[tuple[Place, Store]]:
        """Yield every database of `modes` that exists, with a store over it."""
        for place in self.places(modes):
            with self.store(place) as store:
                if store is not None:
                    yield place, store

    def locate(self, run_id: str) -> Located:
        """Return the run `run_id` and its database; NotFoundError if none holds it."""
        found = [
            Located(place, record)
            for place, store in self.stores()
            if (record := store.get_run(run_id)) is not None
        ]
        if not found:
            raise NotFoundError(f"no run {run_id!r}")
        if len(found) > 1:
            held = " and ".join(each.place.where for each in found)
            raise AmbiguousRunError(f"run {run_id} is stored in {held}; serve one with --db")
        return found[0]

    def _engine(self, place: Place) -> Engine | None:
        path = sqlite_path(place.url)
        key = place.url.render_as_string(hide_password=False)
        with self._lock:
            engine = self._engines.get(key)
            if path is not None and not path.exists():
                if engine is not None:  # removed since: forget it, never recreate it
                    self._engines.pop(key).dispose()
                return None
            if engine is None:
                Store.open(place.url, upgrade=path is not None).close()  # checked, migrated
                engine = self._engines[key] = read_engine(place.url)
            return engine

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
