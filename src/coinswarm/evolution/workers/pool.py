"""Evaluate a workload's items in a pool of local worker processes (`--workers K`).

Each pool belongs to one context: its initializer installs the context in every worker once,
from bytes pickled once here, and a new context (the next walk-forward phase) gets a new
pool. Items travel in chunks (`_chunks`) and come back in order.

Workers start with the `forkserver` method, deliberately:

- `fork` copies this process as it is, threads included only as memory: numpy's OpenBLAS
  starts a thread on import, Ray's driver runs gRPC threads, numba may run a threading layer.
  A lock held by one of them at the fork stays locked forever in the child, so a pool forked
  from the evolution loop can hang. (Python 3.12 warns on fork with threads; 3.14 makes
  `forkserver` the default on Linux for this reason.)
- `spawn` is safe but starts each worker from nothing: every worker imports numpy, numba and
  the evaluation code again (0.4 to 1.5 s each, measured here), at every new pool.
- `forkserver` starts one clean server process from nothing, once per process, which imports
  the modules of the workload's function and context (`set_forkserver_preload`), then forks
  each worker from that server, which has none of this process's threads. Measured here: the
  first pool of two workers 0.3 s, each later pool 0.02 s.

The preload list is a setting of the whole process (multiprocessing has one forkserver) and
takes effect only when the server starts, that is at the first pool of a process. As with
`spawn`, a script that builds a pool must guard its body with `if __name__ == "__main__":`
(the `coinswarm` command and `python -m coinswarm` are safe: workers never run them).
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

from coinswarm.evolution.workers._chunks import (
    ChunkOutcome,
    install_context,
    installed_context,
    run_chunk,
    scatter,
)
from coinswarm.evolution.workers.workload import (
    ClosingExecutor,
    ExecutorSetupError,
    WorkerDiedError,
    WorkersError,
    Workload,
)

__all__ = ["START_METHOD", "PoolExecutor"]

C = TypeVar("C")
T = TypeVar("T")
R = TypeVar("R")

START_METHOD = "forkserver"

_POOL_KEY = "pool"
"""A pool worker only ever holds the context of the pool it belongs to."""


def _install_in_worker(payload: bytes) -> None:
    """Pool initializer: unpickle the context once, when the worker starts."""
    install_context(_POOL_KEY, pickle.loads(payload))  # noqa: S301 - bytes pickled by our own parent


def _run_in_worker(fn: Callable[[Any, Any], Any], start: int, items: list[Any]) -> ChunkOutcome:
    held, context = installed_context(_POOL_KEY)
    if not held:
        raise RuntimeError("expected the pool initializer to have installed a context")
    return run_chunk(fn, context, start, items)


def _start_context(modules: Sequence[str]) -> BaseContext:
    """Return the forkserver context, asking its server (if not yet started) to preload."""
    context = multiprocessing.get_context(START_METHOD)
    context.set_forkserver_preload(["__main__", __name__, *modules])
    return context


class PoolExecutor(ClosingExecutor):
    """Evaluate items in `workers` local processes; the context is sent once per process."""

    def __init__(self, workers: int) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            msg = f"workers: expected a whole number of processes >= 1, found {workers!r}"
            raise ExecutorSetupError(msg)
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._context: object = None  # held so that its identity stays unique while installed
        self._payload: bytes | None = None

    @property
    def workers(self) -> int:
        return self._workers

    def run(
        self,
        workload: Workload[C, T, R],
        items: Sequence[T],
        *,
        item_seconds: float | None = None,
    ) -> list[R]:
        self._check_open()
        if not items:
            return []
        if self._payload is None or workload.context is not self._context:
            self._install(workload)
        dispatcher = _PoolDispatcher(self, self._started_pool(workload))
        return scatter(dispatcher, workload.fn, items, item_seconds)

    def close(self) -> None:
        self._discard_pool()
        self._context = None
        self._payload = None
        self._closed = True

    def _install(self, workload: Workload[Any, Any, Any]) -> None:
        try:
            payload = pickle.dumps(workload.context, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            msg = f"expected a picklable context, found {type(workload.context).__name__}: {error}"
            raise ExecutorSetupError(msg) from error
        self._discard_pool()
        self._context = workload.context
        self._payload = payload

    def _started_pool(self, workload: Workload[Any, Any, Any]) -> ProcessPoolExecutor:
        """Return the pool of the installed context, starting it (again) when there is none."""
        if self._pool is None:
            payload = self._payload
            if payload is None:
                raise WorkersError("expected a context installed before its pool starts")
            modules = [workload.fn.__module__, type(workload.context).__module__]
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=_start_context(modules),
                initializer=_install_in_worker,
                initargs=(payload,),
            )
        return self._pool

    def _discard_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def discard_broken_pool(self) -> None:
        """Drop a pool that lost a worker; the next run starts a new one (same context)."""
        self._discard_pool()


class _PoolDispatcher:
    def __init__(self, executor: PoolExecutor, pool: ProcessPoolExecutor) -> None:
        self._executor = executor
        self._pool = pool

    @property
    def workers(self) -> int:
        return self._executor.workers

    def submit(
        self, fn: Callable[[Any, Any], Any], start: int, items: list[Any]
    ) -> Future[ChunkOutcome]:
        return self._pool.submit(_run_in_worker, fn, start, items)

    def lost(self, error: BaseException, start: int, stop: int) -> WorkersError:
        if isinstance(error, BrokenProcessPool):
            self._executor.discard_broken_pool()
            msg = (
                f"a worker process ended abruptly (killed, out of memory, or crashed in native"
                f" code) while it held items {start}..{stop - 1}; the pool was discarded"
            )
            return WorkerDiedError(msg)
        what = f"items {start}..{stop - 1}"
        msg = f"{what} could not be run or returned: {type(error).__name__}: {error}"
        return WorkersError(msg)
