"""`--evolve` on paper, sandbox and live: discovery beside the session, one cycle a minute.

Only typer loads with this module; the scheduler, the loop and the store load when a session
asks for discovery.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from coinswarm.cli._shared import tell

if TYPE_CHECKING:
    from coinswarm.data.closed_bars import ClosedBars
    from coinswarm.evolution.config import EvolutionConfig
    from coinswarm.evolution.session.discovery import Beside
    from coinswarm.evolution.session.timers import Timer

__all__ = ["EvolveEveryOption", "EvolveOption", "closed_bars_for", "evolving"]

EvolveOption = Annotated[
    bool,
    typer.Option(
        "--evolve",
        help="run pattern discovery beside the session: one cycle every --evolve-every "
        "seconds, in this process (no worker processes), on the bars the session has "
        "closed; a run starts once enough have closed (about 2,740 hourly bars). Its runs go "
        "to the session's database (coinswarm patterns list). It has no exchange: it never "
        "places an order",
    ),
]


def _seconds_above_zero(seconds: float) -> float:
    """Refuse, as the command line is parsed, an interval that is not seconds above 0."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise typer.BadParameter(f"expected seconds above 0, found {seconds:g}")
    return seconds


EvolveEveryOption = Annotated[
    float,
    typer.Option(
        "--evolve-every",
        help="seconds between two discovery cycles",
        callback=_seconds_above_zero,
    ),
]


def closed_bars_for(evolve: bool) -> ClosedBars | None:
    """Return the record a session feeds its discovery, or None without --evolve."""
    if not evolve:
        return None
    from coinswarm.data.closed_bars import ClosedBars  # noqa: PLC0415 - numpy: only when asked

    return ClosedBars()


@contextmanager
def evolving(
    closed: ClosedBars | None,
    *,
    mode: str,
    database: str | None,
    every_s: float,
    say: Callable[[str], None] = tell,
    timer: Timer | None = None,
    config: EvolutionConfig | None = None,
) -> Iterator[Beside | None]:
    """Run discovery beside the block on `closed`'s bars, in the mode's database; with no
    record (no --evolve), just run the block."""
    if closed is None:
        yield None
        return
    from coinswarm.bootstrap import open_store  # noqa: PLC0415 - heavy: only with --evolve
    from coinswarm.evolution.session.discovery import discovery_beside  # noqa: PLC0415

    with (
        open_store(database, mode=mode) as store,
        discovery_beside(
            closed,
            store,
            config=config,
            timer=timer,
            interval_s=every_s,
            label=f"session:{mode}",
            say=say,
        ) as beside,
    ):
        yield beside
