"""The `user` channel's order view, and a tracker that finds which orders changed since last.

The venue has no event hooks, so each connection compares the venue's orders with what it
last sent: a new order, a status change, a fill or a cancel all change an order's view.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from coinswarm.exchanges.local_coinbase import convert
from coinswarm.exchanges.local_coinbase import schemas as s
from coinswarm.exchanges.local_coinbase.venue import Venue

__all__ = ["OPEN_STATUSES", "OrderTracker", "user_order"]

OPEN_STATUSES = frozenset({"PENDING", "OPEN"})
"""Statuses the snapshot includes: Coinbase's user snapshot lists open orders only."""


def _leaves(record: s.OrderRecord) -> str:
    configuration = record.order_configuration
    limit, market = configuration.limit_limit_gtc, configuration.market_market_ioc
    base = limit.base_size if limit else (market.base_size if market else None)
    if base is not None:
        return convert.decimal_text(max(Decimal(base) - Decimal(record.filled_size), Decimal(0)))
    # A quote-sized order has no base size to count down from until it is done.
    return "0" if record.status not in OPEN_STATUSES else ""


def user_order(record: s.OrderRecord) -> dict[str, Any]:
    """Return one order as the `user` channel shows it."""
    limit = record.order_configuration.limit_limit_gtc
    return {
        "order_id": record.order_id,
        "client_order_id": record.client_order_id,
        "product_id": record.product_id,
        "order_side": record.side,
        "order_type": record.order_type,
        "status": record.status,
        "time_in_force": record.time_in_force,
        "creation_time": record.created_time,
        "cumulative_quantity": record.filled_size,
        "leaves_quantity": _leaves(record),
        "avg_price": record.average_filled_price,
        "filled_value": record.filled_value,
        "number_of_fills": record.number_of_fills,
        "total_fees": record.total_fees,
        "total_value_after_fees": record.total_value_after_fees,
        "completion_percentage": record.completion_percentage,
        "outstanding_hold_amount": record.outstanding_hold_amount,
        "limit_price": limit.limit_price if limit else "",
        "stop_price": "",
        "post_only": "true" if limit and limit.post_only else "false",
        "cancel_reason": record.cancel_message,
        "reject_reason": record.reject_reason,
        "trigger_status": record.trigger_status,
        "product_type": record.product_type,
        "retail_portfolio_id": record.retail_portfolio_id,
        "contract_expiry_type": "UNKNOWN_CONTRACT_EXPIRY_TYPE",
        "risk_managed_by": "UNKNOWN_RISK_MANAGEMENT_TYPE",
    }


class OrderTracker:
    """Remember the last view of each order sent on one connection."""

    def __init__(self, venue: Venue, product_ids: frozenset[str]) -> None:
        self._venue = venue
        self._products = product_ids
        self._seen: dict[str, dict[str, Any]] = {}

    def _current(self) -> list[dict[str, Any]]:
        # The venue lists newest first; updates read better oldest first.
        records = reversed(self._venue.orders())
        wanted = [r for r in records if not self._products or r.product_id in self._products]
        return [user_order(r) for r in wanted]

    def snapshot(self) -> list[dict[str, Any]]:
        """Return the open orders now, and remember every order as sent."""
        current = self._current()
        self._seen = {order["order_id"]: order for order in current}
        return [order for order in current if order["status"] in OPEN_STATUSES]

    def changes(self) -> list[dict[str, Any]]:
        """Return the orders whose view changed since the last call, and remember them."""
        changed = [o for o in self._current() if self._seen.get(o["order_id"]) != o]
        for order in changed:
            self._seen[order["order_id"]] = order
        return changed
