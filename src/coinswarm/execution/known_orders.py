"""The orders a run knows, one per client order id, as the exchange has them.

Kept apart from the execution agent so that what only reads orders (the live shadow's trade
book) never imports what holds an exchange adapter.
"""

from __future__ import annotations

from coinswarm.domain.order import Order, OrderStatus

__all__ = ["KnownOrders"]


class KnownOrders:
    """Every order by order id, one per client order id, in the order first seen.

    When an order's placing answer was lost, the adapter hands back a stand-in in status NEW;
    once the exchange's own order turns up under the same client order id, it takes the
    stand-in's place, so each client order id is one order here, as at the exchange.
    """

    def __init__(self) -> None:
        self.by_id: dict[str, Order] = {}
        self._in_flight: dict[str, str] = {}  # client order id -> stand-in order id

    def keep(self, order: Order) -> None:
        """Keep `order`'s latest state, in its stand-in's place if it had one."""
        stand_in = self._in_flight.pop(order.client_order_id, None)
        if stand_in is not None and stand_in != order.order_id:
            self.by_id = {
                (order.order_id if key == stand_in else key): value
                for key, value in self.by_id.items()
            }
        if order.status is OrderStatus.NEW:
            self._in_flight[order.client_order_id] = order.order_id
        self.by_id[order.order_id] = order
