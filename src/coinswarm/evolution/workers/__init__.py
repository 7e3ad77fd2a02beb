"""Where candidate evaluations run: this process, a local process pool, or a Ray cluster.

    with make_executor(workers=args.workers, ray_address=args.ray_address) as executor:
        for phase in phases:
            workload = Workload(phase.dataset, score_pattern)   # the context travels once
            for generation in range(generations):
                scores = executor.run(workload, [p.to_json() for p in population])

Every executor returns the same results, byte for byte, in the items' order, whatever the
engine and the number of workers; `coinswarm.evolution.workers.workload` says what `fn` must keep to
for that. Ray is imported only when a Ray executor is built.
"""

from __future__ import annotations

from coinswarm.evolution.workers.pool import START_METHOD, PoolExecutor
from coinswarm.evolution.workers.ray_executor import LOCAL, RayExecutor
from coinswarm.evolution.workers.workload import (
    Executor,
    ExecutorSetupError,
    InlineExecutor,
    WorkerDiedError,
    WorkersError,
    WorkItemError,
    Workload,
)

__all__ = [
    "LOCAL",
    "START_METHOD",
    "Executor",
    "ExecutorSetupError",
    "InlineExecutor",
    "PoolExecutor",
    "RayExecutor",
    "WorkItemError",
    "WorkerDiedError",
    "WorkersError",
    "Workload",
    "make_executor",
]


def make_executor(workers: int, ray_address: str | None) -> Executor:
    """Return the executor `--workers` and `--ray-address` ask for.

    With a Ray address, Ray runs the items (`"local"` starts an instance of `workers` CPUs on
    this machine; a cluster's size is its own); otherwise `workers == 1` runs them in this
    process and more start that many worker processes. Raise ExecutorSetupError for a worker
    count below 1 or a Ray address that cannot be reached (within seconds, naming it).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        msg = f"workers: expected a whole number >= 1, found {workers!r}"
        raise ExecutorSetupError(msg)
    if ray_address is not None:
        if not ray_address.strip():
            raise ExecutorSetupError("ray address: expected 'local' or host:port, found ''")
        return RayExecutor(ray_address.strip(), local_cpus=workers)
    if workers == 1:
        return InlineExecutor()
    return PoolExecutor(workers)
