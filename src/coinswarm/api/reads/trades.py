"""A run's orders, fills and verdicts, a page at a time, read with SQL that never loads them all.

A six-year committee backtest stores tens of thousands of each; a page is one range read in
key order. Each list is cut on a key the database keeps in order for the run: an order's row
id, a fill's ledger number (unique with the run), a verdict's row id. `after` is the key of
the last item of the previous page; `limit + 1` rows are read to know whether a page follows.
The run's count (each page's `total`) is kept between requests (`Spans`). Rows are read as
plain tuples and the page is checked by pydantic in one call: reading a thousand rows as ORM
objects and building a thousand models one by one cost five times as much.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Text, func, select, type_coerce
from sqlalchemy.orm import InstrumentedAttribute, Session

from coinswarm.api.reads.models import (
    FillItem,
    Order,
    OrderItem,
    Page,
    VerdictItem,
)
from coinswarm.domain.order import OrderStatus
from coinswarm.infra.storage import Store
from coinswarm.infra.storage.models import FillRow, OrderRow, RunRow, VerdictRow, VoteRow
from coinswarm.infra.storage.types import from_json

__all__ = [
    "ACTIONS",
    "FILL_COLUMNS",
    "OPEN_STATUSES",
    "ORDER_COLUMNS",
    "VERDICT_COLUMNS",
    "PageRequest",
    "Span",
    "Spans",
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


def _money(column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """Select a money column as the database gives it: SQLite's text is the decimal already,
    and parsing a thousand rows' amounts only to print them again costs a third of a page."""
    return type_coerce(column, Text).label(column.key)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


ORDER_COLUMNS = (
    OrderRow.id,
    OrderRow.order_id,
    OrderRow.client_order_id,
    OrderRow.instrument,
    OrderRow.side,
    OrderRow.type,
    OrderRow.status,
    _money(OrderRow.quantity),
    _money(OrderRow.quote_quantity),
    _money(OrderRow.limit_price),
    _money(OrderRow.stop_price),
    _money(OrderRow.filled_quantity),
    _money(OrderRow.average_fill_price),
    _money(OrderRow.fees),
    OrderRow.reject_reason,
    OrderRow.created_ts,
    OrderRow.updated_ts,
)
"""What an `OrderItem` is read from, in the order `order_item` takes it."""


def order_item(values: Sequence[Any]) -> OrderItem:
    """Return the order a row of `ORDER_COLUMNS` holds."""
    return OrderItem.model_validate(_order(values))


def _order(values: Sequence[Any]) -> dict[str, Any]:
    (
        seq,
        order_id,
        client_order_id,
        instrument,
        side,
        kind,
        status,
        quantity,
        quote_quantity,
        limit_price,
        stop_price,
        filled,
        average,
        fees,
        reject_reason,
        created,
        updated,
    ) = values
    return {
        "seq": seq,
        "order_id": order_id,
        "client_order_id": client_order_id,
        "instrument": instrument,
        "side": side,
        "type": kind,
        "status": status,
        "quantity": _text(quantity),
        "quote_quantity": _text(quote_quantity),
        "limit_price": _text(limit_price),
        "stop_price": _text(stop_price),
        "filled_quantity": str(filled),
        "average_fill_price": str(average),
        "fees": str(fees),
        "reject_reason": reject_reason,
        "created_ts": created,
        "updated_ts": updated,
    }


FILL_COLUMNS = (
    FillRow.ledger_seq,
    FillRow.trade_id,
    FillRow.order_id,
    FillRow.client_order_id,
    FillRow.instrument,
    FillRow.side,
    _money(FillRow.quantity),
    _money(FillRow.price),
    _money(FillRow.fee),
    FillRow.fee_currency,
    FillRow.ts,
    FillRow.liquidity,
)
"""What a `FillItem` is read from, in the order `fill_item` takes it."""


def fill_item(values: Sequence[Any]) -> FillItem:
    """Return the fill a row of `FILL_COLUMNS` holds."""
    return FillItem.model_validate(_fill(values))


def _fill(values: Sequence[Any]) -> dict[str, Any]:
    (
        seq,
        trade_id,
        order_id,
        client_order_id,
        instrument,
        side,
        quantity,
        price,
        fee,
        fee_currency,
        ts,
        liquidity,
    ) = values
    return {
        "seq": seq,
        "trade_id": trade_id,
        "order_id": order_id,
        "client_order_id": client_order_id,
        "instrument": instrument,
        "side": side,
        "quantity": str(quantity),
        "price": str(price),
        "fee": str(fee),
        "fee_currency": fee_currency,
        "ts": ts,
        "liquidity": liquidity,
    }


