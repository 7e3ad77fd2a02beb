"""Run `sma-cross` 20/50 at 10 bps over BTC/USDT 1h in coinswarm and each peer; print speed.

    python benchmarks/bench_backtest.py [--data FILE] [--repeat N] [--tz-aware]

`--tz-aware` gives the peers a tz-aware UTC index instead (what they got before issue 11), to
show what that costs them.

Each runner goes in its own child process, so that one library's imports, caches and JIT do not
pollute another's timing or peak memory. A child loads the bars (untimed), runs once to warm
up (numba compiles vectorbt's kernels on first use), then times `--repeat` runs and keeps the
best, then runs once more under tracemalloc for the peak of Python-tracked allocations during a
run. Peak RSS is the child's high-water mark over its whole life (imports and data included).

Each runner gets its best configuration that we know of; the configuration and what one run
computes are printed under the table (they live in `peers.SETUPS`). Costs are pinned on every
side: 10 bps each way, no slippage.

Times are the process's CPU seconds (`time.process_time`), not wall time: on a machine shared
with other jobs, wall time measures their load as much as ours. Every runner is single-threaded,
so on an idle machine the two agree.

This prints figures; it never asserts on time. Without the data file or a peer library it says
why and carries on (exit 0).
"""

# Imports of coinswarm and peers sit inside functions on purpose: a missing one must cost a
# printed line, not the whole benchmark.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import peers
from paths import DEFAULT_DATA

RUNNERS = ("coinswarm", "backtesting.py", "backtrader", "vectorbt")
RESULT_TAG = "RESULT "


# ============================================================================================
# COINSWARM ENGINE: the lead engineer owns this block. `coinswarm_runner` loads the bars and
# returns a callable running sma-cross 20/50 at 10 bps on them, giving (final_equity,
# round_trips, bars), or returns None when the engine cannot run yet. Loading stays outside
# the callable because it costs more than the run itself and the peers are timed without it.
# Imports stay inside so that the peers still run without the engine.
# ============================================================================================
def coinswarm_runner(path: Path) -> Callable[[], tuple[float, int, int]] | None:
    try:
        from coinswarm.backtest.engine import BacktestConfig, run_backtest
        from coinswarm.data import load_bars
        from coinswarm.domain.costs import FeeSchedule, FillModel
        from coinswarm.domain.slippage import FixedSlippage
        from coinswarm.strategies.sma_cross import SmaCross, SmaCrossConfig
    except ImportError as error:
        print(f"coinswarm engine: not available ({error})")
        return None
    series = load_bars(path)
    # Every cost spelled out, so that a change of the engine's defaults cannot change the
    # comparison: the spec's fee on both sides of the book, no slippage, no volume cap.
    config = BacktestConfig(
        initial_cash=Decimal(int(peers.INITIAL_CASH)),
        fill_model=FillModel(
            fees=FeeSchedule.flat(Decimal(str(peers.FEE * 10_000))),
            slippage=FixedSlippage(),
            max_volume_share=None,
        ),
    )

    def run() -> tuple[float, int, int]:
        strategy = SmaCross(SmaCrossConfig(fast=peers.FAST, slow=peers.SLOW))
        result = run_backtest([series], strategy, config)
        return float(result.final_equity), len(result.trades), len(series)

    return run


def run_coinswarm(path: Path) -> tuple[float, int, int] | None:
    """Return (final_equity, round_trips, bars) from the engine, or None if it cannot run."""
    runner = coinswarm_runner(path)
    return None if runner is None else runner()


def _timed(job, repeat: int) -> tuple[tuple[float, int, int], float, float]:
    """Return the job's result, its first (cold) time and its best warm time."""
    start = time.process_time()
    result = job()
    cold = time.process_time() - start
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        job()
        best = min(best, time.process_time() - start)
    return result, cold, min(best, cold)


def _traced_peak_mb(job) -> float:
    tracemalloc.start()
    job()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _job(name: str, path: Path, tz_aware: bool):
    if name == "coinswarm":
        return coinswarm_runner(path)
    bars = replace(peers.load_bars(path), tz_aware=tz_aware)
    runner = peers.PEERS[name]

    def job():
        result = runner(bars)
        return result.final_equity, result.round_trips, result.bars

    return job


