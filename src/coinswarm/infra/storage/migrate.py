"""Apply the Alembic migrations shipped inside the package, and check a database's revision.

Alembic is configured in code, pointing at the `migrations` folder next to this module, so it
works from an installed wheel with no `alembic.ini` anywhere.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import URL, Connection, Engine, inspect

from coinswarm.infra.storage.database import connect, describe, resolve_url, sqlite_path
from coinswarm.infra.storage.errors import StorageError

__all__ = [
    "check_revision",
    "current_revision",
    "ensure_current",
    "head_revision",
    "upgrade",
]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """Return the newest migration this version of Coinswarm knows."""
    head = _scripts().get_current_head()
    if head is None:
        msg = f"no migrations found in {_MIGRATIONS}"
        raise StorageError(msg)
    return head


def _revision_of(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def current_revision(url: str | URL | None = None) -> str | None:
    """Return the migration the database is at, or None if none was ever applied."""
    engine = connect(url)
    try:
        return _revision_of(engine)
    finally:
        engine.dispose()


def _has_tables(engine: Engine) -> bool:
    return bool(inspect(engine).get_table_names())


def check_revision(engine: Engine) -> str | None:
    """Return the database's revision; raise StorageError if it is unknown or not ours.

    A revision this code does not know means a newer Coinswarm wrote the database: reading it
    with older models could drop what they do not know about, so it is refused.
    """
    where = describe(engine.url)
    revision = _revision_of(engine)
    if revision is None:
        if _has_tables(engine):
            msg = (
                f"{where}: expected a Coinswarm database (with an alembic_version table) or an "
                "empty one, found other tables"
            )
            raise StorageError(msg)
        return None
    try:
        _scripts().get_revision(revision)
    except CommandError:
        msg = (
            f"{where}: the database is at migration {revision!r}, newer than this Coinswarm "
            f"knows (its newest is {head_revision()!r}); upgrade Coinswarm to open it"
        )
        raise StorageError(msg) from None
    return revision


def _upgrade_engine(engine: Engine, to: str = "head") -> str:
    check_revision(engine)
    with engine.begin() as connection:
        command.upgrade(_config(connection), to)
    return head_revision() if to == "head" else to


def upgrade(url: str | URL | None = None, *, to: str = "head") -> str:
    """Migrate the database at `url` (see `resolve_url`) to revision `to`; return it.

    `to` is the newest revision unless a test needs a database as an older Coinswarm left
    it. A new SQLite file is built beside its final name and moved into place when
    complete, so a process killed while creating it leaves no file rather than an empty one.
    """
    resolved = resolve_url(url)
    path = sqlite_path(resolved)
    if path is not None and not path.exists():
        return _build_aside(resolved, path, to)
    engine = connect(resolved)
    try:
        return _upgrade_engine(engine, to)
    finally:
        engine.dispose()


def _build_aside(url: URL, path: Path, to: str) -> str:
    # Each builder has a file of its own: two commands opening a new home at the same moment
    # must not delete each other's half-built file. The first finished file is linked into
    # place (a link never replaces an existing name); a later builder discards its own and
    # upgrades the winner's, which may already hold a run.
    partial = path.with_name(f".{path.name}.building-{os.getpid()}-{secrets.token_hex(4)}")
    engine = connect(url.set(database=str(partial)))
    try:
        revision = _upgrade_engine(engine, to)
    finally:
        engine.dispose()  # closing the last connection folds the WAL into the file
    try:
        os.link(partial, path)
    except FileExistsError:
        return upgrade(url, to=to)
    finally:
        for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
    return revision


def ensure_current(engine: Engine, *, upgrade: bool = False) -> str:
    """Return the head revision once the database is at it, migrating first if `upgrade`.

    Without `upgrade`, a database behind the head is refused with the command that fixes it.
    """
    revision = check_revision(engine)
    head = head_revision()
    if revision == head:
        return head
    if upgrade:
        return _upgrade_engine(engine)
    found = f"at migration {revision!r}" if revision else "empty"
    msg = (
        f"{describe(engine.url)}: expected the database at migration {head!r}, found it "
        f"{found}; run `coinswarm db upgrade`"
    )
    raise StorageError(msg)
