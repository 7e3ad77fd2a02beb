"""Time the probability of backtest overfitting (CSCV) at the discovery loop's size.

    python benchmarks/bench_pbo.py [--candidates 10000] [--bars 8760] [--partitions 16]
                                   [--repeat 3] [--reference-combinations 20]

Seeded normal returns (T bars x N candidates, float64; the draw is not timed). The fast
version (`evolution.statistics.pbo.probability_of_backtest_overfitting`) runs `--repeat`
times; the best wall and CPU seconds are printed (the machine is shared: the worst is printed
too). The plain reference, which concatenates every combination's rows and computes each Sharpe
ratio directly, would take about an hour at this size, so it is timed on its first
`--reference-combinations` combinations and extrapolated to all C(S, S/2) of them, and the
line says so. Both are then run in full on a small matrix and compared.

Peak memory: tracemalloc's peak over one fast run (numpy reports its arrays to it; the input
matrix, allocated before, is not counted) and the process's peak RSS after the fast runs
(interpreter, libraries and input included; before the reference copies any rows).

This prints figures; it never asserts on time.
"""

from __future__ import annotations

import argparse
import itertools
import math
import resource
import time
import tracemalloc

import numpy as np

from coinswarm.evolution.statistics.pbo import (
    probability_of_backtest_overfitting,
    probability_of_backtest_overfitting_reference,
)
from coinswarm.evolution.statistics.sharpe import sharpe_ratios

MB = 1024 * 1024


def returns_matrix(bars: int, candidates: int, seed: int = 13) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((bars, candidates))
    matrix *= 0.01
    return matrix


def peak_rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def time_fast(matrix: np.ndarray, partitions: int, repeat: int):
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = probability_of_backtest_overfitting(matrix, partitions)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return result, walls, cpus


def traced_peak(matrix: np.ndarray, partitions: int) -> float:
    tracemalloc.start()
    probability_of_backtest_overfitting(matrix, partitions)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / MB


def reference_seconds_per_combination(matrix: np.ndarray, partitions: int, count: int) -> float:
    """Return the seconds the reference spends a combination (rows joined, both halves rated)."""
    bars = matrix.shape[0]
    bounds = [b * bars // partitions for b in range(partitions + 1)]
    blocks = [matrix[bounds[b] : bounds[b + 1]] for b in range(partitions)]
    combinations = itertools.islice(
        itertools.combinations(range(partitions), partitions // 2), count
    )
    start = time.perf_counter()
    for in_sample in combinations:
        out_of_sample = [b for b in range(partitions) if b not in in_sample]
        is_ratios = sharpe_ratios(np.concatenate([blocks[b] for b in in_sample]))
        oos_ratios = sharpe_ratios(np.concatenate([blocks[b] for b in out_of_sample]))
        pick = int(np.argmax(is_ratios))
        np.count_nonzero(oos_ratios < oos_ratios[pick])
    return (time.perf_counter() - start) / count


def compare_small(partitions: int) -> str:
    matrix = returns_matrix(2000, 200, seed=14)
    start = time.perf_counter()
    fast = probability_of_backtest_overfitting(matrix, partitions)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = probability_of_backtest_overfitting_reference(matrix, partitions)
    reference_s = time.perf_counter() - start
    same = (
        fast.chosen.tolist() == reference.chosen.tolist()
        and fast.logits.tolist() == reference.logits.tolist()
        and fast.pbo == reference.pbo
    )
    return (
        f"200 candidates x 2,000 bars, S={partitions}: fast {fast_s:.2f} s, reference"
        f" {reference_s:.1f} s (timed in full), {reference_s / fast_s:.0f}x;"
        f" same choices, logits and PBO: {'yes' if same else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--bars", type=int, default=8_760)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-combinations", type=int, default=20)
    args = parser.parse_args()
    partitions = args.partitions
    combinations = math.comb(partitions, partitions // 2)

    matrix = returns_matrix(args.bars, args.candidates)
    print(
        f"PBO by CSCV: {args.candidates:,} candidates x {args.bars:,} bars, S={partitions}"
        f" ({combinations:,} combinations), input {matrix.nbytes / MB:,.0f} MB"
    )
    result, walls, cpus = time_fast(matrix, partitions, args.repeat)
    print(
        f"fast:      best {min(walls):.2f} s wall, {min(cpus):.2f} s CPU"
        f" (worst {max(walls):.2f} s wall over {args.repeat} runs); PBO {result.pbo:.3f}"
    )
    traced = traced_peak(matrix, partitions)
    print(
        f"           peak traced {traced:,.0f} MB beyond the input;"
        f" peak RSS so far {peak_rss():,.0f} MB (interpreter, input and all)"
    )

    per = reference_seconds_per_combination(matrix, partitions, args.reference_combinations)
    print(
        f"reference: {per:.2f} s a combination over the first {args.reference_combinations},"
        f" extrapolated to {combinations:,}: {per * combinations / 60:,.0f} min"
        f" ({per * combinations / min(walls):,.0f}x the fast best) - not run in full"
    )
    print(compare_small(partitions))


if __name__ == "__main__":
    main()
