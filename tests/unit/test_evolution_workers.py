"""Executors: the same results in the same order whatever the engine and worker count; the
context sent once per worker; failures named by item; a killed worker reported, not a hang.

The workloads live in tests/worker_workloads.py so that worker processes can import them.
"""

from __future__ import annotations

import math
import os
import pickle
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import worker_workloads as w
from coinswarm.evolution.workers import (
    ExecutorSetupError,
    InlineExecutor,
    PoolExecutor,
    WorkerDiedError,
    WorkersError,
    WorkItemError,
    Workload,
    make_executor,
)
from coinswarm.evolution.workers._chunks import (
    PROBE_ITEMS,
    TARGET_TASK_SECONDS,
    ChunkOutcome,
    chunk_size,
    run_chunk,
    scatter,
)

SRC = Path(__file__).resolve().parents[2] / "src"
DATASET = w.Dataset(seed=7, bars=5_000)
ITEMS = list(range(24))


@pytest.fixture(scope="module")
def inline_results() -> list[tuple[object, w.Marker]]:
    with InlineExecutor() as inline:
        return inline.run(Workload(DATASET, w.score), ITEMS)


@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("item_seconds", [None, 1.0], ids=["measured", "one-item-chunks"])
def test_a_pool_returns_the_inline_results_byte_for_byte(
    inline_results, workers: int, item_seconds: float | None
):
    with PoolExecutor(workers) as pool:
        results = pool.run(Workload(DATASET, w.score), ITEMS, item_seconds=item_seconds)
    assert w.values_of(results) == w.values_of(inline_results)
    assert pickle.dumps([v for v, _ in results]) == pickle.dumps([v for v, _ in inline_results])
    assert os.getpid() not in {marker.pid for _, marker in results}


def test_the_inline_results_are_what_fn_gives_item_by_item(inline_results):
    direct = [w.score(DATASET, item) for item in ITEMS]
    assert w.values_of(inline_results) == w.values_of(direct)
    assert w.values_of(inline_results) != w.values_of(direct[::-1])  # the check can fail


def test_a_pool_sends_the_context_once_per_worker_and_keeps_it_across_runs():
    workload = Workload(DATASET, w.pid_of)
    with PoolExecutor(2) as pool:
        first = pool.run(workload, list(range(64)), item_seconds=1.0)  # 64 one-item tasks
        second = pool.run(workload, list(range(64)), item_seconds=1.0)
        pids = {marker.pid for marker in first + second}
        assert {marker.contexts_received for marker in first + second} == {1}
        assert 1 <= len(pids) <= 2
        next_phase = pool.run(Workload(w.Dataset(seed=8, bars=100), w.pid_of), list(range(8)))
    assert {marker.contexts_received for marker in next_phase} == {1}
    assert not pids & {marker.pid for marker in next_phase}  # a new context, a new pool
    assert w.UNPICKLED_HERE == []  # this process only ever pickled it


def test_chunks_come_back_in_item_order_when_they_finish_out_of_order():
    # The first chunk (items 0..4 at 30 ms each) is still running while the other worker
    # finishes every later chunk.
    items = [(index, 0.03 if index < 5 else 0.0) for index in range(24)]
    with PoolExecutor(2) as pool:
        results = pool.run(Workload(DATASET, w.uneven), items, item_seconds=0.01)
    assert [index for index, _, _ in results] == list(range(24))
    assert [total for _, total, _ in results] == [w.uneven(DATASET, (i, 0.0))[1] for i in range(24)]
    finished = [at for _, _, at in results]
    assert finished != sorted(finished)  # they did finish out of order


@pytest.mark.parametrize(
    ("make", "item_seconds"),
    [(InlineExecutor, None), (lambda: PoolExecutor(2), None), (lambda: PoolExecutor(2), 1.0)],
    ids=["inline", "pool-measured", "pool-one-item-chunks"],
)
def test_an_exception_in_fn_names_the_first_failing_item(make, item_seconds):
    workload = Workload(DATASET, w.fail_on_thirteen_and_twenty)
    with make() as executor, pytest.raises(WorkItemError) as caught:
        executor.run(workload, list(range(30)), item_seconds=item_seconds)
    assert caught.value.index == 13
    assert str(caught.value) == "item 13 failed: ValueError: no score for 13"


def test_a_worker_failure_carries_the_worker_traceback():
    with PoolExecutor(2) as pool, pytest.raises(WorkItemError) as caught:
        pool.run(Workload(DATASET, w.fail_on_thirteen_and_twenty), list(range(30)))
    assert "fail_on_thirteen_and_twenty" in caught.value.remote_traceback
    assert "ValueError: no score for 13" in caught.value.remote_traceback


def test_a_killed_worker_is_reported_and_the_next_run_starts_a_new_pool():
    with PoolExecutor(2) as pool, ThreadPoolExecutor(1) as watchdog:
        running = watchdog.submit(
            pool.run, Workload(DATASET, w.die_on_five), list(range(12)), item_seconds=1.0
        )
        with pytest.raises(WorkerDiedError, match=r"ended abruptly .* held items \d+\.\.\d+"):
            running.result(timeout=60)  # a hang fails here instead of stalling the suite
        again = pool.run(Workload(DATASET, w.pid_of), list(range(6)))
    assert {marker.contexts_received for marker in again} == {1}


def test_empty_items_give_empty_results_without_starting_workers():
    with PoolExecutor(2) as pool:
        assert pool.run(Workload(DATASET, w.score), []) == []
    with InlineExecutor() as inline:
        assert inline.run(Workload(DATASET, w.score), []) == []


