"""Items in batches: how a parallel executor cuts, sends, runs and reassembles them.

Sending one item per task would spend more on the round trip than on a cheap item, so items
travel in chunks of consecutive items sized to take at least `TARGET_TASK_SECONDS` each. An
item's cost is the caller's hint or, without one, measured on the first chunks (the median,
so that a worker's first call, which may compile numba code, does not set the size). The
measurement decides only where chunks are cut; every result is placed back by item index, so
timing never changes what is returned.

A chunk stops at its first failing item. The caller reports the failing item that comes first
in the items' order, which is the same item whatever the chunking or the number of workers.
"""

from __future__ import annotations

import math
import pickle
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from coinswarm.evolution.workers.workload import WorkersError, WorkItemError, check_item_seconds

__all__ = [
    "PROBE_ITEMS",
    "TARGET_TASK_SECONDS",
    "ChunkOutcome",
    "Dispatcher",
    "ItemFailure",
    "chunk_size",
    "install_context",
    "installed_context",
    "run_chunk",
    "scatter",
]

TARGET_TASK_SECONDS = 0.05
"""A task's round trip costs about a millisecond or less: at 50 ms it is a few per cent."""

PROBE_ITEMS = 4
"""Items in each worker's first chunk when no cost hint is given; their median is the cost."""


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """Where and how `fn` raised in a worker: text only, so any exception can travel."""

    index: int
    kind: str
    message: str
    traceback: str

    def error(self) -> WorkItemError:
        return WorkItemError(self.index, self.kind, self.message, self.traceback)


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """The pickled results of items `start, start + 1, ...` up to the first failure, and their
    costs in seconds."""

    start: int
    results: list[bytes]
    seconds: list[float]
    failure: ItemFailure | None = None


# --- in the worker -------------------------------------------------------------------------


@dataclass(slots=True)
class _Installed:
    token: str | None = None
    context: Any = None


_INSTALLED = _Installed()
"""The context this worker process holds, and the token of the installation it came from."""


def install_context(token: str, context: Any) -> None:
    """Keep `context` in this worker for every chunk that names `token`."""
    _INSTALLED.token = token
    _INSTALLED.context = context


def installed_context(token: str) -> tuple[bool, Any]:
    """Return whether this worker holds the context of `token`, and that context."""
    if _INSTALLED.token != token:
        return False, None
    return True, _INSTALLED.context


def run_chunk(
    fn: Callable[[Any, Any], Any], context: Any, start: int, items: Sequence[Any]
) -> ChunkOutcome:
    """Run `fn(context, item)` on each item in order, timing each, until one raises.

    Each result is pickled on its own, here, and unpickled on its own by the caller (as
    `workload.travelled` does inline): results then share no object with one another, so they
    are the same objects, pickling to the same bytes, however the items were chunked.
    """
    results: list[bytes] = []
    seconds: list[float] = []
    for offset, item in enumerate(items):
        began = time.perf_counter()
        try:
            results.append(pickle.dumps(fn(context, item), protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as error:  # every failure travels back as text, whatever its type
            failure = ItemFailure(
                start + offset, type(error).__name__, str(error), traceback.format_exc()
            )
            return ChunkOutcome(start, results, seconds, failure)
        seconds.append(time.perf_counter() - began)
    return ChunkOutcome(start, results, seconds)


# --- in the caller -------------------------------------------------------------------------


class Dispatcher(Protocol):
    """An engine's side of `scatter`: send one chunk, and name what losing one means."""

    @property
    def workers(self) -> int: ...

    def submit(
        self, fn: Callable[[Any, Any], Any], start: int, items: list[Any]
    ) -> Future[ChunkOutcome]: ...

    def lost(self, error: BaseException, start: int, stop: int) -> WorkersError:
        """Return the error to raise when the chunk `[start, stop)` failed in the engine."""
        ...


def chunk_size(item_seconds: float, remaining: int, workers: int) -> int:
    """Return how many items make a task of about TARGET_TASK_SECONDS.

    Never more than an even share of what remains, so that every worker gets some.
    """
    wanted = math.ceil(TARGET_TASK_SECONDS / max(item_seconds, 1e-9))
    even_share = math.ceil(remaining / max(workers, 1))
    return max(1, min(wanted, even_share))


@dataclass(slots=True)
class _Scatter:
    dispatcher: Dispatcher
    fn: Callable[[Any, Any], Any]
    items: Sequence[Any]
    results: list[Any] = field(init=False)
    pending: dict[Future[ChunkOutcome], tuple[int, int]] = field(default_factory=dict)
    sent: int = 0
    failure: ItemFailure | None = None
    costs: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.results = [None] * len(self.items)

    def send(self, size: int) -> None:
        start, stop = self.sent, min(len(self.items), self.sent + size)
        future = self.dispatcher.submit(self.fn, start, list(self.items[start:stop]))
        self.pending[future] = (start, stop)
        self.sent = stop

    def send_rest(self, item_seconds: float) -> None:
        """Cut what has not been sent yet into chunks of one size and send them all."""
        size = chunk_size(item_seconds, len(self.items) - self.sent, self.dispatcher.workers)
        while self.sent < len(self.items) and self.failure is None:
            self.send(size)

    def collect(self, *, until_first: bool) -> None:
        """Take in finished chunks: the first to finish, or all of them."""
        while self.pending:
            done, _ = wait(self.pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: self.pending[f][0]):
                if future in self.pending:  # not dropped by a failure taken just before
                    self.take(future)
            if until_first:
                return

    def take(self, future: Future[ChunkOutcome]) -> None:
        start, stop = self.pending.pop(future)
        try:
            outcome = future.result()
        except Exception as error:
            self.abandon()
            raise self.dispatcher.lost(error, start, stop) from error
        self.results[start : start + len(outcome.results)] = [
            pickle.loads(result)  # noqa: S301 - pickled by our own worker
            for result in outcome.results
        ]
        self.costs.extend(outcome.seconds)
        if outcome.failure is not None:
            if self.failure is None or outcome.failure.index < self.failure.index:
                self.failure = outcome.failure
            self.drop_after(outcome.failure.index)

    def drop_after(self, index: int) -> None:
        """Cancel the chunks that start after a failed item: they cannot hold an earlier one."""
        for future, (start, _) in list(self.pending.items()):
            if start > index:
                future.cancel()
                del self.pending[future]

    def abandon(self) -> None:
        for future in self.pending:
            future.cancel()
        self.pending.clear()


def scatter(
    dispatcher: Dispatcher,
    fn: Callable[[Any, Any], Any],
    items: Sequence[Any],
    item_seconds: float | None,
) -> list[Any]:
    """Run `fn` over `items` in chunks through `dispatcher`; return results in items' order."""
    check_item_seconds(item_seconds)
    run = _Scatter(dispatcher, fn, items)
    if item_seconds is None:
        for _ in range(dispatcher.workers):
            if run.sent < len(items):
                run.send(PROBE_ITEMS)
        run.collect(until_first=True)
        item_seconds = statistics.median(run.costs) if run.costs else TARGET_TASK_SECONDS
    run.send_rest(item_seconds)
    run.collect(until_first=False)
    if run.failure is not None:
        raise run.failure.error()
    return run.results
