"""`coinswarm new-strategy NAME`: write a documented example strategy and its test, to edit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coinswarm.cli._shared import app, fail, stdout
from coinswarm.domain.errors import CoinswarmError

__all__ = ["new_strategy"]


@app.command("new-strategy")
def new_strategy(
    name: Annotated[
        str, typer.Argument(help="lowercase name of the strategy: NAME.py and test_NAME.py")
    ],
    directory: Annotated[
        Path, typer.Option("--dir", help="folder to write into (made if missing)")
    ] = Path(),
) -> None:
    """Write NAME.py (an example strategy to edit) and test_NAME.py; never overwrite."""
    # The template module is light, but the command line imports only what a command uses.
    from coinswarm.cli._template import write_template  # noqa: PLC0415

    try:
        made = write_template(name, directory)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    for line in (
        f"wrote {made.strategy} and {made.test}",
        f"backtest it:     coinswarm backtest --strategy {made.spec}",
        f"test it:         python -m pytest {made.test}",
        f"paper-trade it:  coinswarm paper --strategy {made.spec} --speed max",
    ):
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)
