"""A remote exchange driven bar by bar: its fills are fetched, never simulated here.

`RemoteVenue` puts any `ExchangeAdapter` (Coinbase, CCXT, the local Coinbase-compatible
exchange) behind the engine's `Venue` port. It keeps the orders it saw placed that can still
fill; on each bar it asks the exchange for the fills it has not booked yet (by `trade_id`, so a
fill listed twice is booked once) and refreshes those orders. An optional `driver` is called
first with the bar: a replay against a local exchange uses it to reveal the same bar there, so
that the exchange and the engine step in lockstep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from coinswarm.domain.bar import Bar
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest
from coinswarm.exchanges.base import ExchangeAdapter

__all__ = ["RemoteVenue"]


class RemoteVenue:
    """Drive an exchange adapter from the engine's bars; book each of its fills once."""

    def __init__(
        self, adapter: ExchangeAdapter, *, driver: Callable[[Bar], object] | None = None
    ) -> None:
        self.name = adapter.name
        self._adapter = adapter
        self._driver = driver
        self._live: dict[str, Order] = {}  # orders that can still fill, as last seen
        self._booked: set[str] = set()  # trade ids already handed to the engine
        self._since: int | None = None  # the latest fill time booked

    # -- the port, passed through; placing and cancelling keep the live set -------------------

    def instruments(self) -> Mapping[str, Instrument]:
        return self._adapter.instruments()

    def place_order(self, request: OrderRequest) -> Order:
        return self._seen(self._adapter.place_order(request))

    def cancel_order(self, order_id: str) -> Order:
        return self._seen(self._adapter.cancel_order(order_id))

    def get_order(self, order_id: str) -> Order:
        return self._seen(self._adapter.get_order(order_id))

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]:
        """Return the orders that could still fill when last seen (refreshed every bar)."""
        return [o for o in self._live.values() if instrument in (None, o.instrument)]

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        return self._adapter.list_fills(since_ts=since_ts)

    def balances(self) -> Mapping[str, Decimal]:
        return self._adapter.balances()

    # -- driven by the feed ---------------------------------------------------------------

    def has_resting(self, instrument: str) -> bool:
        return any(o.instrument == instrument for o in self._live.values())

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Let the exchange see `bar` (lockstep replays), then return its fills not yet booked."""
        if self._driver is not None:
            self._driver(bar)
        if not any(o.instrument == bar.instrument for o in self._live.values()):
            return []
        fills = [f for f in self._adapter.list_fills(since_ts=self._since) if self._is_new(f)]
        for order_id, order in list(self._live.items()):
            if order.instrument == bar.instrument:
                self.get_order(order_id)
        return fills

    def _is_new(self, fill: Fill) -> bool:
        if fill.trade_id in self._booked:
            return False
        self._booked.add(fill.trade_id)
        self._since = fill.ts if self._since is None else max(self._since, fill.ts)
        return True

    def _seen(self, order: Order) -> Order:
        if order.is_live:
            self._live[order.order_id] = order
        else:
            self._live.pop(order.order_id, None)
        return order
