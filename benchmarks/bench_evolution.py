"""Candidate evaluations per second: coinswarm against vectorbt, per core and on 2 workers.

    python benchmarks/bench_evolution.py [--data FILE] [--candidates 400] [--batch 100]
                                         [--repeat 3] [--seed 7] [--worker-rounds 5] [--no-workers]

A candidate evaluation is what the discovery loop does for each candidate in each window: one
pattern (1 to 3 entry conditions over the default features, an exit with take profit, stop loss
and a time limit) traded over the whole file with a fee of 60 bps a side, its features already
cached. The candidates are a seeded random sample (`--seed`), the same for every runner: each
condition a default feature, an op and a threshold at a random percentile (5..95) of the
feature's values, long or short, take profit and stop loss each absent or log-uniform in 0.5% to
20%, a time limit log-uniform in 1..240 bars.

Runners, each timed in this process's CPU seconds (best of `--repeat` after an untimed warm-up,
which compiles numba code; the cold time is shown):

* coinswarm `evaluate`: the entry and exit masks and the compiled walk; trades, each trade's net
  return and every bar's log return.
* coinswarm `score_window`: the same over the whole span, plus the daily record the statistics
  use (and the market's own log returns for the random-entry test).
* coinswarm as a worker runs it: `scoring.score_item` from the pattern's JSON, its result pickled.
* vectorbt, one candidate a call: `Portfolio.from_signals` on one column.
* vectorbt, batched: `--batch` candidates as columns of one `from_signals` call.

vectorbt gets each candidate's rule in its own terms: entries are the candidate's condition mask
moved one bar on (a signal on a close fills at the next open, `price=open`); take profit and stop
loss are its `tp_stop`/`sl_stop`, checked on the close that decides them and filled at the next
open (`close` is the deciding close, `stop_exit_price=Price`), converted for shorts, whose
move coinswarm measures as entry/close - 1; the time limit is a signal function (vectorbt has
no time stop), which also issues the entries. One unit a trade with `init_cash='auto'`, so a
losing rule never runs out of cash. Both sides build the masks with the same numpy code, inside
the timing. The printout says how many candidates trade on exactly the same bars in both.

The batched vectorbt figure is the fair one, and the ratios are against it: a cycle's
candidates are known together (the loop scores them as one batch), and many columns in one
call is how vectorbt is meant to sweep. One candidate a call is shown beside it because that is
how the loop hands candidates to its workers; vectorbt's cost per call is small against its
cost per bar here, so the two differ little.

Then the scaling: the same scoring through `evolution.workers.make_executor(1, None)` (this
process) and `make_executor(2, None)` (a pool of two), taking turns, in wall time (the first
run of each, which starts the pool, is not timed), beside what two plain processes gain on
this machine at this moment (each given half the items as one task). The machine's load
average is printed first and last: on a 2-core machine shared with other jobs, two workers can
only scale as far as the idle cores allow.

This prints figures; it never asserts on time. Without the data file or vectorbt it says why.
"""

# vectorbt and pandas are imported inside functions on purpose: a missing peer must cost a
# printed line, not the whole benchmark.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numba
import numpy as np

from coinswarm.data.features import DEFAULT_FEATURES
from coinswarm.data.loader import load_bars
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side, Source
from coinswarm.evolution.dataset import Dataset, Market
from coinswarm.evolution.evaluate import DEFAULT_FEE_RATE, condition_mask, evaluate
from coinswarm.evolution.scoring import score_item, score_window
from coinswarm.evolution.variation import FeatureQuantiles
from coinswarm.evolution.windows import Window
from coinswarm.evolution.workers import Workload, make_executor
from paths import DEFAULT_DATA

TIMEFRAME = "1h"
PERCENTILES = (5, 96)  # a threshold's percentile, drawn from 5..95
STOP_RANGE = (0.005, 0.2)
HOLD_RANGE = (1, 240)
VECTORBT_SETUP = (
    "Portfolio.from_signals with a signal function (the candidate's entries, its time limit),"
    " sl_stop/tp_stop on the deciding close filled at the next open (price=open,"
    " stop_exit_price=Price), fees=0.006, one unit a trade, init_cash='auto', tz-naive index,"
    " freq='1h'; numba compiled in the untimed warm-up"
)
VECTORBT_COMPUTES = "order records, trades from them and the final value (no per-bar returns)"


# --- the candidates ----------------------------------------------------------------------------


