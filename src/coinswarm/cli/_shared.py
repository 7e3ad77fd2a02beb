"""What every command shares: the apps, the consoles, options, Ctrl-C and one-line errors.

Every failure a user can cause (a bad file, a bad parameter) ends as one line on stderr that
starts with `error:` and exit code 2, and nothing is written.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from coinswarm.domain.errors import CoinswarmError

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
        except CoinswarmError as error:  # from a parse-time check (--db), or one not caught
            raise SystemExit(fail(error).exit_code) from None
        except typer.Abort:  # end of input at a prompt
            stderr.print("error: aborted: no answer was typed", markup=False, highlight=False)
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


def _exit_on_usage_error(error: Exception) -> NoReturn:
    context = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":
        # `coinswarm data`: the group's commands, as --help shows them. Rich help is printed
        # as the error is made; plain help is the error's message.
        shown = str(getattr(error, "message", "") or "")
        if shown.strip():
            typer.echo(shown)
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
config_app = typer.Typer(
    no_args_is_help=True, help="See the configuration file's values, or start one."
)
app.add_typer(config_app, name="config")
runs_app = typer.Typer(
    no_args_is_help=True, help="List, show, compare, delete and prune the stored runs."
)
app.add_typer(runs_app, name="runs")

stdout = Console()
stderr = Console(stderr=True)

DEFAULT_REPORT = Path("coinswarm-report.html")
STRATEGY_HELP = (
    "strategy: sma-cross, committee, one an installed package declares, or your own class "
    "as path/to/file.py:ClassName (coinswarm new-strategy NAME writes one)"
)
ReportOption = Annotated[
    Path | None,
    typer.Option(
        help="write the run's HTML report to this file (a session's also when Ctrl-C ends it)",
        metavar="FILE",
    ),
]

SharedOption = Annotated[
    str | None,
    typer.Option(
        "--state-url",
        envvar="COINSWARM_REDIS_URL",
        help="Redis URL of the kill switch shared by every process",
    ),
]
DATABASE_URL_VARIABLE = "COINSWARM_DATABASE_URL"  # infra.storage's, without its sqlalchemy


def database_option(url: str | None) -> str | None:
    """Check `--db` (or COINSWARM_DATABASE_URL) when the command line is parsed, before any
    work: a URL that names no database Coinswarm can open is one `error:` line, not a
    traceback from deep in sqlalchemy once the run is done."""
    if url is None and not os.environ.get(DATABASE_URL_VARIABLE):
        return None  # the embedded SQLite file: nothing to check, and no sqlalchemy to load
    from coinswarm.infra.storage import resolve_url  # noqa: PLC0415 - the command needs it

    resolve_url(url)  # raises StorageError, which `OneLineErrors` prints as one line
    return url


DbOption = Annotated[
    str | None,
    typer.Option(
        envvar=DATABASE_URL_VARIABLE,
        help="database URL (default: COINSWARM_DATABASE_URL, else the SQLite file)",
        callback=database_option,
    ),
]
TimeframeOption = Annotated[
    str | None,
    typer.Option(
        help="trade bars of this interval (4h, 1d, ...), resampled in memory from the data's "
        "finer bars as `coinswarm data resample` would"
    ),
]


PatternsOption = Annotated[
    Path | None,
    typer.Option(
        help="a patterns file (JSON Lines, as `patterns export` writes): its proven patterns "
        "vote in the committee as the agent 'pattern'; committee only",
        metavar="FILE",
    ),
]


class UsageError(CoinswarmError, ValueError):
    """A command-line value that cannot be used as given."""


def report_path(path: Path | None) -> Path | None:
    """Return `path` if an HTML report can be written there; refuse it before any work starts.

    Refused (UsageError): a folder, a file in a folder that does not exist, or a place this
    process may not write (the report is written beside its target and moved into place, so
    the folder must be writable too). None (no report asked for) passes.
    """
    if path is None:
        return None
    if path.is_dir():
        msg = f"--report: {path} is a folder; name the report file, e.g. {path / 'report.html'}"
        raise UsageError(msg)
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"--report: the folder {folder} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"--report: {path} cannot be overwritten (permission denied)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--report: cannot write in {folder} (permission denied)")
    return path


STOPPING = "stopping after the current bar (Ctrl-C): the run keeps what happened so far"


@contextmanager
def stop_on_interrupt(notice: str | None = STOPPING) -> Iterator[threading.Event]:
    """Yield an event that Ctrl-C (or SIGTERM, as a service manager stops a process) sets, so
    that a run finishes its bar and ends cleanly.

    What happened until then is kept: the run is saved and its report written. `notice` is
    written to stderr once, when Ctrl-C first comes, straight to the file descriptor: the
    handler may run in the middle of a rich print on the main thread, and printing through
    rich again from there fails (a half-imported module, a re-entered buffer).
    """
    stop = threading.Event()

    def interrupted(_signal: int, _frame: FrameType | None) -> None:
        if not stop.is_set() and notice is not None:
            os.write(sys.stderr.fileno(), f"{notice}\n".encode())
        stop.set()

    stopping = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, interrupted) for number in stopping}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def tell(line: str) -> None:
    """Print a line for the person watching on stderr (stdout may carry --json)."""
    stderr.print(line, markup=False, highlight=False, soft_wrap=True)


def decimal_option(text: str, option: str, *, positive: bool = False) -> Decimal:
    """Return `text` as a finite number of 0 or more (above 0 when `positive`: cash)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"{option}: expected a number, found {text!r}") from None
    if positive and (not value.is_finite() or value <= 0):
        raise UsageError(f"{option}: expected a number above 0, found {text!r}")
    if not value.is_finite() or value < 0:
        raise UsageError(f"{option}: expected a finite number of 0 or more, found {text!r}")
    return value


