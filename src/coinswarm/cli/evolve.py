"""`coinswarm evolve` and `coinswarm patterns ...`: discovery from the command line.

Only the standard library, typer and `cli._shared` load with this module; numpy, numba, the
store and the loop load when a command runs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coinswarm.cli._shared import (
    DbOption,
    UsageError,
    app,
    data_files,
    fail,
    stderr,
    stdout,
    stop_on_interrupt,
    tell,
)
from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from coinswarm.evolution.config import EvolutionConfig
    from coinswarm.evolution.leaderboard import Row
    from coinswarm.evolution.loop import CycleReport
    from coinswarm.evolution.run import DiscoveryRun

__all__ = ["evolve", "patterns_app"]

patterns_app = typer.Typer(
    no_args_is_help=True, help="List, show, export and import discovered patterns."
)
app.add_typer(patterns_app, name="patterns")

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]
RunOption = Annotated[str | None, typer.Option("--run", help="one discovery run (default: all)")]


@app.command()
def evolve(  # noqa: PLR0917 - typer maps each parameter to one option
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="bar file; repeat for several instruments")
    ] = None,
    cycles: Annotated[int, typer.Option(help="cycles to run", min=1)] = 30,
    workers: Annotated[int, typer.Option(help="local worker processes", min=1)] = 1,
    ray_address: Annotated[
        str | None, typer.Option(help="run evaluations on this Ray cluster ('local': start one)")
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="resume the discovery run RUN where it stopped")
    ] = None,
    seed: Annotated[int, typer.Option(help="the run's seed")] = 0,
    timeframes: Annotated[
        str, typer.Option(help="comma-separated timeframes candidates may trade")
    ] = "1h,4h,1d",
    folds: Annotated[int, typer.Option(help="walk-forward folds", min=1)] = 3,
    fee_bps: Annotated[float, typer.Option(help="fee per side, in basis points")] = 60.0,
    demo: Annotated[bool, typer.Option(help="a first look on a synthetic market")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Discover trading patterns walk-forward and prove them out of sample, or say why not.

    Ctrl-C (or SIGTERM) stops after the cycle in hand; `--resume RUN` carries on. A run killed
    outright loses at most the cycle it was in.
    """
    try:
        files = _inputs(data, demo=demo, resume=resume)
        config = _config(cycles, seed, timeframes, folds, fee_bps, demo=demo)
    except CoinswarmError as error:
        raise fail(error) from None
    from coinswarm.bootstrap import open_store  # noqa: PLC0415 - heavy: only when it runs
    from coinswarm.evolution.leaderboard import leaderboard  # noqa: PLC0415
    from coinswarm.evolution.run import DiscoveryRun, RunInputs, load_dataset  # noqa: PLC0415
    from coinswarm.evolution.workers import make_executor  # noqa: PLC0415

    try:
        dataset = None if resume else load_dataset(files, config.timeframes)
        with open_store(db) as store, make_executor(workers, ray_address) as executor:
            if resume is not None:
                run = DiscoveryRun.resume(store, resume, executor)
            else:
                assert dataset is not None
                inputs = RunInputs(files, dataset.fingerprint, config)
                run = DiscoveryRun.start(store, inputs, dataset, executor, now_ns=time.time_ns())
            view = _CycleView(run, quiet=as_json)
            try:
                with stop_on_interrupt(
                    "stopping after the cycle in hand (Ctrl-C): committed cycles are kept"
                ) as stopping:
                    closing = run.run(now_ns=time.time_ns, on_cycle=view, stop=stopping.is_set)
            finally:
                view.close()
            rows = leaderboard(store, run.run_id)
    except CoinswarmError as error:
        raise fail(error) from None
    if closing is None:
        tell(f"interrupted: carry on with  coinswarm evolve --resume {run.run_id}")
        raise typer.Exit(130)
    search = closing.search
    if as_json:
        summary = {
            "run": run.run_id,
            "trials": search.n_trials,
            "pbo": search.pbo,
            "reality_check_p": search.reality_check_p,
            "proven": list(closing.proven),
            "leaderboard": [r.to_dict() for r in rows],
        }
        typer.echo(json.dumps(summary, indent=2))  # plain: rich would colour a long document
        return
    _print_leaderboard(rows, limit=10)
    stdout.print(
        f"run {run.run_id}: {search.n_trials} trials; PBO "
        f"{_maybe(search.pbo, '.2f')}; SPA p vs hold {_maybe(search.reality_check_p, '.3f')}; "
        f"proven: {len(closing.proven) or 'nothing'}",
        markup=False,
        highlight=False,
    )