def random_candidates(quantiles: FeatureQuantiles, count: int, seed: int) -> list[Pattern]:
    """Return `count` seeded random patterns shaped like the loop's candidates."""
    rng = np.random.default_rng(seed)
    features = [f for f in DEFAULT_FEATURES if quantiles.has(TIMEFRAME, f)]

    def stop() -> float | None:
        if rng.random() < 1 / 3:
            return None
        return math.exp(rng.uniform(*(math.log(bound) for bound in STOP_RANGE)))

    candidates = []
    for _ in range(count):
        chosen = rng.choice(len(features), size=int(rng.integers(1, 4)), replace=False)
        entry = tuple(
            Condition(
                features[i],
                "<" if rng.random() < 0.5 else ">",
                quantiles.value(TIMEFRAME, features[i], int(rng.integers(*PERCENTILES))),
            )
            for i in sorted(chosen)
        )
        hold = round(math.exp(rng.uniform(*(math.log(bound) for bound in HOLD_RANGE))))
        candidates.append(
            Pattern(
                entry=entry,
                side=Side.LONG if rng.random() < 0.5 else Side.SHORT,
                exit=Exit(hold, take_profit=stop(), stop_loss=stop()),
                source=Source.EVOLVED,
            )
        )
    return candidates


# --- timing ------------------------------------------------------------------------------------


