"""`coinswarm runs ...`: list, show, compare, delete and prune the stored runs of every mode.

Only the standard library, typer and `cli._shared` load with this module; the catalog (and
with it the database) loads when a command runs.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coinswarm.cli._shared import DbOption, UsageError, fail, runs_app, stdout

if TYPE_CHECKING:
    from rich.table import Table

    from coinswarm.backtest.catalog import Place, RunDetails, RunEntry
    from coinswarm.backtest.pruning import DeleteReport, PrunePlan, PruneRules

_STATUSES_HELP = "running, finished, failed, interrupted or killed"
_MODES_HELP = "backtest, paper, sandbox or live"

ModeOption = Annotated[
    list[str] | None, typer.Option("--mode", help=f"only this mode ({_MODES_HELP}); repeat")
]
RunsDirOption = Annotated[
    Path | None, typer.Option(help="where run summaries and explanations are kept")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="who deletes, for the audit log (default: your login)")
]
YesOption = Annotated[
    bool, typer.Option("--yes", help="also delete live runs (the record of real money)")
]


# -- options -----------------------------------------------------------------------------------


def _modes(given: list[str] | None) -> list[str]:
    from coinswarm.infra.storage.database import MODES  # noqa: PLC0415

    for mode in given or ():
        if mode not in MODES:
            raise UsageError(f"--mode: expected {_MODES_HELP}, found {mode!r}")
    return list(given or MODES)


def _statuses(given: list[str] | None) -> list[str] | None:
    from coinswarm.backtest.catalog import STATUSES  # noqa: PLC0415

    for status in given or ():
        if status not in STATUSES:
            raise UsageError(f"--status: expected {_STATUSES_HELP}, found {status!r}")
    return given or None


def _runs_dir(given: Path | None) -> Path:
    from coinswarm.backtest.runs import default_runs_dir  # noqa: PLC0415

    return given or default_runs_dir()


def _sessions_dir() -> Path:
    from coinswarm.infra.storage import default_sqlite_path  # noqa: PLC0415

    # Where session journals go unless a test points them elsewhere (`recording.journal_path`).
    return default_sqlite_path().parent / "sessions"


def _actor(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (a bare container)
        return "unknown"


def _places(db: str | None, modes: list[str]) -> list[Place]:
    from coinswarm.backtest.catalog import places  # noqa: PLC0415

    return places(db, modes)


def _find(db: str | None, run_ids: list[str], runs_dir: Path | None) -> list[RunEntry]:
    from coinswarm.backtest.catalog import find_runs  # noqa: PLC0415

    return find_runs(_places(db, _modes(None)), run_ids, _runs_dir(runs_dir))


def _now() -> int:
    from coinswarm.domain.clock import WallClock  # noqa: PLC0415

    return WallClock().now_ns()


# -- cells -------------------------------------------------------------------------------------

_PERCENT = frozenset({"total_return", "cagr", "max_drawdown", "win_rate", "exposure"})
_MONEY = frozenset({"final_equity", "fees_paid"})


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if key in _PERCENT:
        return f"{value:.2%}"
    if key in _MONEY:
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"


def _say(line: str) -> None:
    stdout.print(line, markup=False, highlight=False, soft_wrap=True)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, sort_keys=True))


def _size(count: int) -> str:
    if count < 1024:
        return f"{count:,} bytes"
    scaled = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:,.1f} {unit}"


# -- list --------------------------------------------------------------------------------------


def _print_table(table: Table) -> None:
    from rich.console import Console  # noqa: PLC0415

    # Piped or redirected, a table keeps its rows whole instead of folding them at 80 columns.
    console = stdout if stdout.is_terminal else Console(width=250)
    console.print(table)


def _list_table(entries: list[RunEntry]) -> Table:
    from rich import box  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    title = f"{len(entries)} runs, newest first"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("run", "mode", "strategy", "data", "status", "started"):
        table.add_column(name, no_wrap=name in ("run", "started"))
    for name in ("final equity", "return", "sharpe", "max dd", "orders"):
        table.add_column(name, justify="right")
    for entry in entries:
        started = entry.to_json()["started"]
        figures = entry.metrics()
        table.add_row(
            entry.run_id,
            entry.mode,
            entry.strategy,
            entry.data(),
            entry.status,
            "-" if started is None else started[:16].replace("T", " "),
            _cell("final_equity", figures["final_equity"]),
            _cell("total_return", figures["total_return"]),
            _cell("sharpe", figures["sharpe"]),
            _cell("max_drawdown", figures["max_drawdown"]),
            _cell("orders", entry.orders),
        )
    return table


@runs_app.command("list")
def list_runs(
    *,
    mode: ModeOption = None,
    strategy: Annotated[str | None, typer.Option(help="only runs of this strategy")] = None,
    status: Annotated[
        list[str] | None, typer.Option(help=f"only runs {_STATUSES_HELP}; repeat")
    ] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first", min=1)] = 50,
    db: DbOption = None,
    runs_dir: RunsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the runs of every mode (backtest, paper, sandbox, live), newest first.

    A run still marked running whose process is gone (kill -9, a power cut) is shown killed.
    """
    from coinswarm.backtest import catalog  # noqa: PLC0415
    from coinswarm.domain.errors import CoinswarmError  # noqa: PLC0415

    try:
        modes = _modes(mode)
        entries = catalog.list_runs(
            _places(db, modes),
            _runs_dir(runs_dir),
            modes=modes,
            strategy=strategy,
            statuses=_statuses(status),
            limit=limit,
        )
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    if as_json:
        _echo_json({"runs": [entry.to_json() for entry in entries]})
        return
    _print_table(_list_table(entries))


