"""An in-memory exchange behind the `ExchangeAdapter` port, for reconciliation tests.

It is a real implementation, not a mock: fills move its balances, orders keep their state,
and a test plays the exchange's part by adding fills, orders and deposits directly, the way
things happen at a real venue behind our back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest

ZERO = Decimal(0)


class FakeExchange:
    """Hold orders, fills and balances; count every request so tests can see what was asked."""

    name = "fake"

    def __init__(
        self, instruments: Mapping[str, Instrument], balances: Mapping[str, Decimal]
    ) -> None:
        self._instruments = dict(instruments)
        self._balances = dict(balances)
        self._orders: dict[str, Order] = {}
        self._fills: list[Fill] = []
        self.placed: list[OrderRequest] = []
        self.cancelled: list[str] = []
        self.lookups: list[str] = []

    # -- the exchange's side ------------------------------------------------------------------

    def add_order(self, order: Order) -> Order:
        self._orders[order.order_id] = order
        return order

    def add_fill(self, fill: Fill) -> None:
        """Book `fill` as the exchange does: base in or out, quote out or in, fee in quote."""
        instrument = self._instruments[fill.instrument]
        signed = fill.quantity * fill.side.sign
        self._move(instrument.base, signed)
        self._move(instrument.quote, -signed * fill.price)
        self._move(fill.fee_currency, -fill.fee)
        self._fills.append(fill)

    def deposit(self, currency: str, amount: Decimal) -> None:
        self._move(currency, amount)

    def _move(self, currency: str, amount: Decimal) -> None:
        self._balances[currency] = self._balances.get(currency, ZERO) + amount

    # -- the port -----------------------------------------------------------------------------

    def instruments(self) -> Mapping[str, Instrument]:
        return dict(self._instruments)

    def place_order(self, request: OrderRequest) -> Order:
        self.placed.append(request)
        order = Order(f"F-{len(self.placed)}", request, 0)
        order.accept(0)
        return self.add_order(order)

    def cancel_order(self, order_id: str) -> Order:
        self.cancelled.append(order_id)
        order = self.get_order(order_id)
        if order.is_live:
            order.cancel(order.updated_ts)
        return order

    def get_order(self, order_id: str) -> Order:
        self.lookups.append(order_id)
        try:
            return self._orders[order_id].snapshot()
        except KeyError:
            raise InvalidOrderError(f"unknown order id {order_id!r}") from None

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]:
        return [
            o.snapshot()
            for o in self._orders.values()
            if o.is_live and instrument in (None, o.instrument)
        ]

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        return [f for f in self._fills if since_ts is None or f.ts >= since_ts]

    def balances(self) -> Mapping[str, Decimal]:
        return dict(self._balances)
