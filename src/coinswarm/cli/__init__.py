"""`coinswarm ...`: the command line. It parses, calls bootstrap, and prints; nothing else."""

from __future__ import annotations

import copy
import logging
import sys
from io import TextIOWrapper
from pathlib import Path

import typer
from typer.main import get_command_name
from typer.models import CommandInfo, TyperInfo

from coinswarm import __version__
from coinswarm.backtest.defaults import data_home
from coinswarm.cli import (  # noqa: F401 - imported for their commands, which register on `app`
    admin,
    config,
    data,
    evolve,
    exchange,
    optimize,
    replay,
    report,
    risk,
    run_book,
    runs,
    serve,
    sessions,
    strategy,
)
from coinswarm.cli._shared import app

__all__ = ["app", "main"]


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


class _LogFile(logging.FileHandler):
    """coinswarm.log, opened (and its folder made) by the first record, not at start-up: a
    command that logs nothing, `--help` or a refused option, writes nothing."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self) -> TextIOWrapper:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        # A log file that cannot be written must not print tracebacks over our output: say so
        # once and stop logging to it.
        error = sys.exc_info()[1]
        sys.stderr.write(f"warning: cannot write {self.baseFilename}: {error}\n")
        logging.getLogger().removeHandler(self)


def _log_to_file() -> None:
    """Send library log records to coinswarm.log in the data folder, not over our errors."""
    handler = _LogFile(data_home() / "coinswarm.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # alembic tells at import which of its plugins it set up: that would write the log (and
    # the data folder) for a command that then refuses its options and must write nothing.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _only_the_command(args: list[str]) -> typer.Typer:
    """Return the app with just the command `args` name, when it names one.

    Typer turns every command's signature into options before it parses anything, which costs
    more than all our imports together; `coinswarm risk status` needs only the risk commands.
    `coinswarm` and `coinswarm --help` get every command without its options (`_listing`); an
    unknown command, or options before the command, get the whole app.
    """
    if args in ([], ["--help"]):
        return _listing(app)
    if args[0].startswith("-"):
        return app
    name = args[0]
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    narrowed = copy.copy(app)
    narrowed.registered_commands, narrowed.registered_groups = commands, groups
    if narrowed.registered_callback is None:
        # A group, not a lone command: typer runs a lone command without its name.
        narrowed.callback()(_no_options)
    return narrowed


def _listing(typer_app: typer.Typer) -> typer.Typer:
    """Return `typer_app` as its `--help` lists it: every command and group, with its help,
    but none of their options, which that page does not show and typer would build first."""
    listed = copy.copy(typer_app)
    listed.registered_commands = [_listed(c) for c in typer_app.registered_commands]
    listed.registered_groups = [_listed_group(g) for g in typer_app.registered_groups]
    return listed


def _listed(command: CommandInfo) -> CommandInfo:
    listed = copy.copy(command)
    listed.name = _command_name(command)

    def shown() -> None:
        """Stands for the command on the help page; never run (its name and help are kept)."""

    shown.__doc__ = None if command.callback is None else command.callback.__doc__
    listed.callback = shown
    return listed


def _listed_group(group: TyperInfo) -> TyperInfo:
    listed = copy.copy(group)
    if isinstance(group.typer_instance, typer.Typer):
        listed.typer_instance = _listing(group.typer_instance)
    return listed


def _command_name(command: CommandInfo) -> str | None:
    if command.name is not None:
        return command.name
    return None if command.callback is None else get_command_name(command.callback.__name__)


def _no_options() -> None:
    """Coinswarm (no options before the command)."""


def main() -> None:
    """Run the command line."""
    _log_to_file()
    _only_the_command(sys.argv[1:])()