# -- show --------------------------------------------------------------------------------------


def _show_lines(shown: RunDetails) -> list[str]:
    data = shown.to_json()
    stored = data["stored_status"]
    lines = [
        f"run: {data['run']} ({data['mode']}, {data['strategy']})",
        f"status: {data['status']}" + ("" if stored == data["status"] else f" (stored: {stored})"),
    ]
    if data["reason"]:
        lines.append(f"reason: {data['reason']}")
    if data["process"]:
        process = data["process"]
        by = f"process {process['pid']} on {process['host']}"
        lines.append(f"last started: {data['last_started']} by {by}")
    lines += [
        f"database: {data['database']}",
        f"data: {data['data']}",
        f"parameters: {json.dumps(data['parameters'], sort_keys=True)}",
        f"started: {data['started'] or 'unknown'}",
        f"stored times: created {data['created']}, updated {data['updated']}",
        f"inputs: {json.dumps(data['inputs'], sort_keys=True, default=str)}",
    ]
    lines += [f"{key}: {_cell(key, value)}" for key, value in data["metrics"].items()]
    rows = ", ".join(f"{name} {count:,}" for name, count in data["rows"].items())
    lines.append(f"rows: {rows}")
    checkpoint = data["last_checkpoint"]
    if checkpoint is not None:
        cash = ", ".join(f"{c} {a}" for c, a in checkpoint["cash"].items()) or "none"
        held = ", ".join(f"{i} {q}" for i, q in checkpoint["positions"].items()) or "none"
        lines.append(f"last checkpoint: {checkpoint['ts']}: cash {cash}; positions {held}")
    lines.append(f"folder: {data['folder'] or 'none (written when a run ends)'}")
    lines += [f"  {path}" for path in data["files"]]
    if data["report"]:
        lines.append(f"report: {data['report']}")
    if data["resume"]:
        lines.append(f"resume: {data['resume']}")
    if data["resume_note"]:
        lines.append(f"cannot be resumed as it is: {data['resume_note']}")
    return lines


