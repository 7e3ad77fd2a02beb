"""Evaluate a workload's items on a Ray cluster (`--ray-address`).

The context is put in Ray's object store once per installation (one copy per node, which its
workers read without copying numpy buffers); each task names it, and a Ray worker process
fetches it the first time it meets it and keeps it for the next tasks, so it is deserialised
once per worker process, as in the local pool. Items travel in chunks (`_chunks`) and come back
in order.

Ray is imported only when a RayExecutor is built: `import coinswarm.evolution.workers` must
stay cheap for everyone who never uses a cluster.

The address is `local` (start a Ray instance on this machine, for tests and one-box runs; its
workers see this process's `sys.path`) or a cluster's `host:port` (or `ray://host:port` for a
Ray client server). Ray retries a cluster it cannot reach for minutes, so the port is first
opened here with a few seconds' timeout and an unreachable one fails at once, naming it.
"""

from __future__ import annotations

import os
import pickle
import socket
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar, cast

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

__all__ = [
    "LOCAL",
    "PROBE_TIMEOUT_SECONDS",
    "RETRIES_AFTER_A_LOST_WORKER",
    "RayExecutor",
    "probe_address",
]

C = TypeVar("C")
T = TypeVar("T")
R = TypeVar("R")

LOCAL = "local"
PROBE_TIMEOUT_SECONDS = 3.0
RETRIES_AFTER_A_LOST_WORKER = 1
"""A chunk whose worker or node died is run once more (results are deterministic, so a retry
is safe), enough for a node taken away; an item that kills every worker it meets fails fast."""
_CLIENT_SCHEME = "ray://"


def probe_address(address: str, *, timeout: float = PROBE_TIMEOUT_SECONDS) -> None:
    """Raise ExecutorSetupError unless a TCP connection to `address` opens within `timeout`."""
    host, _, port_text = address.removeprefix(_CLIENT_SCHEME).rpartition(":")
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        msg = (
            f"ray address: expected {LOCAL!r}, host:port or {_CLIENT_SCHEME}host:port,"
            f" found {address!r}"
        )
        raise ExecutorSetupError(msg)
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout):
            pass
    except OSError as error:
        msg = f"cannot reach the Ray cluster at {address!r} within {timeout:g} s: {error}"
        raise ExecutorSetupError(msg) from error


def _run_on_ray(
    box: list[Any], fn: Callable[[Any, Any], Any], start: int, items: list[Any]
) -> bytes:
    """Ray task: fetch the context the first time this worker meets it, then run the chunk.

    The context's reference travels inside a list so that Ray does not resolve (and
    deserialise) it for every task. The outcome goes back pickled, as from a pool worker:
    Ray would hand its arrays back as read-only views of the object store instead.
    """
    token = box[0].hex()
    held, context = installed_context(token)
    if not held:
        import ray  # noqa: PLC0415 - only ever run inside a Ray worker

        context = ray.get(box[0])
        install_context(token, context)
    outcome = run_chunk(fn, context, start, items)
    return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)


def _unpickled(source: Future[bytes]) -> Future[ChunkOutcome]:
    """Return a future of the outcome that `source` delivers pickled; it always completes."""
    target: Future[ChunkOutcome] = Future()

    def settle(done: Future[bytes]) -> None:
        if done.cancelled():
            target.cancel()
            return
        try:
            target.set_result(pickle.loads(done.result()))  # noqa: S301 - our task's own bytes
        except BaseException as error:  # whatever it is, the waiter must hear it
            target.set_exception(error)

    source.add_done_callback(settle)
    return target


class RayExecutor(ClosingExecutor):
    """Evaluate items as Ray tasks; the context goes to the object store once per workload.

    `local_cpus` is the size of the instance started for `address="local"`; a cluster's size
    is its own.
    """

    def __init__(self, address: str, *, local_cpus: int = 2) -> None:
        if address != LOCAL:
            probe_address(address)
        self._address = address
        self._ray = _import_ray(address)
        self._owns_ray = not self._ray.is_initialized()
        if self._owns_ray:
            self._connect(local_cpus)
        self._remote = self._ray.remote(num_cpus=1, max_retries=RETRIES_AFTER_A_LOST_WORKER)(
            _run_on_ray
        )
        self._workers = max(1, int(self._ray.cluster_resources().get("CPU", 1)))
        self._context: object = None
        self._box: list[Any] | None = None

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
        if self._box is None or workload.context is not self._context:
            self._context = workload.context
            self._box = [self._ray.put(workload.context)]
        dispatcher = _RayDispatcher(self._ray, self._remote, self._box, self._workers)
        return scatter(dispatcher, workload.fn, items, item_seconds)

    def close(self) -> None:
        """Drop the context; disconnect from (or stop) the Ray instance this executor began."""
        self._box = None
        self._context = None
        if self._owns_ray and not self._closed:
            self._ray.shutdown()
        self._closed = True

    def _connect(self, local_cpus: int) -> None:
        try:
            if self._address == LOCAL:
                # Workers on this machine import what this process imports, as pool workers do.
                path = os.pathsep.join(entry for entry in sys.path if entry)
                self._ray.init(
                    num_cpus=local_cpus,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env={"env_vars": {"PYTHONPATH": path}},
                )
            else:
                self._ray.init(address=self._address, log_to_driver=False)
        except Exception as error:  # Ray raises many kinds here; each means "no cluster"
            msg = f"cannot start or join Ray at {self._address!r}: {type(error).__name__}: {error}"
            raise ExecutorSetupError(msg) from error


def _import_ray(address: str) -> Any:
    try:
        import ray  # noqa: PLC0415 - lazily: importing ray costs seconds and most runs never do
    except ImportError as error:
        msg = f"ray address {address!r} given, but ray cannot be imported: {error}"
        raise ExecutorSetupError(msg) from error
    return ray


class _RayDispatcher:
    def __init__(self, ray: Any, remote: Any, box: list[Any], workers: int) -> None:
        self._ray = ray
        self._remote = remote
        self._box = box
        self._workers = workers

    @property
    def workers(self) -> int:
        return self._workers

    def submit(
        self, fn: Callable[[Any, Any], Any], start: int, items: list[Any]
    ) -> Future[ChunkOutcome]:
        reference = self._remote.remote(self._box, fn, start, items)
        return _unpickled(cast("Future[bytes]", reference.future()))

    def lost(self, error: BaseException, start: int, stop: int) -> WorkersError:
        died = (
            self._ray.exceptions.WorkerCrashedError,
            self._ray.exceptions.NodeDiedError,
            self._ray.exceptions.ObjectLostError,
        )
        what = f"items {start}..{stop - 1}"
        if isinstance(error, died):
            return WorkerDiedError(f"a Ray worker or node was lost while it held {what}: {error}")
        return WorkersError(f"{what} could not be run on Ray: {type(error).__name__}: {error}")
