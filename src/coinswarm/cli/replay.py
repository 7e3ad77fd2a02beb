"""`coinswarm replay JOURNAL`: re-run a recorded session and check it trades the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coinswarm.cli._shared import app, fail, stdout
from coinswarm.domain.errors import CoinswarmError

if TYPE_CHECKING:
    from coinswarm.backtest.session_replay import ReplayDivergenceError, ReplayReport
    from coinswarm.backtest.shadow import ShadowReport

__all__ = ["replay"]

DIFFERENT = 1


@app.command()
def replay(
    journal: Annotated[Path, typer.Argument(help="a session journal (.jsonl)")],
    *,
    shadow: Annotated[
        bool,
        typer.Option(
            "--shadow", help="also run the strategy on the simulated exchange and attribute the gap"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Replay a session journal as a backtest; exit 0 if it makes the same orders, else 1.

    Prints the digest of every order and fill of the session and of the replay. A replay that
    asks for something the journal does not hold next is a divergence, named by journal line.
    """
    # The engine loads here, not with the command line: `--help` needs none of it.
    from coinswarm.backtest.session_replay import (  # noqa: PLC0415
        ReplayDivergenceError,
        replay_journal,
    )
    from coinswarm.backtest.shadow import shadow_journal  # noqa: PLC0415

    try:
        report = replay_journal(journal)
        gap = shadow_journal(journal) if shadow else None
    except ReplayDivergenceError as diverged:
        _show_divergence(journal, diverged, as_json=as_json)
        raise typer.Exit(DIFFERENT) from None
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    _show(report, gap, as_json=as_json)
    if not report.equal:
        raise typer.Exit(DIFFERENT)


def _show_divergence(journal: Path, diverged: ReplayDivergenceError, *, as_json: bool) -> None:
    if as_json:
        payload = {"journal": str(journal), "equal": False, "divergence": str(diverged)}
        typer.echo(json.dumps(payload, sort_keys=True))
        return
    stdout.print(f"DIFFERENT: {diverged}", markup=False, highlight=False, soft_wrap=True)


def _show(report: ReplayReport, gap: ShadowReport | None, *, as_json: bool) -> None:
    if as_json:
        payload: dict[str, Any] = report.to_json()
        if gap is not None:
            payload["shadow"] = gap.to_json()
        typer.echo(json.dumps(payload, sort_keys=True))
        return
    lines = [
        f"journal   {report.path} ({report.mode}, run {report.run_id})",
        f"replayed  {report.bars} bars, {report.orders} orders, {report.fills} fills",
        f"session   {report.original}",
        f"replay    {report.replay}",
        "SAME: the replay made the session's orders and fills exactly"
        if report.equal
        else f"DIFFERENT: {report.first_difference}",
    ]
    if gap is not None:
        lines += ["", *gap.table()]
    for line in lines:
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)
