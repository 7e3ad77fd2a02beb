"""The store's transaction handling, shared by every part of the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

__all__ = ["Transactional"]


class Transactional:
    """Hold an engine and hand out one session per transaction, joined when nested.

    Not thread-safe: give each thread (or each process) its own store.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session: Session | None = None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run the block in one transaction: committed if it ends, rolled back if it raises.

        A store method called inside the block joins it, so several writes (an order, its
        fills, the audit entries) commit together or not at all.
        """
        if self._session is not None:
            yield self._session
            return
        # Rows are mapped to domain objects before the session closes, so nothing needs
        # reloading after the commit.
        session = Session(self.engine, expire_on_commit=False)
        try:
            with session.begin():
                self._session = session
                yield session
        finally:
            self._session = None
            session.close()