@runs_app.command("show")
def show(
    run: Annotated[str, typer.Argument(help="the run id")],
    db: DbOption = None,
    runs_dir: RunsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print everything known about one run: inputs, status, metrics, rows, files, resume."""
    from coinswarm.backtest.catalog import details  # noqa: PLC0415
    from coinswarm.domain.errors import CoinswarmError  # noqa: PLC0415

    try:
        (entry,) = _find(db, [run], runs_dir)
        shown = details(entry, _sessions_dir())
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    if as_json:
        _echo_json(shown.to_json())
        return
    for line in _show_lines(shown):
        _say(line)


# -- compare -----------------------------------------------------------------------------------


def _compare_table(entries: list[RunEntry]) -> Table:
    from rich import box  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="runs side by side", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("")
    for entry in entries:
        table.add_column(entry.run_id, justify="right")
    for name, cells in (
        ("mode", [e.mode for e in entries]),
        ("strategy", [e.strategy for e in entries]),
        ("data", [e.data() for e in entries]),
        ("status", [e.status for e in entries]),
    ):
        table.add_row(name, *cells)
    keys = sorted({key for entry in entries for key in entry.record.parameters})
    for key in keys:
        cells = [str(e.record.parameters.get(key, "-")) for e in entries]
        table.add_row(f"param {key}", *cells)
    for key in entries[0].metrics():
        table.add_row(key, *[_cell(key, e.metrics()[key]) for e in entries])
    return table


@runs_app.command("compare")
def compare(
    runs: Annotated[list[str], typer.Argument(help="two or more run ids")],
    db: DbOption = None,
    runs_dir: RunsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the metrics of two or more runs side by side."""
    from coinswarm.domain.errors import CoinswarmError  # noqa: PLC0415

    try:
        if len(runs) < 2:
            raise UsageError(f"expected two or more run ids to compare, found {len(runs)}")
        entries = _find(db, runs, runs_dir)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    if as_json:
        _echo_json({"runs": [entry.to_json() for entry in entries]})
        return
    _print_table(_compare_table(entries))


# -- delete and prune --------------------------------------------------------------------------


def _report_lines(report: DeleteReport) -> list[str]:
    lines = []
    for removal in report.removed:
        rows = sum(removal.rows.values())
        lines.append(
            f"deleted run {removal.run_id} ({removal.mode}, {removal.status}) from "
            f"{removal.where}: {rows:,} rows, {len(removal.files)} files "
            f"({_size(removal.file_bytes)})"
        )
    lines += [
        f"not deleted: run {run_id} started again meanwhile (it is running)"
        for run_id in report.busy
    ]
    for space in report.spaces:
        if space.before is None or space.after is None:
            lines.append(f"database {space.where}: {space.note}")
            continue
        note = "" if space.note is None else f" ({space.note})"
        lines.append(
            f"database {space.where}: {_size(space.before)} -> {_size(space.after)}, "
            f"{_size(space.reclaimed)} reclaimed{note}"
        )
    lines.append(f"reclaimed: {report.bytes_reclaimed:,} bytes in all")
    if report.removed:
        lines.append(
            "audit log: the runs' entries are kept and each deletion is added to it, "
            "so `coinswarm audit verify` still holds"
        )
    return lines


def _delete(entries: list[RunEntry], *, by: str | None, reason: str) -> DeleteReport:
    from coinswarm.backtest.pruning import delete_runs  # noqa: PLC0415

    return delete_runs(
        entries, sessions_dir=_sessions_dir(), ts=_now(), actor=_actor(by), reason=reason
    )


@runs_app.command("delete")
def delete(
    runs: Annotated[list[str], typer.Argument(help="the run ids to delete")],
    *,
    yes: YesOption = False,
    by: ByOption = None,
    db: DbOption = None,
    runs_dir: RunsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete runs: every row in their database, their folder and journals; reclaim the space.

    Refused for a running run, and for a live run without --yes. The audit log keeps the
    runs' entries and records each deletion, so `coinswarm audit verify` still holds.
    """
    from coinswarm.backtest.pruning import check_deletable  # noqa: PLC0415
    from coinswarm.domain.errors import CoinswarmError  # noqa: PLC0415

    try:
        entries = _find(db, list(dict.fromkeys(runs)), runs_dir)
        check_deletable(entries, allow_live=yes)
        report = _delete(entries, by=by, reason="coinswarm runs delete")
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    if as_json:
        _echo_json(report.to_json())
        return
    for line in _report_lines(report):
        _say(line)


def _plan_lines(plan: PrunePlan, *, dry_run: bool) -> list[str]:
    verb = "would delete" if dry_run else "deleting"
    lines = [f"{verb} {len(plan.chosen)} runs"]
    lines += [f"  {e.run_id} ({e.mode}, {e.strategy}, {e.status}, {e.data()})" for e in plan.chosen]
    lines += [f"spared {e.run_id} ({e.mode}, {e.status}): {why}" for e, why in plan.spared]
    return lines


def _prune_rules(
    older_than: float | None, status: list[str] | None, keep: int | None, *, yes: bool
) -> PruneRules:
    from coinswarm.backtest.pruning import NS_PER_DAY, PruneRules  # noqa: PLC0415

    rules = PruneRules(
        older_than_ns=None if older_than is None else int(older_than * NS_PER_DAY),
        statuses=frozenset(_statuses(status) or ()),
        keep=keep,
        include_live=yes,
    )
    if rules.empty:
        raise UsageError("expected at least one of --older-than, --status or --keep")
    return rules


@runs_app.command("prune")
def prune(
    *,
    older_than: Annotated[
        float | None, typer.Option(help="runs started more than this many days ago", min=0)
    ] = None,
    status: Annotated[list[str] | None, typer.Option(help=f"runs {_STATUSES_HELP}; repeat")] = None,
    keep: Annotated[
        int | None, typer.Option(help="spare the newest N runs of each mode", min=0)
    ] = None,
    mode: ModeOption = None,
    dry_run: Annotated[bool, typer.Option(help="say what would go; delete nothing")] = False,
    yes: YesOption = False,
    by: ByOption = None,
    db: DbOption = None,
    runs_dir: RunsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete the runs that match every criterion given, and reclaim their space.

    Running runs are never pruned, live runs only with --yes, and with --older-than a run
    whose start time is unknown is spared. Prints what it removes and the bytes reclaimed.
    """
    from coinswarm.backtest import catalog, pruning  # noqa: PLC0415
    from coinswarm.domain.errors import CoinswarmError  # noqa: PLC0415

    try:
        rules = _prune_rules(older_than, status, keep, yes=yes)
        modes = _modes(mode)
        entries = catalog.list_runs(_places(db, modes), _runs_dir(runs_dir), modes=modes)
        plan = pruning.plan_prune(entries, rules, now_ns=_now())
        report = None if dry_run else _delete(list(plan.chosen), by=by, reason="runs prune")
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    if as_json:
        _echo_json(_prune_json(plan, report))
        return
    for line in _plan_lines(plan, dry_run=dry_run):
        _say(line)
    for line in [] if report is None else _report_lines(report):
        _say(line)


def _prune_json(plan: PrunePlan, report: DeleteReport | None) -> dict[str, Any]:
    return {
        "chosen": [entry.run_id for entry in plan.chosen],
        "spared": [{"run": entry.run_id, "why": why} for entry, why in plan.spared],
        "dry_run": report is None,
        **({} if report is None else report.to_json()),
    }
