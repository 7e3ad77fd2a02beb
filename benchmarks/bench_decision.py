"""Latency of one committee decision per bar, and the committee backtest's speed.

    python benchmarks/bench_decision.py [--data FILE] [--no-gc-freeze]

Decision latency times, for every bar of the file, everything that stands between a new bar
and an order: every agent's vote, the committee's verdict, the orchestrator's plan, and the
oversight manager's review of the plan against a fresh account snapshot. It prints p50, p99,
p99.9 and the worst bar, and how much of the loop the garbage collector took (its collections,
their total and its longest pause): the worst decisions are the collector's pauses, which grow
with whatever the process keeps alive. Like the engine's loops, the decision loop freezes what
lived before it (`backtest.collector`); `--no-gc-freeze` shows the cost without. The roadmap
asks p99 < 100 ms; our goal is p99 < 1 ms.

It then runs full backtests (engine, Decimal ledger, simulated exchange, the door) of the
committee in the phase-0 profile and of sma-cross without limits over the same bars, and prints
bars per second for each, with the collector's share of the committee's run. Both use explicit
costs (10 bps taker fee, no slippage), so that a change of the engine's default costs does not
change what is measured. Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

from coinswarm.agents.base import Direction
from coinswarm.backtest.collector import long_lived_frozen
from coinswarm.backtest.context import EngineContext
from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.data import load_bars
from coinswarm.data.view import fenced_view
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.slippage import FixedSlippage
from coinswarm.risk.account import AccountTracker
from coinswarm.risk.oversight import OversightManager
from coinswarm.risk.profiles import profile_for
from coinswarm.strategies.committee import CommitteeStrategy
from coinswarm.strategies.sma_cross import SmaCross
from paths import DEFAULT_DATA

# Pinned costs, every field spelled out: 10 bps each way, no slippage, no volume cap, so that
# the figures compare like with like whatever the engine's defaults become.
COSTS = FillModel(
    fees=FeeSchedule.flat(Decimal(10)), slippage=FixedSlippage(), max_volume_share=None
)


class CollectorClock:
    """Add up the time the cyclic garbage collector runs while it is installed.

    Pauses are wall time; the longest is also given in this thread's CPU time, which on a
    shared machine tells the collector's own work from the time other jobs took the core.
    """

    def __init__(self) -> None:
        self.collections = 0
        self.total_ns = 0
        self.longest_ns = 0
        self.longest_cpu_ns = 0
        self._began = (0, 0)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = (time.perf_counter_ns(), time.thread_time_ns())
        if phase == "start":
            self._began = now
            return
        pause, cpu = now[0] - self._began[0], now[1] - self._began[1]
        self.collections += 1
        self.total_ns += pause
        self.longest_ns = max(self.longest_ns, pause)
        self.longest_cpu_ns = max(self.longest_cpu_ns, cpu)

    def __enter__(self) -> CollectorClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)

    def line(self, elapsed_ns: int) -> str:
        share = self.total_ns / elapsed_ns if elapsed_ns else 0.0
        return (
            f"gc: {self.collections:,} collections, {self.total_ns / 1e6:,.1f} ms"
            f" ({share:.1%} of the time), longest pause {self.longest_ns / 1e6:.2f} ms"
            f" ({self.longest_cpu_ns / 1e6:.2f} ms of CPU)"
        )


def decision_latencies(series: BarSeries) -> tuple[list[int], list[int]]:
    """Return the nanoseconds each bar's decision took, from votes to the oversight verdict,
    in wall time and in this thread's CPU time (which other jobs on the machine do not add to).
    """
    instrument = instrument_from_symbol(series.instrument)
    cash = Decimal(10_000)
    clock = HistoricalClock(int(series.ts[0]))
    ledger = Ledger({instrument.symbol: instrument}, instrument.quote)
    ledger.deposit(instrument.quote, cash, clock.now_ns())
    view, reveal = fenced_view({series.instrument: series})
    profile = profile_for(0)
    context = EngineContext(
        clock,
        view,
        ledger=ledger,
        instruments={instrument.symbol: instrument},
        resting=lambda _: False,
        position_limit=float(profile.max_position_fraction),
    )
    strategy = CommitteeStrategy()
    oversight = OversightManager(profile)
    tracker = AccountTracker(cash)
    latencies, cpu = [], []
    for row in range(len(series)):
        bar = series.bar(row)
        clock.advance_to(bar.ts)
        reveal(0, row + 1)
        context.closes[bar.instrument] = bar.close
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        intents = strategy.on_bar(bar, context)
        verdict = strategy.verdicts[-1]
        if intents and verdict.direction is not Direction.HOLD:
            marks = context.marks()
            account = tracker.snapshot(
                ts=bar.ts,
                equity=ledger.equity(marks),
                cash=ledger.cash(),
                positions={},
                marks=marks,
            )
            for request in intents:
                oversight.review(request, account, price=marks[bar.instrument])  # type: ignore[arg-type]
        latencies.append(time.perf_counter_ns() - start)
        cpu.append(time.thread_time_ns() - start_cpu)
    return latencies, cpu


def percentile(sorted_values: list[int], fraction: float) -> int:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def bars_per_second(
    series: BarSeries, make, config: BacktestConfig
) -> tuple[float, object, CollectorClock]:
    """Return the best of three runs' bars per second, the last result and its collector time."""
    best = float("inf")
    result = None
    for _ in range(3):
        with CollectorClock() as collector:
            start = time.perf_counter()
            result = run_backtest([series], make(), config)
            elapsed = time.perf_counter() - start
        best = min(best, elapsed)
    return len(series) / best, result, collector


