"""What the evolution loop hands to its workers: a workload, the executor port, its errors.

A `Workload` pairs a context, the large and rarely changing part (a phase's bar arrays and
features), with a pure function `fn(context, item) -> result` run once per item (a candidate
pattern). An `Executor` runs a workload over a sequence of items and returns the results in
the items' order. It sends the context to each worker once and keeps it there for as long as
the same workload object comes back, so only the items travel per call.

Determinism is the contract every executor keeps: the results are the same, byte for byte,
whatever the engine or the number of workers. Nothing here is random, and a result depends
only on `(context, item)`: time is read only to size the batches items travel in, never to
decide what is computed, and results are placed by item index. This holds only if `fn` keeps
its side of it:

- `fn` is pure: it does not change what the context holds (a worker keeps one copy for many
  items; caching what it derives, such as a feature computed on first use, is fine) and reads
  no global state that differs between processes.
- Reductions give the same bits only if they add in the same order: numpy's own (`np.sum`)
  do; a BLAS product (`np.dot`, `@`) may split its sums by the BLAS thread count, which
  worker processes inherit from this one's environment (OPENBLAS_NUM_THREADS) but which a
  cluster node of another size may not share.
- Randomness is the caller's, seeded per item: derive a Generator from the item itself (for
  example `np.random.default_rng([run_seed, item_index])`), never from a shared one.
- `fn` is a module-level function, so that a worker process can import it by name.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "Executor",
    "ExecutorSetupError",
    "InlineExecutor",
    "WorkItemError",
    "WorkerDiedError",
    "WorkersError",
    "Workload",
    "check_item_seconds",
    "travelled",
]

C = TypeVar("C")
T = TypeVar("T")
R = TypeVar("R")


class WorkersError(CoinswarmError):
    """Evaluations could not be run where they were sent."""


class ExecutorSetupError(WorkersError, ValueError):
    """An executor was asked for with a bad worker count or an unusable Ray address."""


class WorkItemError(WorkersError):
    """`fn` raised on one item; `index` is the item's place in the sequence given."""

    def __init__(self, index: int, kind: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(f"item {index} failed: {kind}: {message}")
        self.index = index
        self.kind = kind
        self.original_message = message
        self.remote_traceback = remote_traceback
        if remote_traceback:
            self.add_note(f"in the worker:\n{remote_traceback.rstrip()}")


class WorkerDiedError(WorkersError):
    """A worker process (or Ray worker) ended while it held items; nothing was returned."""


@dataclass(frozen=True, slots=True, eq=False)
class Workload(Generic[C, T, R]):
    """A context, sent to each worker once, and the function run on every item with it.

    Keep one Workload for as long as its context holds (a walk-forward phase): executors
    recognise the same object and do not send the context again.
    """

    context: C
    fn: Callable[[C, T], R]

    def __post_init__(self) -> None:
        qualname = getattr(self.fn, "__qualname__", "")
        module = getattr(self.fn, "__module__", None)
        if not qualname or "<" in qualname or module is None:
            msg = (
                "expected fn to be a function defined at module level (workers import it by"
                f" name), found {self.fn!r}"
            )
            raise ExecutorSetupError(msg)


class Executor(Protocol):
    """Where a workload's items are evaluated: in this process, a process pool, or Ray."""

    @property
    def workers(self) -> int:
        """How many items can be evaluated at the same time."""
        ...

    def run(
        self,
        workload: Workload[C, T, R],
        items: Sequence[T],
        *,
        item_seconds: float | None = None,
    ) -> list[R]:
        """Return `[workload.fn(workload.context, item) for item in items]`, in that order.

        `item_seconds` is a hint of one item's cost, used only to batch items; without it a
        parallel executor measures the first few. Raise WorkItemError naming the first item (in
        the items' order) on which `fn` raised, WorkerDiedError when a worker was lost.
        """
        ...

    def close(self) -> None:
        """Release the workers; a closed executor runs nothing more."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


def check_item_seconds(item_seconds: float | None) -> None:
    """Raise ExecutorSetupError unless the cost hint is absent or a positive finite number."""
    if item_seconds is not None and not 0.0 < item_seconds < math.inf:
        msg = f"item_seconds: expected a positive number of seconds or None, found {item_seconds}"
        raise ExecutorSetupError(msg)


def travelled(result: R) -> R:
    """Return `result` as a worker sends it back: pickled and unpickled on its own.

    An array that is a view (of the context, or strided) comes back from a worker as a compact
    copy, sharing nothing with other results; passing inline results through the same round
    trip makes them the same objects, pickling to the same bytes, and never lets one alias the
    context.
    """
    copy: R = pickle.loads(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301 - our own bytes
    return copy


class ClosingExecutor:
    """What every executor shares: a context manager that closes it, and a refusal to run
    once closed."""

    _closed = False

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise WorkersError("expected an open executor, found one already closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class InlineExecutor(ClosingExecutor):
    """Evaluate every item in this process, one after the other (`--workers 1`, tests).

    Each result makes the round trip a worker's would (`travelled`), so it is the same object
    whatever the executor, and a result that could not travel fails here too.
    """

    workers = 1

    def run(
        self,
        workload: Workload[C, T, R],
        items: Sequence[T],
        *,
        item_seconds: float | None = None,  # checked only: one process has nothing to batch
    ) -> list[R]:
        self._check_open()
        check_item_seconds(item_seconds)
        results: list[R] = []
        for index, item in enumerate(items):
            try:
                results.append(travelled(workload.fn(workload.context, item)))
            except Exception as error:
                raise WorkItemError(index, type(error).__name__, str(error)) from error
        return results
