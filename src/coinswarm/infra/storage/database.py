"""Where the database is and how to open it safely.

The URL is, in order: the one given, `COINSWARM_DATABASE_URL`, or a SQLite file
`coinswarm.db` in `$COINSWARM_HOME` or else the user's data directory. Opening checks that the
file is an intact SQLite database before anything reads or writes it.

SQLite runs with `journal_mode=WAL` (readers never block the writer), `foreign_keys=ON`
(SQLite ignores foreign keys otherwise) and `synchronous=FULL`: in WAL mode NORMAL survives a
killed process but may lose the last commits on a power cut, and an intent must be on disk
before its order reaches an exchange, or a restart would not know the order exists. Every
transaction starts with `BEGIN IMMEDIATE`, so a read-then-write (the audit chain's tip, an
order's last state) cannot be interleaved with another writer's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from platformdirs import user_data_path
from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError

from coinswarm.infra.storage.errors import StorageError

__all__ = [
    "DATABASE_URL_VARIABLE",
    "MODES",
    "check_integrity",
    "connect",
    "default_sqlite_path",
    "describe",
    "mode_url",
    "resolve_url",
    "sqlite_path",
]

DATABASE_URL_VARIABLE = "COINSWARM_DATABASE_URL"
MODES = ("backtest", "paper", "sandbox", "live")
"""Every mode a run can have; each but the backtest keeps an embedded file of its own."""
_BUSY_TIMEOUT_MS = 10_000
_PRAGMAS = ("foreign_keys=ON", "synchronous=FULL", f"busy_timeout={_BUSY_TIMEOUT_MS}")


def default_sqlite_path() -> Path:
    """Return `$COINSWARM_HOME/coinswarm.db`, or `coinswarm.db` in the user's data directory."""
    home = os.environ.get("COINSWARM_HOME")
    base = Path(home) if home else user_data_path("coinswarm", appauthor=False)
    return base / "coinswarm.db"


def resolve_url(url: str | URL | None = None) -> URL:
    """Return the database URL to use: `url`, the environment, or the default SQLite file.

    A bare `postgresql://` URL is given the psycopg 3 driver, the one Coinswarm installs.
    Anything but SQLite or PostgreSQL through those drivers is refused here (StorageError),
    before a run starts, rather than by sqlalchemy when the run is stored.
    """
    given = url or os.environ.get(DATABASE_URL_VARIABLE)
    where = "--db" if url else DATABASE_URL_VARIABLE
    if not given:
        return URL.create("sqlite", database=str(default_sqlite_path()))
    try:
        resolved = make_url(given)
    except ArgumentError:
        msg = f"{where}: expected a database URL ({_EXPECTED}), found {_redacted(str(given))!r}"
        raise StorageError(msg) from None
    if resolved.drivername in ("postgresql", "postgres"):
        resolved = resolved.set(drivername="postgresql+psycopg")
    if resolved.drivername not in _DRIVERS:
        shown = resolved.render_as_string(hide_password=True)
        msg = f"{where}: expected {_EXPECTED}, found {shown!r}"
        raise StorageError(msg)
    return resolved


def mode_url(mode: str, url: str | URL | None = None) -> URL:
    """Return the database a run of `mode` writes to when given `url` (None: the default).

    A URL given, or `COINSWARM_DATABASE_URL`, serves every mode; otherwise each mode but the
    backtest keeps its own SQLite file beside the backtest's (`paper.db`, ...), so that paper
    money and research runs can never be mistaken for each other.
    """
    if url is None and mode != "backtest" and DATABASE_URL_VARIABLE not in os.environ:
        return URL.create("sqlite", database=str(default_sqlite_path().with_name(f"{mode}.db")))
    return resolve_url(url)


# The databases Coinswarm installs a driver for and runs its migrations on.
_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})
_EXPECTED = "sqlite:///FILE or postgresql://USER@HOST/DATABASE"


def _redacted(text: str) -> str:
    """Return a URL that did not parse without what may be its password (user:secret@)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)


def describe(url: URL) -> str:
    """Return the database for messages: the SQLite path, or the URL without its password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """Return the file of a SQLite URL, or None for a server or an in-memory database."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # Take transaction control from the driver so that `_on_sqlite_begin` decides how a
    # transaction starts; the driver would otherwise begin lazily and only before writes.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        for pragma in _PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _refuse_unusable_file(path: Path) -> None:
    if path.is_dir():
        msg = f"{path}: expected a SQLite database file, found a directory"
        raise StorageError(msg)
    if path.exists() and path.stat().st_size == 0:
        # SQLite would happily treat an empty file as a new database: a truncated file would
        # then be migrated afresh and its history silently lost.
        msg = (
            f"{path}: expected a Coinswarm database, found an empty file (truncated?); "
            "move it away to start a new database"
        )
        raise StorageError(msg)


def connect(url: str | URL | None = None) -> Engine:
    """Return an engine for the database at `url` (see `resolve_url`), checked for damage."""
    resolved = resolve_url(url)
    path = sqlite_path(resolved)
    if path is not None:
        _refuse_unusable_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(resolved)
    if resolved.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    try:
        check_integrity(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def check_integrity(engine: Engine) -> None:
    """Raise StorageError unless the database answers and, on SQLite, passes `quick_check`."""
    where = describe(engine.url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name != "sqlite":
                connection.execute(text("SELECT 1"))
                return
            problems = [row[0] for row in connection.exec_driver_sql("PRAGMA quick_check")]
    except DBAPIError as exc:
        msg = f"{where}: cannot open the database: {exc.orig}"
        raise StorageError(msg) from exc
    if problems != ["ok"]:
        found = "; ".join(str(p) for p in problems[:5])
        msg = f"{where}: expected an intact SQLite database, quick_check found: {found}"
        raise StorageError(msg)
