"""The server's entries in the audit log: every operator action, every refused request.

The log is the tamper-evident chain of `infra.audit`, in the server's database (`--db`, else
the embedded default the backtest and `coinswarm risk stop` write to), so an action taken
through the API sits in the same chain as one taken at the command line, and `coinswarm audit
verify` checks both. An entry says who (the role and the client's address), what and why;
it never holds a token, a header or a request body beyond the fields named here.

The store opens on first use, not at start, so a server whose database is busy still
answers; a write that fails is logged, and for a refusal that is all (the request is
refused either way), while an action reports it (see `routes.control`). One store, used by
one thread at a time: requests run on a thread pool, and `Store` is not thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

from coinswarm import bootstrap
from coinswarm.infra import audit
from coinswarm.infra.storage import Store

__all__ = ["AUDITOR", "AuditWriteError", "Auditor"]

logger = logging.getLogger(__name__)

AUDITOR = "audit"
"""The Auditor's name in `Services.parts`."""

_TEXT = 200  # what a client sent (a path, a reason) is cut to this many characters


class AuditWriteError(RuntimeError):
    """The audit log could not be written; the server's log has the cause."""


class Auditor:
    """Append the API's control actions and refusals to the server database's audit chain."""

    def __init__(
        self,
        db: str | None = None,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        open_store: Callable[[str | None], Store] = bootstrap.open_store,
    ) -> None:
        self._db = db
        self._clock_ns = clock_ns
        self._open = open_store
        self._store: Store | None = None
        self._lock = threading.Lock()

    async def start(self) -> None:
        """Nothing to start: the store opens with the first entry."""

    async def stop(self) -> None:
        """Close the store."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def refused(self, *, path: str, client: str, reason: str) -> None:
        """Write down a request refused for its token or role; never raise (it is refused
        whether or not the log could be written)."""
        payload = {"client": _cut(client), "path": _cut(path), "reason": _cut(reason)}
        with suppress(AuditWriteError):  # logged by _append; the refusal stands
            self._append(audit.AuditKind.API_REFUSED, "api", payload)

    def control(
        self,
        *,
        role: str,
        client: str,
        action: str,
        reason: str | None,
        outcome: str,
        detail: Mapping[str, Any] | None = None,
    ) -> audit.AuditEntry:
        """Write down an operator's action and what came of it (done, refused, failed).

        Raises `AuditWriteError` when the log cannot be written.
        """
        payload: dict[str, Any] = {
            "client": _cut(client),
            "action": action,
            "reason": None if reason is None else _cut(reason),
            "outcome": outcome,
            "detail": dict(detail or {}),
        }
        return self._append(audit.AuditKind.API_CONTROL, f"api:{role}", payload)

    def _append(
        self, kind: audit.AuditKind, actor: str, payload: Mapping[str, Any]
    ) -> audit.AuditEntry:
        with self._lock:
            try:
                store = self._opened()
                with store.transaction() as session:
                    return audit.append(
                        session, ts=self._clock_ns(), kind=kind, actor=actor, payload=payload
                    )
            except Exception as error:  # a database fault of any kind: said once, in the log
                logger.exception("the audit log could not be written (%s)", kind)
                raise AuditWriteError(str(kind)) from error

    def _opened(self) -> Store:
        if self._store is None:
            self._store = self._open(self._db)
        return self._store


def _cut(text: str) -> str:
    return text if len(text) <= _TEXT else text[: _TEXT - 1] + "…"
