"""One run's account and trades: equity, positions, orders, fills, verdicts, explanations."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from coinswarm.api.auth import Viewer
from coinswarm.api.reads.account import MAX_POINTS, portfolio
from coinswarm.api.reads.explain import explain_order
from coinswarm.api.reads.models import (
    EquityCurve,
    FillItem,
    OrderExplanation,
    OrderItem,
    Page,
    Portfolio,
    VerdictItem,
)
from coinswarm.api.reads.trades import fills_page, orders_page, verdicts_page
from coinswarm.api.routes._depends import PageQuery, ReadsPart, RunPath, json_of

__all__ = ["router"]

router = APIRouter(prefix="/api/runs/{run}", tags=["trades"])


def _drawdown(summary: object) -> float | None:
    value = summary.get("max_drawdown") if isinstance(summary, dict) else None
    return float(value) if isinstance(value, int | float) else None


@router.get("/equity", response_model=EquityCurve)
def equity(
    _role: Viewer,
    part: ReadsPart,
    run: RunPath,
    points: Annotated[int, Query(ge=2, le=MAX_POINTS, description="at most this many")] = (
        MAX_POINTS
    ),
) -> Response:
    """The run's equity and drawdown over time, thinned to `points` (peaks and troughs kept)."""
    with part.run(run) as (located, store):
        market = part.market(located)
        summary = _summary(part, run)
        curve = part.accounts.equity(
            located.key,
            store,
            run,
            market,
            max_points=points,
            run_max_drawdown=_drawdown(summary),
        )
    return json_of(curve)


def _summary(part: ReadsPart, run: str) -> object:
    path = part.databases.runs_dir / run / "summary.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@router.get("/positions", response_model=Portfolio)
def positions(_role: Viewer, part: ReadsPart, run: RunPath) -> Response:
    """The run's cash and positions at its latest checkpoint, marked at the latest price."""
    with part.run(run) as (located, store):
        return json_of(portfolio(store, run, part.market(located)))


@router.get("/orders", response_model=Page[OrderItem])
def orders(
    _role: Viewer,
    part: ReadsPart,
    run: RunPath,
    page: PageQuery,
    open_only: Annotated[
        bool, Query(alias="open", description="only the orders an exchange still works on")
    ] = False,
) -> Response:
    """The run's orders in their latest state, a page at a time (`seq`: the store's order)."""
    with part.run(run) as (_located, store):
        return json_of(orders_page(store, run, page, open_only=open_only, spans=part.spans))


@router.get("/fills", response_model=Page[FillItem])
def fills(_role: Viewer, part: ReadsPart, run: RunPath, page: PageQuery) -> Response:
    """The run's fills, a page at a time (`seq`: the ledger's order)."""
    with part.run(run) as (_located, store):
        return json_of(fills_page(store, run, page, spans=part.spans))


@router.get("/verdicts", response_model=Page[VerdictItem])
def verdicts(_role: Viewer, part: ReadsPart, run: RunPath, page: PageQuery) -> Response:
    """The committee's verdicts with every vote and its weight, a page at a time."""
    with part.run(run) as (_located, store):
        return json_of(verdicts_page(store, run, page, spans=part.spans))


@router.get("/orders/{order}/explain")
def explain(
    _role: Viewer,
    part: ReadsPart,
    run: RunPath,
    order: Annotated[str, Path(min_length=1, max_length=128, description="exchange or client id")],
) -> OrderExplanation:
    """Why the order was placed: the bar, the votes, the verdict, the risk decision, the fills."""
    with part.run(run) as (_located, store):
        return explain_order(store, part.databases.runs_dir, run, order)
