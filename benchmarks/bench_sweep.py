"""Sweep `sma-cross` over a 174-combination grid in coinswarm's vectorised path and in vectorbt.

    python benchmarks/bench_sweep.py [--data FILE] [--repeat N]

The grid is fast 5..50 step 5 by slow 20..200 step 10, keeping fast < slow, at 10 bps on
BTC/USDT 1h. Both sides run in this process on the same arrays; each is warmed up once (numba
compiles vectorbt's kernels on first use), then timed `--repeat` times and the best kept.
vectorbt gets a tz-naive UTC index and freq='1h' (see `peers.SETUPS`).

The two do not compute the same amount, and the output says so. coinswarm's sweep computes
final equity and closed round trips per combination, in closed form from the crossings; it
keeps no equity curve and no per-trade records. vectorbt simulates every bar of every
combination and keeps an order record per fill, from which its final value, trades, equity
curve and statistics can all be derived. Both are timed up to final equity and round trips,
and every combination is compared between the two.

Times are the process's CPU seconds (`time.process_time`), not wall time: on a machine shared
with other jobs, wall time measures their load as much as ours. Every runner is single-threaded,
so on an idle machine the two agree.

This prints figures; it never asserts on time. Without the data file or vectorbt it says why
and exits 0.
"""

# vectorbt and coinswarm are imported inside functions on purpose: a missing one must cost a
# printed line, not the whole benchmark.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import peers
from paths import DEFAULT_DATA

COINSWARM_COMPUTES = (
    "final equity and closed round trips per combination, in closed form from the crossings"
    " (no equity curve, no per-trade records)"
)
FAST_WINDOWS = range(5, 51, 5)
SLOW_WINDOWS = range(20, 201, 10)


def grid() -> tuple[list[int], list[int]]:
    """Return the (fast, slow) pairs in the order coinswarm's sweep walks them."""
    pairs = [(f, s) for s in SLOW_WINDOWS for f in FAST_WINDOWS if f < s]
    return [f for f, _ in pairs], [s for _, s in pairs]


def best_time(job, repeat: int):
    """Run `job` once cold, then `repeat` times; return its result, cold and best seconds."""
    start = time.process_time()
    result = job()
    cold = time.process_time() - start
    best = cold
    for _ in range(repeat):
        start = time.process_time()
        job()
        best = min(best, time.process_time() - start)
    return result, cold, best


def run_coinswarm(bars: peers.Bars):
    from coinswarm.backtest.vectorized import sma_cross_sweep

    sweep = sma_cross_sweep(
        bars.open,
        bars.close,
        FAST_WINDOWS,
        SLOW_WINDOWS,
        fee_rate=peers.FEE,
        initial_cash=peers.INITIAL_CASH,
    )
    return sweep.final_equity, sweep.round_trips


def run_vectorbt(frame):
    fast, slow = grid()
    portfolio = peers.vectorbt_portfolio(frame, fast, slow, peers.FEE)
    equity = np.asarray(portfolio.final_value(), dtype=np.float64)
    trips = np.asarray(portfolio.trades.closed.count(), dtype=np.int64)
    return equity, trips


def compare(ours, theirs) -> None:
    """Print how many combinations agree and list the ones that do not."""
    fast, slow = grid()
    same_trips = ours[1] == theirs[1]
    same_equity = np.abs(ours[0] / theirs[0] - 1) <= 1e-6
    agree = same_trips & same_equity
    print(
        f"agreement: {int(agree.sum())} of {len(agree)} combinations have the same round "
        "trips and final equity within 1e-6 relative"
    )
    for i in np.flatnonzero(~agree):
        print(
            f"  differs: {fast[i]}/{slow[i]}: coinswarm {ours[0][i]:.2f} / {ours[1][i]} trips,"
            f" vectorbt {theirs[0][i]:.2f} / {theirs[1][i]} trips"
        )
    pairs = list(zip(fast, slow, strict=True))
    samples = [0, pairs.index((20, 50)), len(pairs) - 1] if (20, 50) in pairs else [0]
    for i in samples:
        print(
            f"  sample {fast[i]}/{slow[i]}: coinswarm {ours[0][i]:.2f} / {ours[1][i]},"
            f" vectorbt {theirs[0][i]:.2f} / {theirs[1][i]}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs after the warm-up")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"skipped: data file not found at {args.data}")
        return 0
    bars = peers.load_bars(args.data)
    combos = len(grid()[0])
    print(
        f"grid: fast {FAST_WINDOWS.start}..{FAST_WINDOWS.stop - 1} step {FAST_WINDOWS.step} x "
        f"slow {SLOW_WINDOWS.start}..{SLOW_WINDOWS.stop - 1} step {SLOW_WINDOWS.step}, "
        f"fast < slow: {combos} combinations over {len(bars)} bars"
    )
    ours, cold, best = best_time(lambda: run_coinswarm(bars), args.repeat)
    ours_rate = combos / best
    print(
        f"coinswarm vectorised: {ours_rate:10,.0f} combinations/s "
        f"(best {best:.3f} s, cold {cold:.3f} s)"
    )
    print(f"  computes {COINSWARM_COMPUTES}")
    try:
        import vectorbt  # noqa: F401 - only to learn whether the peer is installed
    except ImportError as error:
        print(f"vectorbt: skipped, not installed ({error})")
        return 0
    frame = bars.frame()
    theirs, cold, best = best_time(lambda: run_vectorbt(frame), args.repeat)
    theirs_rate = combos / best
    print(
        f"vectorbt:             {theirs_rate:10,.0f} combinations/s "
        f"(best {best:.3f} s, cold {cold:.3f} s, cold includes numba compilation)"
    )
    setup = peers.SETUPS["vectorbt"]
    print(f"  configuration: {setup.configuration}; tz-naive UTC index")
    print(f"  computes {setup.computes}")
    print(
        f"ratio coinswarm / vectorbt: {ours_rate / theirs_rate:.1f}x, for final equity and"
        " round trips only: vectorbt's run also yields what coinswarm's sweep does not compute"
    )
    compare(ours, theirs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