def replay_speed(text: str, option: str = "--speed") -> float | None:
    """Return a paper run's replay speed, a multiple of real time; None for `max` (no pacing)."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = float("nan")
    if not speed > 0:  # NaN too
        msg = (
            f"{option}: expected a multiple of real time above 0 (60: an hour of bars a "
            f"minute) or max, found {text!r}"
        )
        raise UsageError(msg)
    return speed


def runs_folder(path: Path | None) -> Path | None:
    """Return `--runs-dir` if a run can be kept there (a folder, or none yet), checked before
    the run: a run done and stored must not then fail to be kept."""
    if path is not None and path.exists() and not path.is_dir():
        raise UsageError(f"--runs-dir: {path} is not a folder")
    return path


def data_files(paths: list[Path] | None, option: str = "--data") -> tuple[Path, ...]:
    """Return the `--data` files, each an existing file given once, checked before any work."""
    seen: dict[Path, Path] = {}
    for path in paths or ():
        if not path.is_file():
            found = "a folder" if path.is_dir() else "nothing"
            raise UsageError(f"{option}: expected a data file, found {found} at {path}")
        same = seen.setdefault(path.resolve(), path)
        if same is not path:
            raise UsageError(f"{option}: {path} is given twice (each file may appear once)")
    return tuple(paths or ())


def parameters(pairs: list[str]) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param: expected KEY=VALUE, found {pair!r}")
        parameters[key.strip()] = value.strip()
    return parameters


def with_patterns(given: dict[str, str], patterns: Path | None, strategy: str) -> dict[str, str]:
    """Return the strategy parameters with `--patterns` among them as `patterns`.

    Only the committee trades patterns (through its pattern agent); the file is read, and
    refused if it cannot be traded, when the run starts, before any work.
    """
    if patterns is None:
        return given
    if strategy != "committee":
        msg = (
            "--patterns: only the committee strategy trades patterns (its pattern agent), "
            f"found --strategy {strategy}"
        )
        raise UsageError(msg)
    if "patterns" in given:
        raise UsageError("--patterns: give the file once, not also as --param patterns=FILE")
    return {**given, "patterns": str(patterns)}


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
    """Print `error` as one `error:` line on stderr; return the exit (code 2) to raise."""
    stderr.print(f"error: {one_line(error)}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def one_line(error: BaseException) -> str:
    """Return what went wrong on one line: a file error says which file (the one the user
    named, never a temporary one), a message of several lines (a driver's) is joined."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        text = f"{error.filename}: {error.strerror}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
