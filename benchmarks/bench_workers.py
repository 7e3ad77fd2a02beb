"""Evaluations per second in this process, in a pool of 1 worker and of 2, and the scaling.

    python benchmarks/bench_workers.py [--items 2000] [--bars 45000] [--repeat 3]

The workload is CPU-bound numpy of about 1 ms an item, shaped like a candidate's evaluation:
a context of bar arrays sent once per worker, an item that is a small seed, a result of a few
floats. Each executor runs the items once untimed (which starts its workers and installs the
context), then `--repeat` times; the best wall time is kept, since parallel speed-up is a
matter of wall time. Every run's results are checked byte for byte against the inline ones.

The machine's load average is printed first: on a 2-core machine shared with other jobs, 2
workers can only scale as far as the cores left idle allow. This prints figures; it never
asserts on time.
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

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


def machine_scaling(context: Bars, items: list[int]) -> float:
    """Return how much faster 2 processes run the items than 1, each given one large task.

    No chunking, no context shipping, nothing of ours: the most a pool of 2 could reach on
    this machine at this moment, with the other jobs it is running.
    """
    half = items[: len(items) // 2]
    elapsed = []
    for workers, tasks in ((1, [half]), (2, [half, half])):
        with ProcessPoolExecutor(workers, mp_context=get_context("forkserver")) as pool:
            list(pool.map(evaluate_all, [context] * workers, [half[:5]] * workers))  # start
            started = time.perf_counter()
            list(pool.map(evaluate_all, [context] * len(tasks), tasks))
            elapsed.append(time.perf_counter() - started)
    return 2 * elapsed[0] / elapsed[1]


def measure(executor, workload, items, repeat):
    started = time.perf_counter()
    results = executor.run(workload, items)
    cold = time.perf_counter() - started
    best = cold
    for _ in range(repeat):
        started = time.perf_counter()
        again = executor.run(workload, items)
        best = min(best, time.perf_counter() - started)
        assert pickle.dumps(again) == pickle.dumps(results)
    return results, cold, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--bars", type=int, default=45_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    workload = Workload(Bars(args.bars), evaluate)
    items = list(range(args.items))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"cores {os.cpu_count()}, load average {load} (1, 5, 15 min)")
    print(f"{args.items} items, {args.bars} bars, best of {args.repeat} after one untimed run")

    rows = []
    for label, make in (
        ("inline (--workers 1)", InlineExecutor),
        ("pool of 1", lambda: PoolExecutor(1)),
        ("pool of 2 (--workers 2)", lambda: PoolExecutor(2)),
    ):
        with make() as executor:
            results, cold, best = measure(executor, workload, items, args.repeat)
        rows.append((label, results, cold, best))

    reference = pickle.dumps(rows[0][1])
    print(f"{'executor':<24} {'items/s':>9} {'ms/item':>8} {'first run s':>12} {'same bytes':>11}")
    for label, results, cold, best in rows:
        same = pickle.dumps(results) == reference
        rate = args.items / best
        print(f"{label:<24} {rate:>9.0f} {1000 / rate:>8.3f} {cold:>12.2f} {same!s:>11}")
    inline, pool1, pool2 = (args.items / best for _, _, _, best in rows)
    print(f"scaling, 2 workers against inline: {pool2 / inline:.2f}x")
    print(f"scaling, 2 workers against a pool of 1: {pool2 / pool1:.2f}x")
    print(
        "the machine's own scaling now (2 bare processes against 1, no executor):"
        f" {machine_scaling(workload.context, items):.2f}x"
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average after: {load}")


if __name__ == "__main__":
    main()
