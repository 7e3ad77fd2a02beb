"""One thread of its own for a remote venue's network calls, each wait bounded.

The engine runs its loop inside the backtest fence, which refuses new sockets on the engine's
thread so that strategy code cannot reach the network. A remote venue must be able to open a
connection again after the exchange dropped one (or closed an idle keep-alive), so its calls
run here, one at a time and in the order they were made, and the engine waits for each.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import TypeVar

from coinswarm.domain.errors import CoinswarmError

__all__ = ["DEFAULT_CALL_TIMEOUT_S", "IoWorker", "VenueTimeoutError"]

T = TypeVar("T")

DEFAULT_CALL_TIMEOUT_S = 120.0
"""Longer than an adapter's own retries and backoffs take; a stuck call must still end."""


class VenueTimeoutError(CoinswarmError):
    """A call to the exchange did not return within the venue's bound."""


class IoWorker:
    """Run calls on one dedicated thread, in order; wait at most `timeout_s` for each.

    `on_error` hears every call that failed with one of our errors (the exchange's refusals,
    its outages, a timeout), with what was called, before the error goes on to the caller: a
    session's telemetry counts them for the operator. It must return at once and not raise.
    """

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        name: str = "venue",
        on_error: Callable[[str, CoinswarmError], None] | None = None,
    ) -> None:
        if not timeout_s > 0:
            msg = f"timeout_s: expected a positive number of seconds, found {timeout_s}"
            raise ValueError(msg)
        self._timeout_s = timeout_s
        self._on_error = on_error
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-io")

    def call(self, what: str, function: Callable[[], T]) -> T:
        """Return `function()` run on the worker; raise what it raises, or on timeout."""
        try:
            return self._call(what, function)
        except CoinswarmError as error:
            if self._on_error is not None:
                self._on_error(what, error)
            raise

    def _call(self, what: str, function: Callable[[], T]) -> T:
        future = self._pool.submit(function)
        try:
            return future.result(timeout=self._timeout_s)
        except FutureTimeoutError:
            future.cancel()
            msg = f"{what}: no answer within {self._timeout_s} s"
            raise VenueTimeoutError(msg) from None

    def close(self) -> None:
        """Let the call in progress finish and stop the thread."""
        self._pool.shutdown(wait=True, cancel_futures=True)
