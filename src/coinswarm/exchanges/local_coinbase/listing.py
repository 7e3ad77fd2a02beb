"""Answering Coinbase's historical listings: the filters, the limit and the cursor.

`GET /orders/historical/batch` and `GET /orders/historical/fills` list newest first, at most
`limit` items a page. A page that is not the last carries a `cursor`; asking again with it
returns the items just older than the page, so a client that follows cursors sees each item
exactly once. The cursor names the position of the page's oldest item in the exchange's own
append-only record, not a time: items that share a timestamp are never split ambiguously
across a page boundary, and items added meanwhile (which are newer) cannot shift a walk that
is under way. Clients must treat it as opaque, as Coinbase asks.

Coinbase documents no default and no maximum for `limit`; this exchange serves at most
`MAX_LIMIT` a page, the same cap its other historical listings use, and cuts a larger one.
"""

from __future__ import annotations

import bisect
import re
from calendar import timegm
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order
from coinswarm.exchanges.local_coinbase.errors import ApiError

__all__ = [
    "MAX_LIMIT",
    "FillFilter",
    "OrderFilter",
    "Page",
    "PageRequest",
    "chosen",
    "micros",
    "newest_first",
]

T = TypeVar("T")
U = TypeVar("U")

MAX_LIMIT = 1000
"""The most items one page holds; a larger `limit` is cut to it."""

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def micros(text: str, name: str) -> int:
    """Return an RFC 3339 time as UTC microseconds, the precision Coinbase writes times in."""
    match = _RFC3339.match(text.strip())
    if match is None:
        msg = f"{name}: expected an RFC 3339 time like 2024-01-01T00:00:00Z, found {text!r}"
        raise _invalid(msg)
    whole, fraction, zone = match.groups()
    offset = "+00:00" if zone.upper() == "Z" else zone
    try:
        moment = datetime.fromisoformat(whole + offset)
    except ValueError:
        raise _invalid(f"{name}: not a real time: {text!r}") from None
    return timegm(moment.utctimetuple()) * 1_000_000 + int((fraction or "")[:6].ljust(6, "0"))


def chosen(many: Sequence[str] | None, one: str | None = None) -> frozenset[str] | None:
    """Return the values a filter allows, given as a list, a single value or both; None: any."""
    values = {*(many or ()), *((one,) if one else ())}
    return frozenset(values) if values else None


def _allows(allowed: frozenset[str] | None, value: str) -> bool:
    return allowed is None or value in allowed


@dataclass(frozen=True, slots=True, kw_only=True)
class _Span:
    """A half-open time span [start, end) in microseconds; either end may be open."""

    start_us: int | None = None
    end_us: int | None = None

    def holds(self, ts_ns: int) -> bool:
        shown = ts_ns // 1000  # compare what the client sees, microseconds
        after_start = self.start_us is None or shown >= self.start_us
        return after_start and (self.end_us is None or shown < self.end_us)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilter:
    """The order listing's filters; `status_of` names an order's status as Coinbase does."""

    order_ids: frozenset[str] | None = None
    product_ids: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    side: str | None = None
    start_date: str | None = None
    end_date: str | None = None

    def predicate(self, status_of: Callable[[Order], str]) -> Callable[[Order], bool]:
        """Return a test for one order; raise a 400 for a time that does not parse."""
        span = _span(self.start_date, "start_date", self.end_date, "end_date")

        def wanted(order: Order) -> bool:
            return (
                _allows(self.order_ids, order.order_id)
                and _allows(self.product_ids, order.instrument)
                and _allows(self.statuses, status_of(order))
                and (self.side is None or order.side.value == self.side)
                and span.holds(order.created_ts)
            )

        return wanted


@dataclass(frozen=True, slots=True, kw_only=True)
class FillFilter:
    """The fill listing's filters; the time span applies to each fill's sequence timestamp."""

    order_ids: frozenset[str] | None = None
    trade_ids: frozenset[str] | None = None
    product_ids: frozenset[str] | None = None
    start_sequence_timestamp: str | None = None
    end_sequence_timestamp: str | None = None

    def predicate(self) -> Callable[[Fill], bool]:
        """Return a test for one fill; raise a 400 for a time that does not parse."""
        span = _span(
            self.start_sequence_timestamp,
            "start_sequence_timestamp",
            self.end_sequence_timestamp,
            "end_sequence_timestamp",
        )

        def wanted(fill: Fill) -> bool:
            return (
                _allows(self.order_ids, fill.order_id)
                and _allows(self.trade_ids, fill.trade_id)
                and _allows(self.product_ids, fill.instrument)
                and span.holds(fill.ts)
            )

        return wanted


def _span(start: str | None, start_name: str, end: str | None, end_name: str) -> _Span:
    return _Span(
        start_us=None if start is None else micros(start, start_name),
        end_us=None if end is None else micros(end, end_name),
    )


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page a client asked for: items below position `before`, at most `size` of them."""

    before: int | None
    size: int

    @classmethod
    def parse(cls, cursor: str | None, limit: int | None) -> PageRequest:
        """Read `cursor` and `limit` from a query; refuse ones no page could answer."""
        if limit is not None and limit < 1:
            raise _invalid(f"limit: expected a positive number of items, found {limit}")
        size = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
        if not cursor:
            return cls(None, size)
        if not cursor.isdigit():
            raise _invalid(f"cursor: expected a cursor from a previous page, found {cursor!r}")
        return cls(int(cursor), size)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page, newest first, and the cursor to the next one ("" after the last)."""

    items: list[T]
    cursor: str = ""

    @property
    def has_next(self) -> bool:
        return bool(self.cursor)

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        return Page([convert(item) for item in self.items], self.cursor)


def newest_first(entries: Iterable[tuple[int, T]], request: PageRequest) -> Page[T]:
    """Return the page `request` asks of `entries`, (position, item) pairs oldest first."""
    listed = list(entries)
    positions = [position for position, _ in listed]
    end = len(listed) if request.before is None else bisect.bisect_left(positions, request.before)
    start = max(0, end - request.size)
    items = [item for _, item in reversed(listed[start:end])]
    # More remain only when something older than this page's oldest item passed the filters.
    cursor = str(positions[start]) if start > 0 else ""
    return Page(items, cursor)
