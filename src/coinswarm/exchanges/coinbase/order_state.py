"""The client's view of its orders, kept consistent from REST snapshots and the user channel.

Two sources describe the same orders and neither arrives in order: the user channel can
repeat or reorder its messages, a REST answer can be older than the last websocket message,
and a fill can be seen before the order's acknowledgement. So every description becomes an
`OrderView` (status and cumulative amounts), and a view is applied only when it moves the
order forward along the domain state machine (`domain.order`), possibly through OPEN when the
acknowledgement was skipped. The filled quantity never goes backwards; an older view is simply
stale. A view that would need an illegal move (a filled order cancelled, more filled after a
terminal state) changes nothing and comes back as an `OrderAlert` for a person or the
reconciliation to settle; it never raises.

Fills are facts keyed by `trade_id`: the same fill from a websocket-triggered REST fetch, a
later gap fill or a replay after a reconnect is booked once. Views and fills of an order not
known yet wait until `track` makes it known. `new_fills` hands each booked fill out once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order, OrderStatus
from coinswarm.exchanges.coinbase.errors import ExchangeDataError
from coinswarm.exchanges.coinbase.parse import decimal
from coinswarm.exchanges.coinbase.ws_events import ROUTE, UserOrder

__all__ = ["OrderAlert", "OrderState", "OrderView", "user_view"]

ZERO = Decimal(0)

_S = OrderStatus
_FORWARD: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.NEW: frozenset({_S.OPEN, _S.REJECTED, _S.CANCELLED}),
    _S.OPEN: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.EXPIRED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.EXPIRED}),
}
"""The domain state machine's moves (terminal states have none), mirrored to plan paths."""

