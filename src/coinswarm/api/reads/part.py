"""What the read endpoints share in one server: the open databases and the caches over them.

It is one of the server's parts (`Services.parts["reads"]`): built with the server, closed
with it. Everything it returns is read afresh or from a cache stamped by what the store holds,
so a run that moves on is seen moving on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from coinswarm.api.errors import NotFoundError
from coinswarm.api.reads.account import AccountCache
from coinswarm.api.reads.agents import AgentsCache
from coinswarm.api.reads.market import MarketCache
from coinswarm.api.reads.stores import Databases, Located
from coinswarm.api.reads.trades import Spans
from coinswarm.api.settings import ServeSettings
from coinswarm.domain.bar import BarSeries
from coinswarm.infra.state import RedisHotState, shared_state
from coinswarm.infra.storage import Store

__all__ = ["Reads"]


class Reads:
    """The databases, the rebuilt bars, the equity curves and the agents' records."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.databases = Databases(settings.db, settings.runs_dir)
        self.markets = MarketCache()
        self.accounts = AccountCache()
        self.agents = AgentsCache()
        self.spans = Spans()
        self._shared: RedisHotState | None = None
        self._lock = threading.Lock()

    @contextmanager
    def run(self, run_id: str) -> Iterator[tuple[Located, Store]]:
        """Yield run `run_id` and a store over its database; NotFoundError if none holds it."""
        located = self.databases.locate(run_id)
        with self.databases.store(located.place) as store:
            if store is None:  # its file was removed since
                raise NotFoundError(f"no run {run_id!r}")
            yield located, store

    def market(self, located: Located) -> Mapping[str, BarSeries] | None:
        """Return the run's rebuilt bars, or None (see `market`)."""
        return self.markets.market(located.key, located.record)

    def shared(self) -> RedisHotState | None:
        """Return the shared kill switch's store, when the server was told where it is."""
        url = self.settings.state_url
        if url is None:
            return None
        with self._lock:
            if self._shared is None:
                self._shared = shared_state(url)
            return self._shared

    async def start(self) -> None:
        """Nothing to start: databases open on first use."""

    async def stop(self) -> None:
        """Close every connection."""
        self.databases.close()
        with self._lock:
            if self._shared is not None:
                self._shared.close()
                self._shared = None
