"""`coinswarm optimize`: search a strategy's parameters walk-forward; report the evidence.

Only the standard library, typer and `cli._shared` load with this module; the engine, Optuna
and the database load when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coinswarm.cli._shared import (
    STRATEGY_HELP,
    DbOption,
    TimeframeOption,
    UsageError,
    app,
    data_files,
    decimal_option,
    fail,
    stdout,
    tell,
)
from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from rich.table import Table

    from coinswarm.bootstrap import BacktestRequest
    from coinswarm.evolution.optimize.search import OptimizeReport, OptimizeSettings
    from coinswarm.evolution.optimize.windows import StrategyWindows, WindowRecord
    from coinswarm.evolution.windows import WindowPlan

__all__ = ["optimize"]

SPACE_HELP = (
    "a parameter to search, KEY=LOW..HIGH[:STEP]: fast=5..50:5 (whole numbers), "
    "threshold=0.1..0.9 (continuous) or 0.1..0.9:0.1; repeat for each parameter"
)


@app.command()
def optimize(
    *,
    strategy: Annotated[str | None, typer.Option(help=STRATEGY_HELP)] = None,
    space: Annotated[
        list[str] | None, typer.Option(help=SPACE_HELP, metavar="KEY=LOW..HIGH[:STEP]")
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option(help="OHLCV CSV/Parquet file; repeat for more instruments", metavar="FILE"),
    ] = None,
    trials: Annotated[
        int, typer.Option(help="proposals on each fold's in-sample window", min=1)
    ] = 20,
    seed: Annotated[
        int, typer.Option(help="seed of the proposer: the same seed, the same trials", min=0)
    ] = 0,
    folds: Annotated[int, typer.Option(help="walk-forward folds", min=1, max=20)] = 3,
    timeframe: TimeframeOption = None,
    fee_bps: Annotated[str, typer.Option(help="maker and taker fee, basis points")] = "60",
    phase: Annotated[
        str,
        typer.Option(
            envvar="COINSWARM_PHASE",
            help="risk phase 0-5 every backtest obeys, 'none' or 'default' (the strategy's own)",
        ),
    ] = "default",
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    quiet: Annotated[bool, typer.Option(help="no line per fold on stderr")] = False,
) -> None:
    """Search a strategy's parameters walk-forward; report the out-of-sample evidence.

    Each fold's proposer sees its in-sample window only; its best is then run on the next,
    unseen window. Reported: the choice per fold with its in-sample and out-of-sample scores,
    the final choice on the holdout, the deflated Sharpe ratio for every trial run, the PBO,
    and a verdict with its reasons. Exit 0 whether proven or not; 2 for unusable input.
    """
    # The strategies load here, not with the command line; the engine, Optuna and the
    # statistics once the options are known to be usable.
    from coinswarm.evolution.optimize.space import check_space, parse_space  # noqa: PLC0415

    try:
        if strategy is None:
            raise UsageError(f"--strategy: expected the strategy to search ({STRATEGY_HELP})")
        if not space:
            raise UsageError("--space: expected at least one KEY=LOW..HIGH[:STEP] to search")
        files = data_files(data)
        if not files:
            raise UsageError("--data: expected at least one data file to search on")
        dimensions = tuple(parse_space(text) for text in space)
        check_space(strategy, dimensions)
        from coinswarm import bootstrap  # noqa: PLC0415
        from coinswarm.evolution.optimize.search import OptimizeSettings  # noqa: PLC0415
        from coinswarm.evolution.optimize.windows import StrategyWindows  # noqa: PLC0415

        request = bootstrap.BacktestRequest(
            data=files,
            timeframe=timeframe,
            strategy=strategy,
            fee_bps=decimal_option(fee_bps, "--fee-bps"),
            phase=phase,
            store="none",
        )
        bootstrap.resolve_risk(request)  # an unknown phase is refused before any work
        windows = StrategyWindows(request)
        settings = OptimizeSettings(strategy, dimensions, trials=trials, seed=seed, folds=folds)
        plan = settings.plan(windows.span, windows.bar_ns)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    run_id, report = _search(db, request, settings, plan, windows, quiet=quiet)
    if as_json:
        payload = {
            **report.to_json(),
            "run": run_id,
            "instruments": list(windows.instruments),
            "timeframe": timeframe,
            "fee_bps": str(request.fee_bps),
        }
        typer.echo(json.dumps(payload, sort_keys=True))
        return
    _show(report, run_id, windows.instruments, timeframe)


def _search(
    db: str | None,
    request: BacktestRequest,
    settings: OptimizeSettings,
    plan: WindowPlan,
    windows: StrategyWindows,
    *,
    quiet: bool,
) -> tuple[str, OptimizeReport]:
    """Run the search, its trials committed fold by fold to a run of the trial ledger."""
    from coinswarm import bootstrap  # noqa: PLC0415
    from coinswarm.domain.clock import WallClock  # noqa: PLC0415
    from coinswarm.evolution.optimize.ledger import (  # noqa: PLC0415
        StoreTrials,
        search_config,
        start_run,
    )
    from coinswarm.evolution.optimize.search import optimize as search  # noqa: PLC0415

    clock = WallClock()
    with bootstrap.open_store(db) as store:
        run_id = start_run(store, search_config(settings, request), clock.now_ns())
        try:
            sink = StoreTrials(store, run_id)
            report = search(settings, plan, windows, sink=sink, say=None if quiet else tell)
        except KeyboardInterrupt:
            store.finish_evolution_run(run_id, "interrupted", clock.now_ns())
            tell(f"interrupted: run {run_id} keeps the trials of the folds it finished")
            raise typer.Exit(130) from None
        except (CoinswarmError, OSError) as error:
            store.finish_evolution_run(run_id, "failed", clock.now_ns())
            raise fail(error) from None
        store.finish_evolution_run(run_id, "finished", clock.now_ns())
    return run_id, report


def _show(
    report: OptimizeReport, run_id: str, instruments: tuple[str, ...], timeframe: str | None
) -> None:
    settings = report.settings
    lines = [
        f"walk-forward search of {settings.strategy} on {', '.join(instruments)}"
        f"{'' if timeframe is None else f' ({timeframe})'}: {settings.trials} trials a fold, "
        f"seed {settings.seed}; each fold chooses on its in-sample window only",
    ]
    for line in lines:
        _say(line)
    _print_table(_fold_table(report))
    final = report.final
    if final.chosen is not None and report.holdout is not None:
        _say(
            f"final choice {_parameters(final.chosen.parameters)} (best on the longest "
            f"in-sample window): holdout {_scores(report.holdout)}"
        )
    _say(f"walk-forward out-of-sample, every fold's choice: {_scores(report.walk_forward)}")
    _say(
        f"PBO over {report.distinct} distinct parameter sets, each backtested over the research "
        "span; random-entry test not applied (a strategy sizes and exits its own trades)"
    )
    _say(report.verdict_line())
    _say(f"trials stored in the ledger: run {run_id}")


def _scores(record: WindowRecord) -> str:
    hold = record.to_json("")["hold_net_return"]
    return (
        f"Sharpe {record.sharpe:.2f}, return {record.net_return:.2%}, {record.trades} trades "
        f"over {len(record.daily):,} days (buy-and-hold {hold:.2%})"
    )


def _parameters(parameters: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in parameters.items())


def _fold_table(report: OptimizeReport) -> Table:
    from rich import box  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from coinswarm.data.timefmt import format_timestamp  # noqa: PLC0415

    def day(ns: int) -> str:
        return format_timestamp(ns)[:10]

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("fold")
    table.add_column("chosen on in-sample")
    table.add_column("in-sample window", no_wrap=True)
    table.add_column("IS Sharpe", justify="right")
    table.add_column("out-of-sample window", no_wrap=True)
    for name in ("OOS Sharpe", "OOS return", "OOS trades", "refused"):
        table.add_column(name, justify="right")
    for fold in report.folds:
        chosen = fold.chosen
        in_sample = None if chosen is None else chosen.in_sample
        oos = fold.out_of_sample
        table.add_row(
            str(fold.fold.index),
            "-" if chosen is None else _parameters(chosen.parameters),
            f"{day(fold.fold.in_sample.start_ns)}..{day(fold.fold.in_sample.end_ns)}",
            "-" if in_sample is None else f"{in_sample.sharpe:.2f}",
            f"{day(oos.window.start_ns)}..{day(oos.window.end_ns)}",
            f"{oos.sharpe:.2f}",
            f"{oos.net_return:.2%}",
            str(oos.trades),
            f"{sum(1 for t in fold.trials if t.refused)}/{len(fold.trials)}",
        )
    return table


def _print_table(table: Table) -> None:
    from rich.console import Console  # noqa: PLC0415

    # Piped or redirected, a table keeps its rows whole instead of folding them at 80 columns.
    console = stdout if stdout.is_terminal else Console(width=200)
    console.print(table)


def _say(line: str) -> None:
    stdout.print(line, markup=False, highlight=False, soft_wrap=True)
