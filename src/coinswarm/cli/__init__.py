"""`coinswarm ...`: the command line. It parses, calls bootstrap, and prints; nothing else."""

from __future__ import annotations

import logging

import typer

from coinswarm import __version__
from coinswarm.backtest.runs import default_runs_dir
from coinswarm.cli import admin, data, exchange, replay, risk, run_book, runs, sessions
from coinswarm.cli._shared import app

__all__ = ["app", "main"]

_COMMANDS = (
    admin,
    data,
    exchange,
    replay,
    risk,
    run_book,
    runs,
    sessions,
)  # imported for their commands, which register on `app`


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _log_to_file() -> None:
    """Send library log records to coinswarm.log in the data folder, not over our errors."""
    folder = default_runs_dir().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "coinswarm.log", encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def main() -> None:
    """Run the command line."""
    _log_to_file()
    app()
