"""Errors of the storage layer: each names the database and what was expected and found."""

from __future__ import annotations

from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "CycleOrderError",
    "FillConflictError",
    "LedgerMismatchError",
    "RunExistsError",
    "StorageError",
]


class StorageError(CoinswarmError):
    """The database cannot be used as it is: corrupt, truncated, foreign or from the future."""


class FillConflictError(StorageError):
    """A trade id came back with contents that contradict the fill already stored under it."""


class RunExistsError(StorageError):
    """A run was created under an id that is already taken."""


class LedgerMismatchError(StorageError):
    """The ledger rebuilt from the stored fills differs from the last stored snapshot."""


class CycleOrderError(StorageError):
    """A discovery cycle was committed out of turn: not the one after the last committed."""
