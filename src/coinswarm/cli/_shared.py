"""What every command shares: the apps, the consoles, progress, options and one-line errors.

Every failure a user can cause (a bad file, a bad parameter) ends as one line on stderr that
starts with `error:` and exit code 2, and nothing is written.
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from coinswarm.data.timefmt import parse_timestamp
from coinswarm.domain.errors import CoinswarmError

app = typer.Typer(
    name="coinswarm",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Coinswarm: backtest, then paper, sandbox and live trading through one engine.",
)
data_app = typer.Typer(no_args_is_help=True, help="Look at market data files.")
app.add_typer(data_app, name="data")
risk_app = typer.Typer(
    no_args_is_help=True, help="See, set and reset the stops that wait for a person."
)
app.add_typer(risk_app, name="risk")
db_app = typer.Typer(no_args_is_help=True, help="Create and migrate the database.")
app.add_typer(db_app, name="db")
exchange_app = typer.Typer(no_args_is_help=True, help="Run a local Coinbase-compatible exchange.")
app.add_typer(exchange_app, name="exchange")
audit_app = typer.Typer(no_args_is_help=True, help="Check the tamper-evident audit log.")
app.add_typer(audit_app, name="audit")
runs_app = typer.Typer(
    no_args_is_help=True, help="List, show, compare, delete and prune the stored runs."
)
app.add_typer(runs_app, name="runs")

stdout = Console()
stderr = Console(stderr=True)

DEFAULT_REPORT = Path("coinswarm-report.html")

SharedOption = Annotated[
    str | None,
    typer.Option(
        "--state-url",
        envvar="COINSWARM_REDIS_URL",
        help="Redis URL of the kill switch shared by every process",
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(help="database URL (default: COINSWARM_DATABASE_URL, else the SQLite file)"),
]


class UsageError(CoinswarmError, ValueError):
    """A command-line value that cannot be used as given."""


class LazyProgress:
    """A progress bar that appears only once a run has taken more than a second."""

    def __init__(self, label: str, *, quiet: bool) -> None:
        self._label = label
        self._quiet = quiet
        self._started = time.monotonic()  # display timing only: never reaches the engine
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._quiet:
            return
        if self._bar is None:
            if time.monotonic() - self._started < 1.0:
                return
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,}"),
                TextColumn("/ {task.total:,} bars"),
                TimeRemainingColumn(),
                console=stderr,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self._label, total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def decimal_option(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"{option}: expected a number, found {text!r}") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"{option}: expected a finite number of 0 or more, found {text!r}")
    return value


def parameters(pairs: list[str]) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param: expected KEY=VALUE, found {pair!r}")
        parameters[key.strip()] = value.strip()
    return parameters


def bound(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    stamp = text if "T" in text or " " in text else f"{text}T00:00:00Z"
    try:
        return parse_timestamp(stamp if stamp.endswith(("Z", "+00:00")) else f"{stamp}Z")
    except ValueError as exc:
        raise UsageError(f"{option}: expected a UTC date like 2021-01-31, found {text!r}") from exc


def fail(error: Exception) -> typer.Exit:
    stderr.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)