_USER_STATUS = {
    "PENDING": _S.NEW,
    "QUEUED": _S.NEW,
    "OPEN": _S.OPEN,
    "CANCEL_QUEUED": _S.OPEN,
    "EDIT_QUEUED": _S.OPEN,
    "FILLED": _S.FILLED,
    "CANCELLED": _S.CANCELLED,
    "EXPIRED": _S.EXPIRED,
    "FAILED": _S.REJECTED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderView:
    """One source's description of an order at one moment: status and cumulative amounts."""

    order_id: str
    status: OrderStatus
    filled_quantity: Decimal
    fees: Decimal
    average_fill_price: Decimal
    ts: int
    source: str

    @classmethod
    def of(cls, order: Order, source: str) -> OrderView:
        """Return a domain order's view (a REST snapshot, or our own acknowledgement)."""
        return cls(
            order_id=order.order_id,
            status=order.status,
            filled_quantity=order.filled_quantity,
            fees=order.fees,
            average_fill_price=order.average_fill_price,
            ts=order.updated_ts,
            source=source,
        )


@dataclass(frozen=True, slots=True)
class OrderAlert:
    """A description that could not be applied; the order is unchanged and needs a look.

    `unanswered` marks a REST call that failed: nothing contradicts what is known, but
    something may be missing until the call is made again.
    """

    order_id: str
    client_order_id: str
    problem: str
    source: str
    unanswered: bool = False


def user_view(order: UserOrder, ts: int) -> OrderView:
    """Return a user-channel order (sent at `ts`) as a view; raise `ExchangeDataError`."""
    where = f"user.orders[{order.order_id}]"
    status = _USER_STATUS.get(order.status)
    if status is None:
        problem = f"expected one of {sorted(_USER_STATUS)}, found {order.status!r}"
        raise ExchangeDataError(ROUTE, f"{where}.status", problem)

    def number(text: str, name: str) -> Decimal:
        return decimal(text or "0", route=ROUTE, field=f"{where}.{name}")

    filled = number(order.cumulative_quantity, "cumulative_quantity")
    if status is _S.OPEN and filled > 0:
        status = _S.PARTIALLY_FILLED
    return OrderView(
        order_id=order.order_id,
        status=status,
        filled_quantity=filled,
        fees=number(order.total_fees, "total_fees"),
        average_fill_price=number(order.avg_price, "avg_price"),
        ts=ts,
        source="user channel",
    )


def _path(start: OrderStatus, target: OrderStatus) -> list[OrderStatus] | None:
    """Return the legal moves from `start` to `target`, through OPEN if the ack was missed."""
    moves = _FORWARD.get(start, frozenset())
    if target in moves:
        return [target]
    if start is _S.NEW and target in _FORWARD[_S.OPEN]:
        return [_S.OPEN, target]
    return None


@dataclass(slots=True)
class _FillTotals:
    quantity: Decimal = ZERO
    fees: Decimal = ZERO
    notional: Decimal = ZERO


class OrderState:
    """Every tracked order, merged from both sources, and every fill booked once."""

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._fills: dict[str, Fill] = {}
        self._totals: dict[str, _FillTotals] = defaultdict(_FillTotals)
        self._unsent: list[Fill] = []
        self._early_views: dict[str, list[OrderView]] = defaultdict(list)
        self._early_fills: dict[str, list[Fill]] = defaultdict(list)

    # -- reading -------------------------------------------------------------------------------

    def order(self, order_id: str) -> Order | None:
        """Return a copy of one tracked order, or None."""
        order = self._orders.get(order_id)
        return None if order is None else order.snapshot()

    def orders(self) -> list[Order]:
        """Return copies of every tracked order."""
        return [order.snapshot() for order in self._orders.values()]

    def live_order_ids(self) -> list[str]:
        """Return the tracked orders that are not in a terminal state."""
        return [o.order_id for o in self._orders.values() if not o.status.is_terminal]

    def unknown_order_ids(self) -> list[str]:
        """Return orders seen only through early views or fills: look them up to `track` them."""
        return sorted(set(self._early_views) | set(self._early_fills))

    def filled_by_fills(self, order_id: str) -> Decimal:
        """Return the quantity of the booked fills of one order."""
        return self._totals[order_id].quantity if order_id in self._totals else ZERO

    def owed_orders(self) -> list[Order]:
        """Return copies of the orders that show more filled than their booked fills add up to."""
        return [
            order.snapshot()
            for order in self._orders.values()
            if order.filled_quantity > self.filled_by_fills(order.order_id)
        ]

    def last_fill_ts(self) -> int | None:
        """Return the time of the latest fill booked, or None before the first."""
        return max((f.ts for f in self._fills.values()), default=None)

    def new_fills(self) -> list[Fill]:
        """Return the fills booked since the last call, in (ts, trade_id) order."""
        fresh, self._unsent = self._unsent, []
        return sorted(fresh, key=lambda f: (f.ts, f.trade_id))

    # -- writing -------------------------------------------------------------------------------

    def track(self, order: Order, source: str = "rest") -> list[OrderAlert]:
        """Know `order` (our acknowledgement or a REST answer); apply what waited for it."""
        known = self._orders.get(order.order_id)
        if known is not None:
            return self.apply(OrderView.of(order, source))
        self._orders[order.order_id] = order.snapshot()
        alerts: list[OrderAlert] = []
        for view in self._early_views.pop(order.order_id, []):
            alerts.extend(self.apply(view))
        alerts.extend(self.book(self._early_fills.pop(order.order_id, [])))
        return alerts

    def apply(self, view: OrderView) -> list[OrderAlert]:
        """Apply one view if it moves its order forward; keep it for later if unknown."""
        order = self._orders.get(view.order_id)
        if order is None:
            self._early_views[view.order_id].append(view)
            return []
        problem = self._merge(order, view)
        if problem is None:
            return []
        return [OrderAlert(order.order_id, order.client_order_id, problem, view.source)]

    def book(self, fills: Iterable[Fill]) -> list[OrderAlert]:
        """Book each fill not seen before (by trade_id); keep those of unknown orders for later."""
        alerts: list[OrderAlert] = []
        for fill in fills:
            if fill.trade_id in self._fills:
                continue
            if fill.order_id not in self._orders:
                if all(f.trade_id != fill.trade_id for f in self._early_fills[fill.order_id]):
                    self._early_fills[fill.order_id].append(fill)
                continue
            self._fills[fill.trade_id] = fill
            self._unsent.append(fill)
            totals = self._totals[fill.order_id]
            totals.quantity += fill.quantity
            totals.fees += fill.fee
            totals.notional += fill.notional
            alerts.extend(self.apply(self._fills_view(fill)))
        return alerts

    def _fills_view(self, fill: Fill) -> OrderView:
        order = self._orders[fill.order_id]
        totals = self._totals[fill.order_id]
        remaining = order.request.quantity
        complete = remaining is not None and totals.quantity >= remaining
        return OrderView(
            order_id=fill.order_id,
            status=_S.FILLED if complete else _S.PARTIALLY_FILLED,
            filled_quantity=totals.quantity,
            fees=totals.fees,
            average_fill_price=totals.notional / totals.quantity,
            ts=fill.ts,
            source=f"fill {fill.trade_id}",
        )

    def _merge(self, order: Order, view: OrderView) -> str | None:
        """Apply `view` to `order`; return a problem for an illegal one, None otherwise."""
        more = view.filled_quantity > order.filled_quantity
        if view.filled_quantity < order.filled_quantity or (
            view.status is order.status and not more
        ):
            return None  # older than what we know, or nothing new
        if order.status.is_terminal:
            return self._after_terminal(order, view, more=more)
        path = _path(order.status, view.status) if view.status is not order.status else []
        if path is None:
            if not more and not view.status.is_terminal:
                return None  # e.g. OPEN after PARTIALLY_FILLED at the same quantity: stale
            return f"cannot go from {order.status} to {view.status} ({view.source})"
        for status in path:
            order.transition(status, view.ts)
        self._take_amounts(order, view)
        return None

    @staticmethod
    def _after_terminal(order: Order, view: OrderView, *, more: bool) -> str | None:
        if more:
            return (
                f"{view.source} reports {view.filled_quantity} filled, more than the "
                f"{order.filled_quantity} of the order already {order.status}"
            )
        if view.status.is_terminal and view.status is not order.status:
            return f"cannot go from {order.status} to {view.status} ({view.source})"
        return None  # a non-terminal view of a finished order: just late

    @staticmethod
    def _take_amounts(order: Order, view: OrderView) -> None:
        if view.filled_quantity >= order.filled_quantity:
            order.filled_quantity = view.filled_quantity
            order.average_fill_price = view.average_fill_price or order.average_fill_price
        order.fees = max(order.fees, view.fees)
        order.updated_ts = max(order.updated_ts, view.ts)
