"""A real local Ray instance gives the inline executor's results byte for byte, receives the
context once per Ray worker process, names a failing item, reports a killed worker, and is
shut down after.

One Ray instance serves the module (starting one takes seconds); it is started through
`make_executor(2, "local")`, the path `--ray-address local` takes.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator

import pytest

import worker_workloads as w
from absent import absent
from coinswarm.evolution.workers import (
    ExecutorSetupError,
    InlineExecutor,
    RayExecutor,
    WorkerDiedError,
    WorkItemError,
    Workload,
    make_executor,
)

DATASET = w.Dataset(seed=11, bars=5_000)
ITEMS = list(range(40))


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    try:
        executor = make_executor(2, "local")
    except ExecutorSetupError as error:
        absent(f"a local Ray instance did not start here: {error}")
    assert isinstance(executor, RayExecutor)
    with executor:
        yield executor
    import ray  # noqa: PLC0415 - only to see that the executor shut it down

    assert not ray.is_initialized()


def test_ray_returns_the_inline_results_byte_for_byte(ray_executor):
    workload = Workload(DATASET, w.score)
    with InlineExecutor() as inline:
        expected = inline.run(workload, ITEMS)
    for item_seconds in (None, 1.0):  # measured chunks, then one item per task
        results = ray_executor.run(workload, ITEMS, item_seconds=item_seconds)
        assert w.values_of(results) == w.values_of(expected)
        assert pickle.dumps([v for v, _ in results]) == pickle.dumps([v for v, _ in expected])
        assert os.getpid() not in {marker.pid for _, marker in results}


def test_ray_sends_the_context_once_per_worker_process(ray_executor):
    workload = Workload(DATASET, w.pid_of)
    first = ray_executor.run(workload, list(range(32)), item_seconds=1.0)  # 32 one-item tasks
    second = ray_executor.run(workload, list(range(32)), item_seconds=1.0)
    assert {marker.contexts_received for marker in first + second} == {1}
    seen = {marker.pid for marker in first + second}
    next_phase = ray_executor.run(
        Workload(w.Dataset(seed=12, bars=50), w.pid_of), list(range(8)), item_seconds=1.0
    )
    for marker in next_phase:  # the new context, once, on top of the old one if it had it
        assert marker.contexts_received == 1 + (marker.pid in seen)


def test_ray_names_the_first_failing_item(ray_executor):
    workload = Workload(DATASET, w.fail_on_thirteen_and_twenty)
    with pytest.raises(WorkItemError) as caught:
        ray_executor.run(workload, list(range(30)), item_seconds=1.0)
    assert str(caught.value) == "item 13 failed: ValueError: no score for 13"
    assert "fail_on_thirteen_and_twenty" in caught.value.remote_traceback


def test_a_killed_ray_worker_is_reported_after_one_retry(ray_executor):
    # Ray runs a chunk whose worker died once more; each try dies on item 5.
    with pytest.raises(WorkerDiedError, match=r"Ray worker or node was lost while it held items 5"):
        ray_executor.run(Workload(DATASET, w.die_on_five), list(range(12)), item_seconds=1.0)
    assert ray_executor.run(Workload(DATASET, w.pid_of), [1, 2])[0].contexts_received >= 1
