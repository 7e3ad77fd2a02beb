"""Workloads for the executor tests, at module level so that worker processes import them.

`Dataset` counts, per process, how many times a copy of it was unpickled: a worker that
received its context once has a count of 1 whenever it evaluates an item, and says so in the
`Marker` it returns with each result.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

UNPICKLED_HERE: list[int] = []
"""One entry per Dataset unpickled in this process."""


class Dataset:
    """The context: bar-like arrays, as the evolution loop's phase data would be."""

    def __init__(self, seed: int, bars: int) -> None:
        rng = np.random.default_rng(seed)
        self.close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, bars)))
        self.volume = rng.lognormal(0.0, 1.0, bars)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        UNPICKLED_HERE.append(os.getpid())


@dataclass(frozen=True)
class Marker:
    pid: int
    contexts_received: int


def score(context: Dataset, item: int) -> tuple[np.ndarray, Marker]:
    """A few numpy computations over the whole dataset, randomised by the item's own seed."""
    rng = np.random.default_rng([2024, item])
    weights = rng.standard_normal(len(context.close))
    log_close = np.log(context.close)
    signal_ = np.cumsum(log_close * weights) / np.sqrt(np.arange(1, len(weights) + 1))
    picked = np.sort(signal_ * context.volume)[:: max(1, len(weights) // 16)]
    return picked, Marker(os.getpid(), len(UNPICKLED_HERE))


def values_of(results: list[tuple[np.ndarray, Marker]]) -> bytes:
    """The results without their markers, as bytes: what must not depend on the executor."""
    return b"".join(values.tobytes() for values, _ in results)


def uneven(context: Dataset, item: tuple[int, float]) -> tuple[int, float, int]:
    """Sleep `item[1]` seconds, then return the item's index, a sum and when it finished."""
    index, seconds = item
    time.sleep(seconds)
    return index, float(np.sum(context.close[: index + 1])), time.monotonic_ns()


def fail_on_thirteen_and_twenty(context: Dataset, item: int) -> float:
    if item in (13, 20):
        raise ValueError(f"no score for {item}")
    return float(context.close[item])


def die_on_five(context: Dataset, item: int) -> float:
    """Kill the worker process itself on item 5, as the OOM killer or a segfault would."""
    if item == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return float(context.close[item])


def pid_of(context: Dataset, item: int) -> Marker:
    """Say which process evaluated the item and how many contexts it has received."""
    return Marker(os.getpid(), len(UNPICKLED_HERE))


def double_or_fail(context: Dataset, item: tuple[int, bool]) -> int:
    """Return twice the item's value, or raise when the item is marked to fail."""
    value, fails = item
    if fails:
        raise ArithmeticError(f"planted failure at value {value}")
    return 2 * value + int(context.close.size > 0)
