"""The committee walk-forward on the 11 pairs: does the pattern agent make it better, or not?

    python benchmarks/committee_walk_forward.py [--data-dir DIR] [--years 2021,2022,2023]
        [--timeframes 4h,1d] [--cycles 30] [--workers 2] [--seed 0] [--fee-bps 60]
        [--cash 10000] [--reset-after-days 7] [--out DIR]

Nested and honest (`coinswarm.evolution.committee.walk_forward`): for each traded year P, a
discovery run on the 11 pairs' bars before P only (its own folds, purge and holdout) proves
patterns or says why not; P is then backtested by (a) today's committee (trend,
mean_reversion, risk), (b) the committee with the pattern agent trading what was proven
before P (nothing proven: (b) is (a), and the line says so) and (c) buy-and-hold, equal
weight; all after the default costs (60 bps a side and the slippage model), from the same cash,
in the committee's default risk phase. It prints what each discovery proved (pattern, rule,
out-of-sample Sharpe, deflated Sharpe, PBO, SPA p) or its most failed checks, then a table
per period and the periods chained: return, annualised Sharpe, max drawdown, turnover (traded
notional over average equity, per year), fees (USDT, and per year of average equity), fills,
round trips and orders the risk layer refused; and the wall time of each step.

The discovery database and the exported patterns files go to --out (default: a temporary
folder, deleted at the end); a discovery already in --out is read back, not run again.
Figures only: nothing is asserted. Without the data folder it prints why and exits 0.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from paths import DEFAULT_DATA

DEFAULT_DATA_DIR = DEFAULT_DATA.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--years", default="2021,2022,2023", help="the traded years, in order")
    parser.add_argument("--timeframes", default="4h,1d", help="searched and traded")
    parser.add_argument("--cycles", type=int, default=30, help="discovery cycles per period")
    parser.add_argument("--workers", type=int, default=2, help="discovery worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fee-bps", type=Decimal, default=Decimal(60))
    parser.add_argument("--cash", type=Decimal, default=Decimal(10_000))
    parser.add_argument("--reset-after-days", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="keep the database and files")
    return parser.parse_args()


def print_settings(args: argparse.Namespace, files: Sequence[Path], settings) -> None:
    names = ", ".join(f.name.split("-")[0] for f in files)
    print(f"data: {len(files)} pairs of hourly bars in {args.data_dir} ({names})")
    print(
        f"traded periods: {args.years}; timeframes searched and traded: "
        f"{', '.join(settings.timeframes)}"
    )
    print(
        f"discovery per period: {settings.cycles} cycles, seed {settings.seed}, "
        f"{args.workers} workers, folds/holdout/proof thresholds as `coinswarm evolve`"
    )
    print(
        f"backtests: {settings.cash} USDT, fee {settings.fee_bps} bps a side and the default "
        f"slippage model, risk phase {settings.phase} (the committee's default), operator "
        f"reset after {settings.reset_after_days} days; each period starts flat and cold"
    )
    print()


def main() -> None:
    args = parse_args()
    files = sorted(args.data_dir.glob("*-1h.csv.gz"))
    if not files:
        print(f"skipped: no hourly data files (*-1h.csv.gz) in {args.data_dir}")
        return
    from coinswarm.data.loader import load_bars  # noqa: PLC0415 - after the data check
    from coinswarm.data.timeframe import on_timeframe, timeframe_ns  # noqa: PLC0415
    from coinswarm.evolution.committee import report  # noqa: PLC0415
    from coinswarm.evolution.committee import walk_forward as wf  # noqa: PLC0415

    settings = wf.WalkForwardSettings(
        timeframes=tuple(t.strip() for t in args.timeframes.split(",") if t.strip()),
        cycles=args.cycles,
        seed=args.seed,
        fee_bps=args.fee_bps,
        cash=args.cash,
        reset_after_days=args.reset_after_days,
    )
    periods = report.calendar_years([int(y) for y in args.years.split(",")])
    print_settings(args, files, settings)

    started = time.perf_counter()
    market = [load_bars(path) for path in files]
    on_bars = {
        tf: [on_timeframe(series, timeframe_ns(tf)) for series in market]
        for tf in settings.timeframes
    }
    timings = [f"load and resample: {time.perf_counter() - started:.0f} s"]
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        traded = run_periods(args, settings, periods, market, on_bars, out, timings, files)
    print_tables(traded, settings, periods, report, wf)
    print()
    print("wall time: " + "; ".join(timings))
    print(f"total wall time: {time.perf_counter() - started:.0f} s")


def run_periods(args, settings, periods, market, on_bars, out, timings, files):
    from coinswarm.bootstrap import open_store  # noqa: PLC0415
    from coinswarm.evolution.committee import walk_forward as wf  # noqa: PLC0415
    from coinswarm.evolution.workers import make_executor  # noqa: PLC0415

    traded = []
    with (
        open_store(f"sqlite:///{out / 'discovery.db'}") as store,
        make_executor(args.workers, None) as executor,
    ):
        for period in periods:
            began = time.perf_counter()
            discovery = wf.discover_before(
                market, period, settings, store, executor, now_ns=time.time_ns
            )
            proven = wf.export_proven(discovery, store, out)
            timings.append(f"discovery before {period.label} {time.perf_counter() - began:.0f} s")
            for line in discovery.describe():
                print(line)
            began = time.perf_counter()
            for tf in settings.timeframes:
                done = wf.trade_period(
                    on_bars[tf], period, tf, proven.get(tf), settings, data=tuple(files)
                )
                print(f"  {period.label} on {tf}: {done.note}")
                traded.append(done)
            timings.append(f"backtests of {period.label} {time.perf_counter() - began:.0f} s")
            print(flush=True)
    return traded


def print_tables(traded, settings, periods, report, wf) -> None:
    rows = [
        report.figure_cells(t.period.label, t.timeframe, name, report.figures([t.legs[name]]))
        for t in traded
        for name in wf.STRATEGIES
    ]
    print("each period (each from the same cash, after fees and slippage):")
    print(report.render_table(report.COLUMNS, rows))
    abstained = [f"{t.period.label} {t.timeframe}" for t in traded if t.patterns is None]
    if abstained:
        print(
            f"{wf.WITH_PATTERNS} is {wf.COMMITTEE} itself where nothing was proven before the "
            f"period (the pattern agent abstained): {', '.join(abstained)}"
        )
    print()
    span = f"{periods[0].label}-{periods[-1].label}"
    overall = []
    for tf in settings.timeframes:
        for name in wf.STRATEGIES:
            legs = [t.legs[name] for t in traded if t.timeframe == tf]
            overall.append(report.figure_cells(span, tf, name, report.figures(legs)))
    print("the periods chained (returns compounded; fees and fills summed):")
    print(report.render_table(report.COLUMNS, overall))


if __name__ == "__main__":
    main()