def test_a_closed_executor_refuses_work():
    for executor in (InlineExecutor(), PoolExecutor(2)):
        executor.close()
        with pytest.raises(WorkersError, match="closed"):
            executor.run(Workload(DATASET, w.pid_of), [1])


@pytest.mark.parametrize("item_seconds", [0.0, -1.0, math.nan, math.inf])
def test_a_bad_cost_hint_is_refused_by_every_executor(item_seconds):
    for executor in (InlineExecutor(), PoolExecutor(2)):
        with executor, pytest.raises(ExecutorSetupError, match="item_seconds"):
            executor.run(Workload(DATASET, w.pid_of), [1], item_seconds=item_seconds)


def test_a_workload_needs_a_module_level_function():
    with pytest.raises(ExecutorSetupError, match="module level"):
        Workload(DATASET, lambda context, item: item)


def test_a_pool_refuses_a_context_it_cannot_send():
    with PoolExecutor(2) as pool, pytest.raises(ExecutorSetupError, match="picklable context"):
        pool.run(Workload(threading.Lock(), w.pid_of), [1])


def test_make_executor_picks_the_engine_from_workers():
    with make_executor(1, None) as one:
        assert isinstance(one, InlineExecutor)
    with make_executor(3, None) as three:
        assert isinstance(three, PoolExecutor)
        assert three.workers == 3


@pytest.mark.parametrize("workers", [0, -2, True, 2.5, "2"])
def test_make_executor_refuses_a_bad_worker_count(workers):
    with pytest.raises(ExecutorSetupError, match=r"workers: expected a whole number >= 1"):
        make_executor(workers, None)


@pytest.mark.parametrize("address", ["no-port", "host:port", "127.0.0.1:99999", "  "])
def test_make_executor_refuses_a_malformed_ray_address(address):
    with pytest.raises(ExecutorSetupError, match="ray address"):
        make_executor(2, address)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_ray_address_fails_in_seconds_naming_it_without_importing_ray():
    address = f"127.0.0.1:{_closed_port()}"
    code = f"""
import sys, time
import coinswarm.evolution.workers as workers
print("ray imported by workers:", "ray" in sys.modules)
began = time.monotonic()
try:
    workers.make_executor(2, {address!r})
except workers.ExecutorSetupError as error:
    print("failed after", round(time.monotonic() - began, 2), "s:", error)
print("ray imported at the end:", "ray" in sys.modules)
"""
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert lines[0] == "ray imported by workers: False"
    assert f"cannot reach the Ray cluster at {address!r}" in lines[1]
    assert float(lines[1].split()[2]) < 5.0
    assert lines[2] == "ray imported at the end: False"


# --- the scatter itself, through an in-process dispatcher ----------------------------------


class InProcessDispatcher:
    """A real dispatcher that runs each chunk at once, in this process."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.chunks: list[tuple[int, int]] = []

    def submit(self, fn, start: int, items: list) -> Future[ChunkOutcome]:
        future: Future[ChunkOutcome] = Future()
        future.set_result(run_chunk(fn, DATASET, start, items))
        self.chunks.append((start, start + len(items)))
        return future

    def lost(self, error: BaseException, start: int, stop: int) -> WorkersError:
        return WorkersError(f"lost {start}..{stop}: {error}")


@given(
    values=st.lists(st.integers(-1000, 1000), max_size=60),
    failing=st.sets(st.integers(0, 59), max_size=3),
    workers=st.integers(1, 4),
    item_seconds=st.one_of(st.none(), st.floats(1e-7, 1.0)),
)
def test_scatter_returns_every_result_in_order_or_the_first_failure(
    values, failing, workers, item_seconds
):
    items = [(value, index in failing) for index, value in enumerate(values)]
    dispatcher = InProcessDispatcher(workers)
    first_failure = min((i for i in failing if i < len(items)), default=None)
    if first_failure is None:
        results = scatter(dispatcher, w.double_or_fail, items, item_seconds)
        assert results == [w.double_or_fail(DATASET, item) for item in items]
        assert sum(stop - start for start, stop in dispatcher.chunks) == len(items)
    else:
        with pytest.raises(WorkItemError) as caught:
            scatter(dispatcher, w.double_or_fail, items, item_seconds)
        assert caught.value.index == first_failure
        assert caught.value.kind == "ArithmeticError"
    stops = [0] + [stop for _, stop in dispatcher.chunks]
    assert [start for start, _ in dispatcher.chunks] == stops[:-1]  # no gap, no overlap


def test_without_a_hint_each_worker_first_gets_a_probe_chunk():
    dispatcher = InProcessDispatcher(workers=2)
    scatter(dispatcher, w.double_or_fail, [(v, False) for v in range(100)], None)
    assert dispatcher.chunks[:2] == [(0, PROBE_ITEMS), (PROBE_ITEMS, 2 * PROBE_ITEMS)]


@given(
    item_seconds=st.floats(1e-7, 10.0),
    remaining=st.integers(1, 100_000),
    workers=st.integers(1, 64),
)
def test_a_chunk_lasts_the_target_unless_that_leaves_a_worker_without_one(
    item_seconds, remaining, workers
):
    size = chunk_size(item_seconds, remaining, workers)
    even_share = math.ceil(remaining / workers)
    assert 1 <= size <= even_share
    if size < even_share and size > 1:
        assert size * item_seconds >= TARGET_TASK_SECONDS * (1 - 1e-9)
        assert (size - 1) * item_seconds < TARGET_TASK_SECONDS