def best_time(job: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Run `job` once cold, then `repeat` times; return the cold and best CPU seconds."""
    start = time.process_time()
    job()
    cold = time.process_time() - start
    best = math.inf
    for _ in range(repeat):
        start = time.process_time()
        job()
        best = min(best, time.process_time() - start)
    return cold, best


def report(
    label: str, count: int, cold: float, best: float, baseline: float | None = None
) -> float:
    rate = count / best
    against = f", {rate / baseline:7.1f}x vectorbt batched" if baseline else ""
    print(
        f"  {label:38s} {rate:10,.0f} evaluations/s per core "
        f"({best / count * 1e6:8.1f} us each; cold {cold:.2f} s{against})"
    )
    return rate


def time_coinswarm(
    dataset: Dataset, candidates: Sequence[Pattern], repeat: int
) -> dict[str, tuple[float, float]]:
    market = dataset.markets(TIMEFRAME)[0]
    series, lookup = market.series, market.features.values
    whole = Window(dataset.start_ns, dataset.end_ns)
    context = (dataset, DEFAULT_FEE_RATE)
    items = [(p.to_json(), whole.start_ns, whole.end_ns) for p in candidates]

    def evaluate_all() -> None:
        for pattern in candidates:
            evaluate(pattern, series.open, series.close, lookup)

    def score_all() -> None:
        for pattern in candidates:
            score_window(pattern, dataset, whole)

    def as_worker() -> None:
        for item in items:
            pickle.dumps(score_item(context, item), protocol=pickle.HIGHEST_PROTOCOL)

    return {
        "evaluate": best_time(evaluate_all, repeat),
        "score_window": best_time(score_all, repeat),
        "score_item, result pickled": best_time(as_worker, repeat),
    }


# --- vectorbt ----------------------------------------------------------------------------------


@numba.njit(cache=True)
def _pattern_signals_nb(c, entries, sides, max_bars, entered_at):  # pragma: no cover - numba
    """vectorbt's signal function: enter on the candidate's (moved) mask, leave on its time
    limit; take profit and stop loss are vectorbt's own stops, checked before this is called."""
    col = c.col
    if c.position_now == 0:
        if entries[c.i, col]:
            entered_at[col] = c.i
            long = sides[col] > 0
            return long, False, not long, False
        return False, False, False, False
    if c.i - entered_at[col] >= max_bars[col]:
        long = c.position_now > 0
        return False, long, False, not long
    return False, False, False, False


class VectorbtRunner:
    """Candidates as columns of one vectorbt portfolio, in coinswarm's trade semantics."""

    def __init__(self, market: Market) -> None:
        import pandas as pd

        series = market.series
        self.market = market
        self.bars = len(series)
        index = pd.to_datetime(series.ts, utc=True).tz_convert(None)
        # Row r acts on the close of bar r - 1 (the deciding close) and fills at the open of r.
        self.decided = pd.Series(np.concatenate(([series.close[0]], series.close[:-1])), index)
        self.open = series.open[:, None]

    def run(self, batch: Sequence[Pattern]):
        import pandas as pd
        import vectorbt as vbt
        from vectorbt.portfolio.enums import StopEntryPrice, StopExitPrice

        k = len(batch)
        entries = np.zeros((self.bars, k), dtype=np.bool_)
        sides = np.empty(k, dtype=np.int64)
        max_bars = np.empty(k, dtype=np.int64)
        stop_loss = np.full((1, k), np.nan)
        take_profit = np.full((1, k), np.nan)
        for j, pattern in enumerate(batch):
            entries[1:, j] = condition_mask(pattern.entry, self.market.features.values)[:-1]
            sides[j] = pattern.side.sign
            max_bars[j] = pattern.exit.max_bars
            stop_loss[0, j], take_profit[0, j] = _vectorbt_stops(pattern)
        return vbt.Portfolio.from_signals(
            self.decided,
            signal_func_nb=_pattern_signals_nb,
            signal_args=(entries, sides, max_bars, np.zeros(k, dtype=np.int64)),
            price=self.open,
            fees=DEFAULT_FEE_RATE,
            sl_stop=stop_loss,
            tp_stop=take_profit,
            stop_entry_price=StopEntryPrice.Price,
            stop_exit_price=StopExitPrice.Price,
            size=1.0,
            init_cash="auto",
            freq="1h",
            wrapper_kwargs={"columns": pd.RangeIndex(k)},
        )

    def outputs(self, batch: Sequence[Pattern]) -> tuple[np.ndarray, np.ndarray]:
        """Run `batch`; return its trade records and final values (what is timed)."""
        portfolio = self.run(batch)
        return portfolio.trades.records_arr, np.asarray(portfolio.final_value())


def _vectorbt_stops(pattern: Pattern) -> tuple[float, float]:
    """Return vectorbt's sl_stop and tp_stop (NaN: none) for the pattern's exit.

    vectorbt measures a short's stop as the price rising `sl` above entry and its take profit
    as the price falling `tp` below; coinswarm measures a short's move as entry/close - 1, so
    a stop at -sl is the price at entry/(1 - sl) and a take profit at tp the price at
    entry/(1 + tp).
    """
    sl, tp = pattern.exit.stop_loss, pattern.exit.take_profit
    if pattern.side is Side.SHORT:
        sl = None if sl is None else (sl / (1 - sl) if sl < 1 else math.inf)
        tp = None if tp is None else tp / (1 + tp)
    return (math.nan if sl is None else sl), (math.nan if tp is None else tp)


def time_vectorbt(
    market: Market, candidates: Sequence[Pattern], batch: int, repeat: int
) -> tuple[tuple[float, float], tuple[float, float], np.ndarray]:
    runner = VectorbtRunner(market)
    chunks = [candidates[i : i + batch] for i in range(0, len(candidates), batch)]
    records: list[np.ndarray] = []

    def each() -> None:
        for pattern in candidates:
            runner.outputs([pattern])

    def batched() -> None:
        records.clear()
        offset = 0
        for chunk in chunks:
            trades, _ = runner.outputs(chunk)
            trades = trades.copy()
            trades["col"] += offset
            records.append(trades)
            offset += len(chunk)

    one = best_time(each, max(1, repeat - 1))
    many = best_time(batched, repeat)
    return one, many, np.concatenate(records)


def agreement(market: Market, candidates: Sequence[Pattern], records: np.ndarray) -> int:
    """Return how many candidates trade on the same bars in vectorbt as in coinswarm: the same
    entries, and the same exits for every trade vectorbt closed (it leaves the last one open
    where coinswarm closes it at the last close)."""
    series = market.series
    same = 0
    for j, pattern in enumerate(candidates):
        ours = evaluate(pattern, series.open, series.close, market.features.values)
        theirs = records[records["col"] == j]
        closed = theirs[theirs["status"] == 1]
        same += bool(
            np.array_equal(theirs["entry_idx"], ours.entries)
            and np.array_equal(closed["exit_idx"], ours.exits[: len(closed)])
        )
    return same


# --- workers -----------------------------------------------------------------------------------

_WORKER_CONTEXT: tuple[Dataset, float] | None = None


def _install(context: tuple[Dataset, float]) -> None:
    global _WORKER_CONTEXT  # noqa: PLW0603 - a plain process's one copy of the context
    _WORKER_CONTEXT = context


def _score_all(items: Sequence[tuple[str, int, int]]) -> int:
    assert _WORKER_CONTEXT is not None
    for item in items:
        pickle.dumps(score_item(_WORKER_CONTEXT, item), protocol=pickle.HIGHEST_PROTOCOL)
    return len(items)


def machine_scaling(context: tuple[Dataset, float], items: list[tuple[str, int, int]]) -> float:
    """Return how much faster 2 plain processes score the items than 1: each is given half of
    them as one task, with nothing of the executor's (no chunks, no result shipping)."""
    half = items[: len(items) // 2]
    elapsed = []
    for workers in (1, 2):
        with ProcessPoolExecutor(
            workers, mp_context=get_context("forkserver"), initializer=_install, initargs=(context,)
        ) as pool:
            list(pool.map(_score_all, [half[:20]] * workers))  # start, compile, warm up
            started = time.perf_counter()
            list(pool.map(_score_all, [half] * workers))
            elapsed.append(time.perf_counter() - started)
    return 2 * elapsed[0] / elapsed[1]


def time_workers(
    dataset: Dataset, candidates: Sequence[Pattern], rounds: int, repeat: int
) -> dict[int, float]:
    """Return the best wall seconds each executor takes over every candidate `rounds` times.

    The executors take turns, run by run, so that a change in the machine's load weighs on
    both alike.
    """
    whole = Window(dataset.start_ns, dataset.end_ns)
    items = [(p.to_json(), whole.start_ns, whole.end_ns) for p in candidates] * rounds
    workload = Workload((dataset, DEFAULT_FEE_RATE), score_item)
    walls = dict.fromkeys((1, 2), math.inf)
    with make_executor(1, None) as inline, make_executor(2, None) as pool:
        executors = {1: inline, 2: pool}
        expected = inline.run(workload, items[:50])
        assert pickle.dumps(pool.run(workload, items[:50])) == pickle.dumps(expected)
        for _ in range(repeat):
            for workers, executor in executors.items():
                started = time.perf_counter()
                executor.run(workload, items)
                walls[workers] = min(walls[workers], time.perf_counter() - started)
    for workers, best in walls.items():
        print(
            f"  make_executor({workers}, None): {len(items) / best:10,.0f} evaluations/s "
            f"(best {best:.2f} s wall for {len(items)} score_item calls)"
        )
    ceiling = machine_scaling((dataset, DEFAULT_FEE_RATE), items)
    print(
        f"  scaling 1 -> 2 workers: {walls[1] / walls[2]:.2f}x (goal >= 1.7x); two plain"
        f" processes on this machine now: {ceiling:.2f}x"
    )
    return walls


# --- main --------------------------------------------------------------------------------------


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--candidates", type=int, default=400, help="the random sample's size")
    parser.add_argument("--batch", type=int, default=100, help="vectorbt columns per call")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up")
    parser.add_argument("--seed", type=int, default=7, help="the candidates' seed")
    parser.add_argument(
        "--worker-rounds", type=int, default=5, help="times each candidate goes to the executors"
    )
    parser.add_argument("--no-workers", action="store_true", help="skip the 2-worker scaling")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"skipped: data file not found at {args.data}")
        return 0
    print(f"load average (1, 5, 15 min): {load_average()} on {os.cpu_count()} cores")
    dataset = Dataset([load_bars(args.data)], (TIMEFRAME,))
    market = dataset.markets(TIMEFRAME)[0]
    started = time.process_time()
    quantiles = FeatureQuantiles.build(dataset, Window(dataset.start_ns, dataset.end_ns))
    print(
        f"{market.series.instrument} {TIMEFRAME}: {len(market.series):,} bars; "
        f"{len(market.features)} default features computed and cached in "
        f"{time.process_time() - started:.2f} s (not timed below)"
    )
    candidates = random_candidates(quantiles, args.candidates, args.seed)
    trades = [
        evaluate(p, market.series.open, market.series.close, market.features.values).trades
        for p in candidates
    ]
    print(
        f"{len(candidates)} random candidates (seed {args.seed}): median {np.median(trades):,.0f}"
        f" trades each over the whole file, fee {DEFAULT_FEE_RATE:.1%} a side"
    )
    ours = time_coinswarm(dataset, candidates, args.repeat)
    theirs = None
    try:
        import vectorbt

        print(f"vectorbt {vectorbt.__version__}: {VECTORBT_SETUP}")
        theirs = time_vectorbt(market, candidates, args.batch, args.repeat)
    except ImportError as error:
        print(f"vectorbt: skipped, not installed ({error})")
    print("single process, CPU time:")
    baseline = len(candidates) / theirs[1][1] if theirs else None
    for label, (cold, best) in ours.items():
        report(f"coinswarm {label}", len(candidates), cold, best, baseline)
    if theirs:
        one, many, records = theirs
        report("vectorbt, one candidate a call", len(candidates), *one)
        report(f"vectorbt, {args.batch} candidates a call", len(candidates), *many)
        print(f"  vectorbt computes {VECTORBT_COMPUTES}")
        print(
            "  the ratios are against vectorbt batched, the fair comparison: a cycle's candidates"
            " are known together, and columns in one call are vectorbt's own way to sweep"
        )
        same = agreement(market, candidates, records)
        print(
            f"  trades on the same bars (entries, and every exit vectorbt closed): {same} of"
            f" {len(candidates)} candidates"
        )
    if not args.no_workers:
        print(f"through the executors, wall time (load average {load_average()}):")
        time_workers(dataset, candidates, args.worker_rounds, args.repeat)
    print(f"load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