def _inputs(data: list[Path] | None, *, demo: bool, resume: str | None) -> tuple[str, ...]:
    from coinswarm.evolution.run import DEMO_DATA  # noqa: PLC0415 - light, but only here

    given = data_files(data)
    if resume is not None:
        if given or demo:
            raise UsageError("--resume takes the run's own data: drop --data and --demo")
        return ()
    if demo:
        if given:
            raise UsageError("--demo runs on a synthetic market: drop --data")
        return (DEMO_DATA,)
    if not given:
        raise UsageError("--data: give at least one bar file (or --demo for a first look)")
    return tuple(str(p.resolve()) for p in given)


def _config(
    cycles: int, seed: int, timeframes: str, folds: int, fee_bps: float, *, demo: bool
) -> EvolutionConfig:
    from pydantic import ValidationError  # noqa: PLC0415

    from coinswarm.data.timeframe import timeframe_ns  # noqa: PLC0415
    from coinswarm.evolution.config import EvolutionConfig  # noqa: PLC0415

    labels = tuple(t.strip() for t in timeframes.split(",") if t.strip())
    if not labels:
        raise UsageError("--timeframes: expected labels such as 1h,4h,1d")
    for label in labels:
        timeframe_ns(label)  # a DataError names the bad label
    if not 0 <= fee_bps < 10_000:
        raise UsageError(f"--fee-bps: expected 0 to 10000 basis points, found {fee_bps}")
    try:
        return EvolutionConfig(
            seed=seed,
            cycles=cycles if not demo else min(cycles, 12),
            timeframes=labels,
            folds=folds,
            fee_rate=fee_bps / 10_000,
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise UsageError(
            f"{'.'.join(map(str, first['loc'])) or 'settings'}: {first['msg']}"
        ) from None


class _CycleView:
    """The run's progress on stderr: cycle, evaluations/s, best out-of-sample Sharpe, trials.

    A live bar on a terminal, one line a cycle in a log; `COINSWARM_PROGRESS=lines|bar|off`
    overrides, and `--json` silences it.
    """

    def __init__(self, run: DiscoveryRun, *, quiet: bool) -> None:
        from rich.progress import BarColumn, Progress, TextColumn  # noqa: PLC0415

        self.run = run
        self.cycles = run.inputs.config.cycles
        self.started = time.monotonic()
        self.trials = 0
        self.best_oos: float | None = None
        forced = os.environ.get("COINSWARM_PROGRESS", "").strip().lower()
        self.mode = "off" if quiet else forced or ("bar" if stderr.is_terminal else "lines")
        self.bar: Progress | None = None
        if self.mode == "bar":
            self.bar = Progress(
                TextColumn(run.run_id),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} cycles {task.description}"),
                console=stderr,
                transient=True,
            )
            self.task = self.bar.add_task("", total=self.cycles)
            self.bar.start()

    def __call__(self, report: CycleReport) -> None:
        self.trials += len(report.trials)
        best = report.best_out_of_sample
        if best is not None:
            self.best_oos = best if self.best_oos is None else max(self.best_oos, best)
        rate = self.run.evaluations / max(time.monotonic() - self.started, 1e-9)
        said = (
            f"{rate:,.0f} evaluations/s, best out-of-sample Sharpe "
            f"{_maybe(self.best_oos, '.2f')}, {self.trials:,} trials"
        )
        if self.bar is not None:
            self.bar.update(self.task, completed=report.cycle + 1, description=said)
        elif self.mode == "lines":
            tell(f"{self.run.run_id} cycle {report.cycle + 1}/{self.cycles}: {said}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _maybe(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


_LEGEND = (
    "Sharpe annualised; DSR: deflated for the trials run; PBO and SPA p (against buy-and-hold): "
    "of the whole search; rand p: the same trades at random times"
)


def _print_leaderboard(rows: list[Row], *, limit: int | None = None) -> None:
    """A table of the numbers, then each row's rule and verdict on its own lines (rules are
    long, and a narrow terminal would fold them into a column one word wide)."""
    from rich.table import Table  # noqa: PLC0415

    shown = rows[:limit]
    table = Table(title="leaderboard: out of sample, after fees", caption=_LEGEND)
    for name in ("id", "IS Sh", "OOS Sh", "trades", "DSR", "PBO", "SPA p", "rand p", "holdout"):
        table.add_column(name, no_wrap=True)
    for row in shown:
        table.add_row(
            row.pattern_id[:8],
            _maybe(row.in_sample_sharpe, ".2f"),
            _maybe(row.out_of_sample_sharpe, ".2f"),
            str(row.out_of_sample_trades or 0),
            _maybe(row.deflated_sharpe, ".2f"),
            _maybe(row.pbo, ".2f"),
            _maybe(row.reality_check_p, ".3f"),
            _maybe(row.random_entry_p, ".3f"),
            _maybe(row.holdout_return, ".1%"),
        )
    stdout.print(table)
    for row in shown:
        verdict = "proven" if row.status == "proven" else f"not proven: {row.reason}"
        stdout.print(
            f"{row.pattern_id}  {row.rule}\n    {verdict}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if limit is not None and len(rows) > limit:
        stdout.print(f"... and {len(rows) - limit} more: coinswarm patterns list", markup=False)


@patterns_app.command("list")
def list_patterns(
    run: RunOption = None,
    proven: Annotated[bool, typer.Option("--proven", help="only the proven")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the leaderboard: judged patterns with their out-of-sample evidence."""
    from coinswarm.bootstrap import open_store  # noqa: PLC0415
    from coinswarm.evolution.leaderboard import leaderboard  # noqa: PLC0415

    try:
        with open_store(db) as store:
            rows = leaderboard(store, run, proven_only=proven)
    except CoinswarmError as error:
        raise fail(error) from None
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if not rows:
        stdout.print("no judged patterns yet" + (" proven" if proven else ""), markup=False)
        return
    _print_leaderboard(rows)


@patterns_app.command("show")
def show_pattern(
    pattern_id: Annotated[str, typer.Argument(help="the pattern's id")],
    run: RunOption = None,
    db: DbOption = None,
) -> None:
    """Print one pattern: its rule, provenance, lineage, status and every score it received."""
    from coinswarm.bootstrap import open_store  # noqa: PLC0415

    try:
        with open_store(db) as store:
            stored = store.pattern(pattern_id, run)
            if stored is None:
                raise UsageError(f"no pattern {pattern_id!r}" + (f" in run {run}" if run else ""))
            parents = [link.parent_id for link in store.lineage(pattern_id, stored.run_id)]
    except CoinswarmError as error:
        raise fail(error) from None
    pattern = stored.pattern
    lines = [
        f"{pattern.id}  {stored.status}" + (f": {stored.reason}" if stored.reason else ""),
        f"rule: {pattern.describe()}",
        f"source: {pattern.source.value}"
        + (f" ({pattern.reference})" if pattern.reference else ""),
        f"run: {stored.run_id}, born in cycle {stored.born_cycle}",
        f"lineage: {', '.join(parents) or 'none'}",
        "scores:",
    ]
    for score in pattern.scores:
        extra = (
            ""
            if score.deflated_sharpe is None
            else (f", DSR {score.deflated_sharpe:.2f} for {score.n_trials} trials")
        )
        lines.append(
            f"  {score.sample.value:<14} cycle {score.cycle:>3} {score.timeframe}: "
            f"{score.trades} trades, Sharpe {score.sharpe:.2f}, net {score.net_return:.2%}{extra}"
        )
    for line in lines:
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)


@patterns_app.command("export")
def export_patterns(
    path: Annotated[Path, typer.Argument(help="the file to write (JSON Lines)")],
    run: RunOption = None,
    proven: Annotated[bool, typer.Option("--proven/--all", help="only the proven")] = True,
    db: DbOption = None,
) -> None:
    """Write patterns to a file that `backtest --strategy committee --patterns FILE` trades."""
    from coinswarm.bootstrap import open_store  # noqa: PLC0415
    from coinswarm.data.pattern_file import ExportedPattern, write_patterns  # noqa: PLC0415

    try:
        with open_store(db) as store:
            stored = [p for p in store.patterns(run) if not proven or p.status == "proven"]
        items = [ExportedPattern(p.pattern, p.status, p.reason) for p in stored]
        write_patterns(path, items, source=run or "all runs")
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    stdout.print(f"wrote {len(items)} patterns to {path}", markup=False, highlight=False)


@patterns_app.command("import")
def import_patterns(
    path: Annotated[Path, typer.Argument(help="a file `coinswarm patterns export` wrote")],
    db: DbOption = None,
) -> None:
    """Store the patterns of an exported file (checked whole before anything is written)."""
    from coinswarm.bootstrap import open_store  # noqa: PLC0415
    from coinswarm.data.pattern_file import read_patterns  # noqa: PLC0415

    try:
        items = read_patterns(path)
        with open_store(db) as store:
            new = store.import_patterns(
                [item.pattern for item in items], path.name, imported_ns=time.time_ns()
            )
    except CoinswarmError as error:
        raise fail(error) from None
    stdout.print(f"imported {len(new)} new patterns of {len(items)} from {path}", markup=False)
