"""Feed `OrderState` from the websocket stream and REST: the engine's one call per event.

The user channel tells that an order changed, not which trades made the change, so an update
showing more filled than the booked fills add up to triggers a REST fill fetch (fills carry
the `trade_id` the ledger is keyed by). An order the channel names but the state does not know
(a fill before our acknowledgement, an order placed elsewhere) is looked up by id. After a
reconnect, the gap is filled from REST: every fill since the last one booked and the current
view of every live order. A REST failure never escapes: it becomes an alert (`unanswered`),
and the gap fill is tried again on the next event. The fill listing can lag the channel, so
`fetch_owed` asks again for the fills of orders that show more filled than they have fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order
from coinswarm.exchanges.coinbase.order_state import OrderAlert, OrderState, OrderView, user_view
from coinswarm.exchanges.coinbase.ws_events import (
    Reconnected,
    StreamEvent,
    StreamMessage,
    UserOrder,
    UserUpdate,
)

__all__ = ["OrderSource", "OrderSync"]


class OrderSource(Protocol):
    """What the sync needs from REST; `CoinbaseAdapter` is one."""

    def get_order(self, order_id: str) -> Order: ...

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]: ...


class OrderSync:
    """Apply stream events and REST answers to one `OrderState`."""

    def __init__(
        self, source: OrderSource, state: OrderState | None = None, *, since_ts: int | None = None
    ) -> None:
        """`since_ts`: fills before it are the account's history, never listed."""
        self.source = source
        self.state = state or OrderState()
        self._gap_pending = False
        self._floor = since_ts

    def on_event(self, event: StreamEvent) -> list[OrderAlert]:
        """Take one stream event; return what could not be applied."""
        alerts: list[OrderAlert] = []
        if isinstance(event, Reconnected):
            self._gap_pending = True
        elif isinstance(event, StreamMessage) and isinstance(event.payload, UserUpdate):
            for order in event.payload.orders:
                alerts.extend(self._on_user_order(order, event.ts))
        if self._gap_pending:
            alerts.extend(self.fill_gap())
        return alerts

    def fill_gap(self) -> list[OrderAlert]:
        """Fetch every fill since the last booked one and every live order's current view."""
        alerts = self._fetch_fills("gap fill")
        for order_id in [*self.state.live_order_ids(), *self.state.unknown_order_ids()]:
            alerts.extend(self._look_up(order_id, "gap fill"))
        # Only a failed call leaves the gap open: a contradiction found is reported, not retried.
        self._gap_pending = any(a.unanswered for a in alerts)
        return alerts

    def fetch_owed(self) -> list[OrderAlert]:
        """List fills again while an order shows more filled than its booked fills add up to.

        The listing starts at the oldest such order's creation: a fill listed late may be
        older than the newest fill booked.
        """
        owed = self.state.owed_orders()
        if not owed:
            return []
        return self._fetch_fills("fills owed", since_ts=min(o.created_ts for o in owed))

    def _on_user_order(self, order: UserOrder, ts: int) -> list[OrderAlert]:
        try:
            view = user_view(order, ts)
        except CoinswarmError as error:
            return [OrderAlert(order.order_id, order.client_order_id, str(error), "user channel")]
        alerts = self.state.apply(view)
        if order.order_id in self.state.unknown_order_ids():
            alerts.extend(self._look_up(order.order_id, "user channel"))
        if view.filled_quantity > self.state.filled_by_fills(order.order_id):
            alerts.extend(self._fetch_fills("user channel"))
        return alerts

    def _fetch_fills(self, why: str, *, since_ts: int | None = None) -> list[OrderAlert]:
        since = self.state.last_fill_ts() if since_ts is None else since_ts
        if self._floor is not None:
            since = self._floor if since is None else max(since, self._floor)
        try:
            fills = self.source.list_fills(since_ts=since)
        except CoinswarmError as error:
            problem = f"fills after {why}: {error}"
            return [OrderAlert("", "", problem, "REST list_fills", unanswered=True)]
        return self.state.book(fills)

    def _look_up(self, order_id: str, why: str) -> list[OrderAlert]:
        try:
            order = self.source.get_order(order_id)
        except CoinswarmError as error:
            problem = f"order after {why}: {error}"
            return [OrderAlert(order_id, "", problem, "REST get_order", unanswered=True)]
        if self.state.order(order_id) is None:
            return self.state.track(order, "REST get_order")
        return self.state.apply(OrderView.of(order, "REST get_order"))
