"""Latency of a kill-switch read and speed of token-bucket takes, in process and through Redis.

    python benchmarks/bench_state.py [--url redis://127.0.0.1:6379/0] [--reads N] [--takes N]

The engine's door reads the kill switch before every order, so its latency is the figure that
matters: the roadmap asks < 10 ms, our goal is < 1 ms on one machine. Prints p50, p99 and the
worst read, then takes per second (one thread, one bucket, half the takes refused). Figures
only: nothing here asserts on time. Without a Redis server it says why and carries on (exit 0).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from coinswarm.infra.state import (
    DEFAULT_REDIS_URL,
    HotState,
    MemoryHotState,
    RedisHotState,
    StateUnavailableError,
)

T0 = 1_700_000_000 * 10**9


def read_latencies_ns(state: HotState, count: int) -> list[int]:
    """Return the nanoseconds each of `count` kill-switch reads took."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter_ns()
        state.kill_switch()
        latencies.append(time.perf_counter_ns() - started)
    return latencies


def takes_per_second(state: HotState, count: int) -> tuple[float, int]:
    """Return takes per second and how many passed: 1 000 ns apart at 500 000 tokens/s."""
    started = time.perf_counter()
    granted = sum(
        state.take("bench", now_ns=T0 + step * 1_000, rate_per_s=500_000.0, burst=10)
        for step in range(count)
    )
    return count / (time.perf_counter() - started), granted


def report(name: str, state: HotState, reads: int, takes: int) -> None:
    state.set_kill_switch("benchmark", "bench_state", T0)  # a set flag is the longer read
    read_latencies_ns(state, min(reads, 1_000))  # warm up connections and caches
    latencies = read_latencies_ns(state, reads)
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<8} kill-switch read: p50 {cuts[49] / 1e3:8.1f} us   p99 {cuts[98] / 1e3:8.1f} us"
        f"   max {max(latencies) / 1e3:9.1f} us   ({reads} reads)"
    )
    rate, granted = takes_per_second(state, takes)
    print(f"{name:<8} token-bucket take: {rate:12,.0f} takes/s   ({granted} of {takes} passed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--takes", type=int, default=20_000)
    args = parser.parse_args()

    report("memory", MemoryHotState(), args.reads * 10, args.takes * 10)
    try:
        state = RedisHotState(args.url, namespace=f"bench-{uuid.uuid4().hex}")
    except StateUnavailableError as error:
        print(f"redis    skipped: {error}")
        return
    try:
        report("redis", state, args.reads, args.takes)
    finally:
        state.delete_all()
        state.close()


if __name__ == "__main__":
    main()
