"""Which runs a live process is working on: a lock per run, released when the process dies.

A run is `running` in its database from its start until it finishes, fails or is interrupted;
a process that dies (kill -9, a power cut, an uncaught error in C) leaves it so. To tell a run
that is running from one that was killed, the process working on a run holds a lock on it for
as long as it works; the operating system or the database server drops the lock when the
process ends, whatever the way. A `running` run that nobody holds was killed.

- A SQLite file: an exclusive `flock` on `<database>.locks/<run id>.lock`.
- PostgreSQL: a session-level advisory lock, on a connection of its own, keyed by a digest of
  the run id, so that every machine sharing the server sees it.
- An in-memory database: a set in this process, the only one that can see the database.

Beside the lock, a small JSON file says who started the run (process id, host) and when, by
the wall clock, first and last: run ids and stored times of a backtest come from its data, so
this is where "how old is this run" is answered. For a SQLite file it is the lock file itself;
for PostgreSQL it lives in the Coinswarm home of the machine that ran it
(`run-locks-<digest of the URL>/<run id>.json`), so other machines do not know it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, text

from coinswarm.domain.clock import WallClock
from coinswarm.infra.storage.database import default_sqlite_path, sqlite_path
from coinswarm.infra.storage.errors import StorageError

__all__ = ["RunBusyError", "RunLocks", "RunStart"]

# The first key of every run lock on PostgreSQL ("runs"); the audit chain's lock uses the
# one-key form, so the two never meet.
_PG_NAMESPACE = 0x72756E73
_HELD_IN_MEMORY: set[tuple[str, str]] = set()
# How long a start waits for a lock that someone only looks at (`running` takes it shared
# for a moment); a run that is really running holds it far longer.
_PATIENCE_S = 1.0


class RunBusyError(StorageError):
    """Another live process is working on the run."""


@dataclass(frozen=True, slots=True)
class RunStart:
    """Who started a run and when, by the wall clock: its first start and its latest."""

    pid: int
    host: str
    first_ns: int
    last_ns: int

    def to_json(self) -> str:
        body = {"pid": self.pid, "host": self.host, "first_ns": self.first_ns}
        return json.dumps({**body, "last_ns": self.last_ns}, sort_keys=True)

    @classmethod
    def from_json(cls, text_: str) -> RunStart | None:
        """Return the start `text_` records; None if it is empty or garbled (a torn write)."""
        try:
            data = json.loads(text_)
            return cls(
                int(data["pid"]), str(data["host"]), int(data["first_ns"]), int(data["last_ns"])
            )
        except (ValueError, KeyError, TypeError):
            return None


def _read_start(path: Path) -> RunStart | None:
    try:
        return RunStart.from_json(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None


def _pg_key(run_id: str) -> int:
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:4], "big", signed=True)


class RunLocks:
    """The run locks of one database, and the record of who started each run."""

    def __init__(self, url: URL, engine: Engine | None, clock: Callable[[], int]) -> None:
        self._url = url
        self._engine = engine
        self._clock = clock
        path = sqlite_path(url)
        self._backend = (
            "file" if path is not None else "memory" if url.get_backend_name() == "sqlite" else "pg"
        )
        if path is not None:
            self.folder: Path | None = path.with_name(path.name + ".locks")
        elif self._backend == "pg":
            server = url.set(drivername=url.get_backend_name(), username=None, password=None)
            digest = hashlib.sha256(server.render_as_string().encode()).hexdigest()[:16]
            self.folder = default_sqlite_path().with_name(f"run-locks-{digest}")
        else:
            self.folder = None

    @classmethod
    def for_engine(cls, engine: Engine, *, clock: Callable[[], int] | None = None) -> RunLocks:
        """Return the locks of the database `engine` reaches (wall time from `clock`)."""
        return cls(engine.url, engine, clock or WallClock().now_ns)

    # -- holding ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self, run_id: str) -> Iterator[None]:
        """Hold run `run_id` for the block; RunBusyError if a live process already does."""
        if self._backend == "file":
            with self._hold_file(run_id):
                yield
        elif self._backend == "pg":
            with self._hold_advisory(run_id):
                self._record(self._start_file(run_id), None)
                yield
        else:
            key = (str(self._url), run_id)
            if key in _HELD_IN_MEMORY:
                raise self._busy(run_id)
            _HELD_IN_MEMORY.add(key)
            try:
                yield
            finally:
                _HELD_IN_MEMORY.discard(key)

    def _busy(self, run_id: str) -> RunBusyError:
        start = self.started(run_id)
        by = "" if start is None else f" (process {start.pid} on {start.host})"
        msg = f"run {run_id} is running in another process{by}; wait for it or stop it first"
        return RunBusyError(msg)

    def _start_file(self, run_id: str) -> Path:
        assert self.folder is not None
        suffix = ".lock" if self._backend == "file" else ".json"
        return self.folder / f"{run_id}{suffix}"

    def _record(self, path: Path, fd: int | None) -> None:
        """Write who starts the run now, keeping when it first started."""
        before = _read_start(path)
        now = self._clock()
        start = RunStart(os.getpid(), socket.gethostname(), before.first_ns if before else now, now)
        body = start.to_json().encode()
        if fd is not None:  # the lock file itself: rewritten in place, the lock kept
            os.ftruncate(fd, 0)
            os.pwrite(fd, body, 0)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_bytes(body)
        partial.replace(path)

    @contextlib.contextmanager
    def _hold_file(self, run_id: str) -> Iterator[None]:
        path = self._start_file(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._lock_file(path, run_id)
        try:
            self._record(path, fd)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def _lock_file(self, path: Path, run_id: str) -> int:
        deadline = time.monotonic() + _PATIENCE_S
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() > deadline:
                    raise self._busy(run_id) from None
                time.sleep(0.01)
                continue
            # `forget` may have unlinked the file between our open and our lock: a lock on a
            # file no longer at `path` holds nothing, so take the one there now.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    @contextlib.contextmanager
    def _hold_advisory(self, run_id: str) -> Iterator[None]:
        assert self._engine is not None
        connection = self._engine.connect()
        keys = {"space": _PG_NAMESPACE, "key": _pg_key(run_id)}
        try:
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:space, :key)"), keys)
            held = bool(taken.scalar())
            connection.commit()  # the lock outlives the transaction; an open one would not
            if not held:
                raise self._busy(run_id)
            try:
                yield
            finally:
                self._unlock(connection, keys)
        finally:
            connection.close()

    @staticmethod
    def _unlock(connection: Connection, keys: dict[str, int]) -> None:
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:space, :key)"), keys)
            connection.commit()
        except Exception:
            # A pooled connection must not carry the lock to its next user: drop it instead.
            connection.invalidate()
            raise

    # -- looking ---------------------------------------------------------------------------

    def running(self, run_ids: Iterable[str]) -> set[str]:
        """Return those of `run_ids` that a live process holds now."""
        wanted = list(run_ids)
        if self._backend == "file":
            return {run_id for run_id in wanted if self._file_held(self._start_file(run_id))}
        if self._backend == "memory":
            return {run_id for run_id in wanted if (str(self._url), run_id) in _HELD_IN_MEMORY}
        held = self._advisory_held()
        return {run_id for run_id in wanted if _pg_key(run_id) & 0xFFFFFFFF in held}

    @staticmethod
    def _file_held(path: Path) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the shared lock, if taken
        return False

    def _advisory_held(self) -> set[int]:
        assert self._engine is not None
        query = text(
            "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = :space AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        with self._engine.connect() as connection:
            return {int(row[0]) for row in connection.execute(query, {"space": _PG_NAMESPACE})}

    def started(self, run_id: str) -> RunStart | None:
        """Return who started run `run_id` and when, if this machine recorded it."""
        return None if self.folder is None else _read_start(self._start_file(run_id))

    def forget(self, run_id: str) -> int:
        """Remove the record of a run that is gone; return the bytes it took."""
        if self.folder is None:
            return 0
        path = self._start_file(run_id)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return 0
        try:
            if self._backend == "file":
                # Unlinked under the lock: a start racing with us then locks the new file.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            size = os.fstat(fd).st_size
            path.unlink()
        except BlockingIOError:
            return 0  # it started again meanwhile: its record stays
        finally:
            os.close(fd)
        return size
