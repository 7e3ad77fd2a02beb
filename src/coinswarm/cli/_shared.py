"""What every command shares: the apps, the consoles, progress, options and one-line errors.

Every failure a user can cause (a bad file, a bad parameter) ends as one line on stderr that
starts with `error:` and exit code 2, and nothing is written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PROG = "coinswarm"

# What a command-line mistake raises: click's ClickException, the base of typer.BadParameter
# (typer up to 0.28 re-exports click's; from 0.29 it carries its own copy of click).
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class OneLineErrors(TyperGroup):
    """The top group: a mistake on the command line (an unknown option or command, a missing or
    bad value) is one `error:` line and exit 2, like every other error a user can cause, not
    click's box of several lines. Also `coinswarm`, not `python -m coinswarm`, in messages."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        prog = prog_name or PROG
        if not standalone_mode:
            return super().main(args, prog, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog, complete_var, False, windows_expand_args, **extra)
        except _CLICK_ERROR as error:
            _exit_on_usage_error(error)
        except typer.Abort:  # end of input at a prompt
            stderr.print("error: aborted: no answer was typed", markup=False, highlight=False)
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


def _exit_on_usage_error(error: Exception) -> NoReturn:
    context = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError" and context is not None:
        typer.echo(context.get_help())  # `coinswarm data`: the group's commands, as --help
        sys.exit(2)
    format_message = getattr(error, "format_message", None)
    text = format_message() if callable(format_message) else str(error)
    message = " ".join(str(text).split()).rstrip(".")  # one line, whatever click wrapped
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    if context is not None:
        message = f"{message} (see {context.command_path} --help)"
    stderr.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(2)


app = typer.Typer(
    name=PROG,
    cls=OneLineErrors,
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
TimeframeOption = Annotated[
    str | None,
    typer.Option(
        help="trade bars of this interval (4h, 1d, ...), resampled in memory from the data's "
        "finer bars as `coinswarm data resample` would"
    ),
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
            from rich.progress import (  # noqa: PLC0415 - only a long run shows a bar
                BarColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

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
    from coinswarm.data.timefmt import parse_timestamp  # noqa: PLC0415 - loads coinswarm.data

    stamp = text if "T" in text or " " in text else f"{text}T00:00:00Z"
    try:
        return parse_timestamp(stamp if stamp.endswith(("Z", "+00:00")) else f"{stamp}Z")
    except ValueError as exc:
        raise UsageError(f"{option}: expected a UTC date like 2021-01-31, found {text!r}") from exc


def fail(error: Exception) -> typer.Exit:
    stderr.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)