def child(name: str, path: Path, repeat: int, tz_aware: bool) -> dict:
    """Run one runner in this process and return its figures as a dict."""
    # backtesting.py warns that the trade still open at the end is not in its trade count;
    # that is the convention we want (see peers.py), so the warning is noise here.
    warnings.simplefilter("ignore", UserWarning)
    job = _job(name, path, tz_aware)
    if job is None:
        return {"name": name, "skipped": "coinswarm engine: not available"}
    try:
        # Peers import their library on the first call, so a missing one shows up here.
        (equity, trades, bars), cold, best = _timed(job, repeat)
    except ImportError as error:
        return {"name": name, "skipped": f"{name} not installed ({error})"}
    traced = _traced_peak_mb(job)
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 2**20 if sys.platform == "darwin" else 2**10
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    return {
        "name": name,
        "equity": equity,
        "trades": trades,
        "bars": bars,
        "cold_s": cold,
        "best_s": best,
        "rss_mb": rss,
        "traced_mb": traced,
    }


def _spawn(name: str, path: Path, repeat: int, tz_aware: bool) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--data",
        str(path),
        "--repeat",
        str(repeat),
        *(["--tz-aware"] if tz_aware else []),
    ]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"name": name, "skipped": f"{name} failed (exit {done.returncode}): {tail}"}


def _print_table(rows: list[dict], expected: tuple[float, int] | None, index: str) -> None:
    ran = [row for row in rows if "skipped" not in row]
    base = next((row for row in ran if row["name"] == "coinswarm"), None)
    base_name = "coinswarm" if base else "backtrader"
    base = base or next((row for row in ran if row["name"] == "backtrader"), None)
    print(
        f"{'runner':<15}{'bars/s':>12}{'cold s':>9}{'best s':>9}{'vs ' + base_name:>16}"
        f"{'equity':>13}{'trades':>8}{'RSS MB':>9}{'traced MB':>11}  agrees"
    )
    for row in rows:
        if "skipped" in row:
            print(f"{row['name']:<15}skipped: {row['skipped']}")
            continue
        speed = row["bars"] / row["best_s"]
        ratio = f"{speed / (base['bars'] / base['best_s']):.2f}x" if base else "-"
        agrees = "-"
        if expected:
            same_equity = abs(row["equity"] / expected[0] - 1) <= 1e-4
            agrees = "yes" if same_equity and row["trades"] == expected[1] else "NO"
        print(
            f"{row['name']:<15}{speed:>12,.0f}{row['cold_s']:>9.3f}{row['best_s']:>9.3f}"
            f"{ratio:>16}{row['equity']:>13.2f}{row['trades']:>8}{row['rss_mb']:>9.1f}"
            f"{row['traced_mb']:>11.1f}  {agrees}"
        )
    print("configurations (each runner's fastest that we know of) and what one run computes:")
    for row in rows:
        setup = peers.SETUPS[row["name"]]
        given = (
            setup.configuration if row["name"] == "coinswarm" else f"{setup.configuration}; {index}"
        )
        print(f"  {row['name']}: {given}")
        print(f"  {'':{len(row['name'])}}  computes {setup.computes}")


def _expected(path: Path) -> tuple[float, int] | None:
    """Return the spec's answer from coinswarm's vectorised path, the one every peer must hit."""
    try:
        from coinswarm.backtest.vectorized import sma_cross_trades
    except ImportError:
        return None
    bars = peers.load_bars(path)
    result = sma_cross_trades(bars.open, bars.close, peers.FAST, peers.SLOW, peers.FEE)
    return result.final_equity, result.round_trips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up")
    parser.add_argument(
        "--tz-aware", action="store_true", help="give the peers a tz-aware UTC index"
    )
    parser.add_argument("--child", choices=RUNNERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"skipped: data file not found at {args.data}")
        return 0
    if args.child:
        print(RESULT_TAG + json.dumps(child(args.child, args.data, args.repeat, args.tz_aware)))
        return 0
    expected = _expected(args.data)
    print(
        f"sma-cross {peers.FAST}/{peers.SLOW}, fee {peers.FEE:.4f}, "
        f"cash {peers.INITIAL_CASH:,.0f}, data {args.data.name}"
    )
    if expected:
        print(
            f"spec answer (coinswarm vectorised): equity {expected[0]:.2f}, "
            f"{expected[1]} round trips"
        )
    index = "tz-aware UTC index (not their best)" if args.tz_aware else "tz-naive UTC index"
    print(f"peers get a {index}; times in CPU seconds of each runner's process")
    rows = [_spawn(name, args.data, args.repeat, args.tz_aware) for name in RUNNERS]
    _print_table(rows, expected, index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
