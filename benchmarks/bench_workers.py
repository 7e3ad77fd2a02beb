"""Evaluations per second in this process, in a pool of 1 worker and of 2, and the scaling.

    python benchmarks/bench_workers.py [--items 1000] [--bars 45000] [--repeat 5]

The workload is CPU-bound numpy of about 1 ms an item, shaped like a candidate's evaluation:
a context of bar arrays sent once per worker, an item that is a small seed, a result of a few
floats. Each executor runs the items once (which starts its workers and installs the context;
printed as the first run), then `--repeat` times more, the executors taking turns so that a
change in the machine's load falls on all of them alike; the best wall time is kept, since
parallel speed-up is a matter of wall time. Every run's results are checked byte for byte
against the inline ones.

The machine's load average is printed first: on a 2-core machine shared with other jobs, 2
workers can only scale as far as the cores left idle allow. So each run also counts the CPU
seconds of this process and every process below it (from /proc): CPU per item shows what the
executor costs on top of the work whatever the load, and CPU over wall time shows how many
cores the run actually got. Last, the same work in 2 bare processes against 1 (no executor)
shows how far the machine itself scaled at that moment. This prints figures; it never
asserts on time.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from coinswarm.evolution.workers import InlineExecutor, PoolExecutor, Workload


class Bars:
    """The context: a close and a volume series."""

    def __init__(self, bars: int) -> None:
        rng = np.random.default_rng(0)
        self.close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, bars)))
        self.volume = rng.lognormal(0.0, 1.0, bars)


def evaluate(context: Bars, item: int) -> np.ndarray:
    """About a millisecond of numpy: a seeded random rule's returns, summarised."""
    rng = np.random.default_rng([7, item])
    threshold = rng.uniform(-0.02, 0.02)
    returns = np.diff(np.log(context.close))
    momentum = np.convolve(returns, np.ones(24) / 24, mode="same")
    held = momentum > threshold
    taken = np.where(held[:-1], returns[1:], 0.0)
    weighted = np.cumsum(taken * np.sqrt(context.volume[1:-1]))
    return np.array([taken.sum(), taken.std(), weighted[-1], float(held.sum())])


def evaluate_all(context: Bars, items: list[int]) -> int:
    for item in items:
        evaluate(context, item)
    return len(items)


def machine_scaling(context: Bars, items: list[int], repeat: int) -> float:
    """Return how much faster 2 processes run the items than 1, each given one large task.

    No chunking, no context shipping, nothing of ours: the most a pool of 2 could reach on
    this machine, with the other jobs it is running. Best of `repeat`, taking turns.
    """
    half = items[: len(items) // 2]
    forkserver = get_context("forkserver")
    with (
        ProcessPoolExecutor(1, mp_context=forkserver) as one,
        ProcessPoolExecutor(2, mp_context=forkserver) as two,
    ):
        list(two.map(evaluate_all, [context] * 2, [half[:5]] * 2))  # start both workers
        one.submit(evaluate_all, context, half[:5]).result()
        best_one = best_two = math.inf
        for _ in range(repeat):
            started = time.perf_counter()
            one.submit(evaluate_all, context, half).result()
            best_one = min(best_one, time.perf_counter() - started)
            started = time.perf_counter()
            list(two.map(evaluate_all, [context] * 2, [half, half]))
            best_two = min(best_two, time.perf_counter() - started)
    return 2 * best_one / best_two


def tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process and every live process below it (the pool's
    workers are children of the forkserver, so not counted by this process's own times)."""
    parents: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # ended while we looked
            continue
        pid = int(entry.name)
        parents.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    total, stack = 0, [os.getpid()]
    while stack:
        pid = stack.pop()
        total += ticks.get(pid, 0)
        stack.extend(parents.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def timed(executor, workload, items):
    """Return the results, the wall seconds and the CPU seconds (all our processes) of a run."""
    cpu = tree_cpu_seconds()
    started = time.perf_counter()
    results = executor.run(workload, items)
    wall = time.perf_counter() - started
    return results, wall, tree_cpu_seconds() - cpu


def measure(executors, workload, items, repeat):
    """Time each executor `repeat` times, taking turns, so that a change in the machine's load
    falls on all of them alike; return each one's results, first (cold) wall seconds, and the
    wall and CPU seconds of its fastest run."""
    firsts = [timed(executor, workload, items) for executor in executors]
    best = [(wall, cpu) for _, wall, cpu in firsts]
    for _ in range(repeat):
        for k, executor in enumerate(executors):
            results, wall, cpu = timed(executor, workload, items)
            assert pickle.dumps(results) == pickle.dumps(firsts[k][0])
            best[k] = min(best[k], (wall, cpu))
    return [
        (results, cold, wall, cpu)
        for (results, cold, _), (wall, cpu) in zip(firsts, best, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=45_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    workload = Workload(Bars(args.bars), evaluate)
    items = list(range(args.items))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"cores {os.cpu_count()}, load average {load} (1, 5, 15 min)")
    print(f"{args.items} items, {args.bars} bars, best of {args.repeat} after a first run")

    labels = ("inline (--workers 1)", "pool of 1", "pool of 2 (--workers 2)")
    with InlineExecutor() as inline, PoolExecutor(1) as pool1, PoolExecutor(2) as pool2:
        measured = measure((inline, pool1, pool2), workload, items, args.repeat)
    rows = [(label, *row) for label, row in zip(labels, measured, strict=True)]

    reference = pickle.dumps(rows[0][1])
    print(
        f"{'executor':<24} {'items/s':>8} {'ms/item':>8} {'CPU ms/item':>12}"
        f" {'cores used':>11} {'first run s':>12} {'same bytes':>11}"
    )
    for label, results, cold, wall, cpu in rows:
        same = pickle.dumps(results) == reference
        print(
            f"{label:<24} {args.items / wall:>8.0f} {1000 * wall / args.items:>8.3f}"
            f" {1000 * cpu / args.items:>12.3f} {cpu / wall:>11.2f} {cold:>12.2f} {same!s:>11}"
        )
    inline, pool1, pool2 = (args.items / wall for _, _, _, wall, _ in rows)
    print(f"scaling, 2 workers against inline: {pool2 / inline:.2f}x")
    print(f"scaling, 2 workers against a pool of 1: {pool2 / pool1:.2f}x")
    print(
        "the machine's own scaling now (2 bare processes against 1, no executor):"
        f" {machine_scaling(workload.context, items, args.repeat):.2f}x"
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average after: {load}")


if __name__ == "__main__":
    main()
