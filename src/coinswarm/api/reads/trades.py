"""A run's orders, fills and verdicts, a page at a time, read with SQL that never loads them all.

A six-year committee backtest stores tens of thousands of each; a page is one indexed range
read. Each list is cut on a key the database keeps in order for the run: an order's row id, a
fill's ledger number (unique with the run), a verdict's row id. `after` is the key of the
last item of the previous page; `limit + 1` rows are read to know whether a page follows.
Rows are mapped straight to the API's models: a page is never more than a thousand of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from coinswarm.api.reads.models import (
    FillItem,
    Order,
    OrderItem,
    Page,
    VerdictItem,
    VoteItem,
)
from coinswarm.domain.order import OrderStatus
from coinswarm.infra.storage import Store
from coinswarm.infra.storage.models import FillRow, OrderRow, VerdictRow, VoteRow
from coinswarm.infra.storage.types import from_json

__all__ = [
    "ACTIONS",
    "OPEN_STATUSES",
    "PageRequest",
    "fill_item",
    "fills_page",
    "order_item",
    "orders_page",
    "verdict_items",
    "verdicts_page",
]

ACTIONS = {1: "BUY", 0: "HOLD", -1: "SELL"}
OPEN_STATUSES = tuple(str(s) for s in OrderStatus if not s.is_terminal)

Item = TypeVar("Item", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page: at most `limit` items after the one keyed `after`, newest or oldest first."""

    limit: int = 100
    after: int | None = None
    order: Order = "newest"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def order_item(row: OrderRow) -> OrderItem:
    return OrderItem(
        seq=row.id,
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        instrument=row.instrument,
        side=row.side,
        type=row.type,
        status=row.status,
        quantity=_text(row.quantity),
        quote_quantity=_text(row.quote_quantity),
        limit_price=_text(row.limit_price),
        stop_price=_text(row.stop_price),
        filled_quantity=str(row.filled_quantity),
        average_fill_price=str(row.average_fill_price),
        fees=str(row.fees),
        reject_reason=row.reject_reason,
        created_ts=row.created_ts,
        updated_ts=row.updated_ts,
    )


def fill_item(row: FillRow) -> FillItem:
    return FillItem(
        seq=row.ledger_seq,
        trade_id=row.trade_id,
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        instrument=row.instrument,
        side=row.side,
        quantity=str(row.quantity),
        price=str(row.price),
        fee=str(row.fee),
        fee_currency=row.fee_currency,
        ts=row.ts,
        liquidity=row.liquidity,
    )


def _vote_item(row: VoteRow) -> VoteItem:
    return VoteItem(
        agent=row.agent,
        action=ACTIONS.get(row.direction, str(row.direction)),
        direction=row.direction,
        confidence=row.confidence,
        size_hint=row.size_hint,
        weight=row.weight,
        veto=row.veto,
        reason=row.reason,
    )


def verdict_items(session: Session, rows: Sequence[VerdictRow]) -> list[VerdictItem]:
    """Return the verdicts of `rows` with their votes (one read for every vote)."""
    votes: dict[int, list[VoteItem]] = {row.id: [] for row in rows}
    if votes:
        query = (
            select(VoteRow)
            .where(VoteRow.verdict_id.in_(list(votes)))
            .order_by(VoteRow.verdict_id, VoteRow.position)
        )
        for vote in session.scalars(query):
            votes[vote.verdict_id].append(_vote_item(vote))
    return [
        VerdictItem(
            seq=row.id,
            instrument=row.instrument,
            ts=row.ts,
            action=ACTIONS.get(row.direction, str(row.direction)),
            direction=row.direction,
            score=row.score,
            size=row.size,
            vetoed_by=list(from_json(row.vetoed_by)),
            reason=row.reason,
            votes=votes[row.id],
        )
        for row in rows
    ]


def _page(
    store: Store,
    *,
    table: type[Any],
    key: InstrumentedAttribute[int],
    where: Sequence[ColumnElement[bool]],
    wanted: PageRequest,
    to_items: Callable[[Session, Sequence[Any]], list[Item]],
) -> Page[Item]:
    newest = wanted.order == "newest"
    cut = list(where)
    if wanted.after is not None:
        cut.append(key < wanted.after if newest else key > wanted.after)
    query = select(table).where(*cut).order_by(key.desc() if newest else key.asc())
    with store.transaction() as session:
        rows = list(session.scalars(query.limit(wanted.limit + 1)))
        more = len(rows) > wanted.limit
        rows = rows[: wanted.limit]
        items = to_items(session, rows)
        total = int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)
    next_key = getattr(rows[-1], key.key) if more and rows else None
    return Page[Item](items=items, order=wanted.order, next=next_key, total=total)


def _orders(_session: Session, rows: Sequence[OrderRow]) -> list[OrderItem]:
    return [order_item(row) for row in rows]


def _fills(_session: Session, rows: Sequence[FillRow]) -> list[FillItem]:
    return [fill_item(row) for row in rows]


def orders_page(
    store: Store, run_id: str, wanted: PageRequest, *, open_only: bool = False
) -> Page[OrderItem]:
    """Return a page of the run's orders in their latest state (`open_only`: those an
    exchange still works on)."""
    where: list[ColumnElement[bool]] = [OrderRow.run_id == run_id]
    if open_only:
        where.append(OrderRow.status.in_(OPEN_STATUSES))
    return _page(
        store, table=OrderRow, key=OrderRow.id, where=where, wanted=wanted, to_items=_orders
    )


def fills_page(store: Store, run_id: str, wanted: PageRequest) -> Page[FillItem]:
    """Return a page of the run's fills, in the order its ledger took them."""
    where = [FillRow.run_id == run_id]
    return _page(
        store, table=FillRow, key=FillRow.ledger_seq, where=where, wanted=wanted, to_items=_fills
    )


def verdicts_page(store: Store, run_id: str, wanted: PageRequest) -> Page[VerdictItem]:
    """Return a page of the run's committee verdicts, each with its votes and their weights."""
    where = [VerdictRow.run_id == run_id]
    return _page(
        store,
        table=VerdictRow,
        key=VerdictRow.id,
        where=where,
        wanted=wanted,
        to_items=verdict_items,
    )