VERDICT_COLUMNS = (
    VerdictRow.id,
    VerdictRow.instrument,
    VerdictRow.ts,
    VerdictRow.direction,
    VerdictRow.score,
    VerdictRow.size,
    VerdictRow.vetoed_by,
    VerdictRow.reason,
)
_VOTE_COLUMNS = (
    VoteRow.verdict_id,
    VoteRow.agent,
    VoteRow.direction,
    VoteRow.confidence,
    VoteRow.size_hint,
    VoteRow.weight,
    VoteRow.veto,
    VoteRow.reason,
)


def _vote(values: Sequence[Any]) -> dict[str, Any]:
    _verdict, agent, direction, confidence, size_hint, weight, veto, reason = values
    return {
        "agent": agent,
        "action": ACTIONS.get(direction, str(direction)),
        "direction": direction,
        "confidence": confidence,
        "size_hint": size_hint,
        "weight": weight,
        "veto": bool(veto),
        "reason": reason,
    }


def verdict_items(session: Session, rows: Sequence[Sequence[Any]]) -> list[VerdictItem]:
    """Return the verdicts of rows of `VERDICT_COLUMNS`, with their votes (one read for all)."""
    return [VerdictItem.model_validate(values) for values in _verdicts(session, rows)]


def _verdicts(session: Session, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    votes: dict[int, list[dict[str, Any]]] = {row[0]: [] for row in rows}
    if votes:
        query = (
            select(*_VOTE_COLUMNS)
            .where(VoteRow.verdict_id.in_(list(votes)))
            .order_by(VoteRow.verdict_id, VoteRow.position)
        )
        for vote in session.execute(query):
            votes[vote[0]].append(_vote(vote))
    items = []
    for seq, instrument, ts, direction, score, size, vetoed_by, reason in rows:
        items.append(
            {
                "seq": seq,
                "instrument": instrument,
                "ts": ts,
                "action": ACTIONS.get(direction, str(direction)),
                "direction": direction,
                "score": score,
                "size": size,
                "vetoed_by": list(from_json(vetoed_by)),
                "reason": reason,
                "votes": votes[seq],
            }
        )
    return items


@dataclass(frozen=True, slots=True)
class _Listing(Generic[Item]):
    """How one list is paged: its table, the key it is cut on, the run's column.

    `indexed`: an index leads with (run, key), so the database walks it from `after` (the
    fills' unique (run_id, ledger_seq)). Orders and verdicts have no such index: SQLite would
    read every row of the run through its run index and sort them (100,000 orders: 80 ms). It
    walks the primary key instead, which is the key, from `after` to the end of the run's span
    of keys (rows of other runs are skipped only where they interleave with the run's).
    """

    table: type[Any]
    key: InstrumentedAttribute[int]
    run: InstrumentedAttribute[str]
    columns: tuple[Any, ...]  # mapped attributes and labelled expressions, key first
    page: type[Page[Item]]
    to_items: Callable[[Session, Sequence[Any]], list[dict[str, Any]]]
    indexed: bool = False


@dataclass(frozen=True, slots=True)
class Span:
    """A run's rows of one table: how many, and its first and last key (None: no rows)."""

    total: int
    low: int | None
    high: int | None


class Spans:
    """Each run's span per table, counted once, then kept up to date by the rows added since.

    Counting a run's 100,000 orders reads its whole index (5 to 15 ms). Rows are only ever
    added (each with a larger row id than any before) or deleted with their run
    (`Store.delete_run`: one run fewer). So a kept span is stamped with the table's largest
    row id and the number of runs, both read from an index's end and a small table; when only
    the first grew, the rows after the old largest id are counted (a range of the primary
    key) and added to the span; when the second changed, the run is counted again.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._kept: dict[tuple[str, str, str], tuple[tuple[int, int], Span]] = {}
        self._lock = threading.Lock()

    def span(self, session: Session, listing: _Listing[Item], run_id: str) -> Span:
        """Return the run's span in `listing`'s table."""
        table = listing.table
        # Two statements: with anything beside it, SQLite reads every row for max(id).
        top = int(session.scalar(select(func.max(table.id))) or 0)
        runs = int(session.scalar(select(func.count()).select_from(RunRow)) or 0)
        url = session.connection().engine.url.render_as_string()
        name = (url, table.__tablename__, run_id)
        with self._lock:
            kept = self._kept.get(name)
        if kept is not None and kept[0] == (top, runs):
            return kept[1]
        counted = select(func.count(), func.min(listing.key), func.max(listing.key))
        if kept is not None and kept[0][1] == runs and kept[0][0] < top:
            newer = counted.where(listing.run.concat("") == run_id, table.id > kept[0][0])
            found = _joined(kept[1], *session.execute(newer).one())
        else:
            found = Span(*session.execute(counted.where(listing.run == run_id)).one())
        with self._lock:
            if len(self._kept) >= self._size and name not in self._kept:
                self._kept.pop(next(iter(self._kept)))
            self._kept[name] = ((top, runs), found)
        return found


def _joined(span: Span, added: int, low: int | None, high: int | None) -> Span:
    if not added:
        return span
    lows = [k for k in (span.low, low) if k is not None]
    highs = [k for k in (span.high, high) if k is not None]
    return Span(span.total + added, min(lows), max(highs))


def _clauses(
    session: Session,
    listing: _Listing[Item],
    *,
    run_id: str,
    wanted: PageRequest,
    extra: Sequence[ColumnElement[bool]],
    spans: Spans,
) -> tuple[int, list[ColumnElement[bool]]]:
    """Return how many rows the list holds, and the clauses that find the page's rows."""
    newest, key, after = wanted.order == "newest", listing.key, wanted.after
    where = [listing.run == run_id, *extra]
    count = select(func.count()).select_from(listing.table).where(*where)
    if session.get_bind().dialect.name != "sqlite":
        total = int(session.scalar(count) or 0)
        if after is not None:
            where.append(key < after if newest else key > after)
        return total, where
    span = spans.span(session, listing, run_id)
    total = span.total if not extra else int(session.scalar(count) or 0)
    if span.low is None or span.high is None:
        return 0, where
    if listing.indexed:  # the run's index walks the key from `after`
        if after is not None:
            where.append(key < after if newest else key > after)
        return total, where
    # One range of the primary key (SQLite picks one bound of several, not the tightest), and
    # `run || ''`, which is not the indexed column, so that SQLite walks that range.
    low, high = span.low, span.high
    if after is not None:
        high, low = (min(high, after - 1), low) if newest else (high, max(low, after + 1))
    return total, [listing.run.concat("") == run_id, *extra, key >= low, key <= high]


def _page(
    store: Store,
    listing: _Listing[Item],
    run_id: str,
    wanted: PageRequest,
    *,
    extra: Sequence[ColumnElement[bool]] = (),
    spans: Spans | None = None,
) -> Page[Item]:
    """Return one page of the run's rows of `listing` (those `extra` keeps, if given)."""
    key = listing.key
    with store.transaction() as session:
        total, where = _clauses(
            session, listing, run_id=run_id, wanted=wanted, extra=extra, spans=spans or Spans()
        )
        # Plain rows, not ORM objects: a thousand of them cost a third as much to read.
        query = select(*listing.columns).where(*where)
        query = query.order_by(key.desc() if wanted.order == "newest" else key.asc())
        rows = list(session.execute(query.limit(wanted.limit + 1))) if total else []
        more = len(rows) > wanted.limit
        rows = rows[: wanted.limit]
        items = listing.to_items(session, rows)
    next_key = rows[-1][0] if more and rows else None  # the key leads each row
    # Checked in one call of pydantic's core: a thousand items built one by one cost 5x more.
    page = {"items": items, "order": wanted.order, "next": next_key, "total": total}
    return listing.page.model_validate(page)


def _orders(_session: Session, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [_order(row) for row in rows]


def _fills(_session: Session, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [_fill(row) for row in rows]


_ORDERS = _Listing(OrderRow, OrderRow.id, OrderRow.run_id, ORDER_COLUMNS, Page[OrderItem], _orders)
_FILLS = _Listing(
    FillRow, FillRow.ledger_seq, FillRow.run_id, FILL_COLUMNS, Page[FillItem], _fills, True
)
_VERDICTS = _Listing(
    VerdictRow, VerdictRow.id, VerdictRow.run_id, VERDICT_COLUMNS, Page[VerdictItem], _verdicts
)


def orders_page(
    store: Store,
    run_id: str,
    wanted: PageRequest,
    *,
    open_only: bool = False,
    spans: Spans | None = None,
) -> Page[OrderItem]:
    """Return a page of the run's orders in their latest state (`open_only`: those an
    exchange still works on)."""
    extra = [OrderRow.status.in_(OPEN_STATUSES)] if open_only else []
    return _page(store, _ORDERS, run_id, wanted, extra=extra, spans=spans)


def fills_page(
    store: Store, run_id: str, wanted: PageRequest, *, spans: Spans | None = None
) -> Page[FillItem]:
    """Return a page of the run's fills, in the order its ledger took them."""
    return _page(store, _FILLS, run_id, wanted, spans=spans)


def verdicts_page(
    store: Store, run_id: str, wanted: PageRequest, *, spans: Spans | None = None
) -> Page[VerdictItem]:
    """Return a page of the run's committee verdicts, each with its votes and their weights."""
    return _page(store, _VERDICTS, run_id, wanted, spans=spans)
