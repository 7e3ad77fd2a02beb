"""Storage of Coinswarm: SQLite by default, PostgreSQL by URL, the same models and migrations.

`Store.open()` gives the store the engine uses; `migrate.upgrade()` brings a database to the
newest migration (what `coinswarm db upgrade` runs).
"""

from __future__ import annotations

from coinswarm.infra.storage.database import (
    DATABASE_URL_VARIABLE,
    connect,
    default_sqlite_path,
    resolve_url,
    sqlite_path,
)
from coinswarm.infra.storage.errors import (
    CycleOrderError,
    FillConflictError,
    LedgerMismatchError,
    RunExistsError,
    StorageError,
)
from coinswarm.infra.storage.evolution_records import (
    IMPORT_PREFIX,
    IMPORTED,
    EvolutionRun,
    EvolutionStatus,
    LineageLink,
    PatternUpdate,
    StoredPattern,
    StoredTrial,
    Trial,
)
from coinswarm.infra.storage.migrate import current_revision, head_revision, upgrade
from coinswarm.infra.storage.records import (
    RiskRecord,
    RunRecord,
    StateChange,
    StoredSnapshot,
)
from coinswarm.infra.storage.repository import Store
from coinswarm.infra.storage.run_lock import RunBusyError, RunLocks, RunStart

__all__ = [
    "DATABASE_URL_VARIABLE",
    "IMPORTED",
    "IMPORT_PREFIX",
    "CycleOrderError",
    "EvolutionRun",
    "EvolutionStatus",
    "FillConflictError",
    "LedgerMismatchError",
    "LineageLink",
    "PatternUpdate",
    "RiskRecord",
    "RunBusyError",
    "RunExistsError",
    "RunLocks",
    "RunRecord",
    "RunStart",
    "StateChange",
    "StorageError",
    "Store",
    "StoredPattern",
    "StoredSnapshot",
    "StoredTrial",
    "Trial",
    "connect",
    "current_revision",
    "default_sqlite_path",
    "head_revision",
    "resolve_url",
    "sqlite_path",
    "upgrade",
]