def print_cuts(label: str, latencies: list[int]) -> None:
    cuts = {q: percentile(latencies, q) / 1000 for q in (0.50, 0.99, 0.999)}
    print(
        f"  {label:<5}p50 {cuts[0.50]:.1f} us   p99 {cuts[0.99]:.1f} us"
        f"   p99.9 {cuts[0.999]:.1f} us   max {latencies[-1] / 1000:.1f} us"
        f"   mean {statistics.fmean(latencies) / 1000:.1f} us"
    )


def print_latencies(
    latencies: list[int], cpu: list[int], elapsed_ns: int, collector: CollectorClock
) -> None:
    print_cuts("wall", latencies)
    print_cuts("cpu", cpu)
    print(f"  {collector.line(elapsed_ns)}")
    p99 = percentile(latencies, 0.99)
    print(
        f"  roadmap p99 < 100 ms: {'met' if p99 < 100_000_000 else 'missed'};"
        f" goal p99 < 1 ms: {'met' if p99 < 1_000_000 else 'missed'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="time the decisions without the engine's freeze of what lived before the loop",
    )
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"skipped: no data file at {args.data}")
        return 0
    series = load_bars(args.data)
    # The engine's loops freeze what lived before them (backtest.collector); so does this one,
    # unless asked not to, to show what the collector's full passes cost without it.
    freeze = contextlib.nullcontext() if args.no_gc_freeze else long_lived_frozen()
    with freeze, CollectorClock() as collector:
        start = time.perf_counter_ns()
        wall, cpu = decision_latencies(series)
        elapsed = time.perf_counter_ns() - start
    frozen = "off" if args.no_gc_freeze else "on, as in the engine's loops"
    print(
        f"committee decision over {len(series):,} bars of {series.instrument} (gc freeze {frozen}):"
    )
    latencies = sorted(wall)
    print_latencies(latencies, sorted(cpu), elapsed, collector)
    committee, outcome, collector = bars_per_second(
        series, CommitteeStrategy, BacktestConfig(risk=profile_for(0), fill_model=COSTS)
    )
    sma, _, _ = bars_per_second(series, SmaCross, BacktestConfig(fill_model=COSTS))
    print("full backtests (engine, Decimal ledger, simulated exchange, the door), 10 bps fee:")
    print(f"  committee, phase 0: {committee:>10,.0f} bars/s  ({len(outcome.orders):,} orders)")
    print(f"    last run's {collector.line(int(len(series) / committee * 1e9))}")
    print(f"  sma-cross, no limits: {sma:>8,.0f} bars/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
