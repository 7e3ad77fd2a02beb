"""The execution agent: the last step before an exchange adapter.

It rounds each request to the instrument's increments (sizes down, prices to the tick in the
safe direction), refuses locally what the exchange would refuse for size, sends the rest, and
hands every fill to the ledger. It is the only component that holds an adapter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from coinswarm.domain.clock import Clock
from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderType
from coinswarm.exchanges.base import ExchangeAdapter
from coinswarm.execution.journal import Journal, MemoryJournal
from coinswarm.execution.known_orders import KnownOrders

__all__ = ["ExecutionAgent"]


class ExecutionAgent:
    """Send orders to one exchange and keep the ledger and the order book in step with it."""

    def __init__(
        self,
        exchange: ExchangeAdapter,
        ledger: Ledger,
        clock: Clock,
        journal: Journal | None = None,
    ) -> None:
        self._exchange = exchange
        self._ledger = ledger
        self._clock = clock
        self._journal = journal or MemoryJournal()
        self._instruments = dict(exchange.instruments())
        self._known = KnownOrders()
        self._local_rejects = 0

    @property
    def orders(self) -> tuple[Order, ...]:
        """Return every order sent or refused, in the order they were asked for."""
        return tuple(self._known.by_id.values())

    @property
    def order_count(self) -> int:
        """Return how many orders were sent or refused, without copying them."""
        return len(self._known.by_id)

    def instrument(self, symbol: str) -> Instrument:
        try:
            return self._instruments[symbol]
        except KeyError:
            raise InvalidOrderError(f"unknown instrument {symbol!r}") from None

    def submit(self, request: OrderRequest) -> Order:
        """Round `request`, refuse it locally if it is too small, else place it."""
        instrument = self.instrument(request.instrument)
        try:
            rounded = self._rounded(request, instrument)
        except InvalidOrderError as refusal:
            return self.refuse(request, str(refusal))
        problem = self._size_problem(rounded, instrument)
        if problem is not None:
            return self.refuse(rounded, problem)
        if not self._journal.claim(rounded, self._clock.now_ns()):
            # The same intent was sent before: a second order would trade twice. Like an
            # exchange given a repeated client order id, answer with the order it already has.
            return self._existing(rounded)
        order = self._exchange.place_order(rounded)
        self._track(order)
        return order

    def adopt(self, orders: Iterable[Order]) -> None:
        """Take over orders a previous life of the session sent (a restart carries them over)."""
        for order in orders:
            self._remember(order)

    def _existing(self, request: OrderRequest) -> Order:
        for order in self._known.by_id.values():
            if order.client_order_id == request.client_order_id:
                return order
        # Claimed in an earlier life of the process: nothing to answer with, and nothing sent.
        order = Order(f"DUPLICATE-{request.client_order_id}", request, self._clock.now_ns())
        order.reject(f"duplicate intent {request.client_order_id}: not sent", order.created_ts)
        return order

    def _track(self, order: Order) -> None:
        self._remember(order)
        self._journal.order(order)

    def _remember(self, order: Order) -> None:
        self._known.keep(order)

    def open_orders(self) -> tuple[Order, ...]:
        """Return the orders that can still fill, as the exchange reports them."""
        return tuple(self._exchange.open_orders())

    def refresh(self) -> None:
        """Bring every order not yet final up to date with the exchange."""
        for order_id, order in list(self._known.by_id.items()):
            if not order.status.is_terminal:
                self._track(self._exchange.get_order(order_id))

    def cancel(self, order_id: str) -> Order:
        order = self._exchange.cancel_order(order_id)
        self._track(order)
        return order

    def on_fills(self, fills: Iterable[Fill]) -> None:
        """Book `fills` in the ledger and refresh the orders they belong to."""
        for fill in fills:
            self._ledger.record(fill)
            order = self._exchange.get_order(fill.order_id)
            self._remember(order)
            self._journal.fill(fill, order)

    @staticmethod
    def _rounded(request: OrderRequest, instrument: Instrument) -> OrderRequest:
        changes: dict[str, object] = {}
        if request.quantity is not None:
            changes["quantity"] = instrument.round_size(request.quantity)
        if request.limit_price is not None:
            changes["limit_price"] = instrument.round_price(request.limit_price, request.side)
        if request.stop_price is not None:
            # A stop rounds away from the market: it must not trigger earlier than asked.
            opposite = OrderSide.SELL if request.side is OrderSide.BUY else OrderSide.BUY
            changes["stop_price"] = instrument.round_price(request.stop_price, opposite)
        if not changes or all(getattr(request, k) == v for k, v in changes.items()):
            return request
        if changes.get("quantity") == 0:
            raise InvalidOrderError(
                f"order {request.client_order_id}: quantity {request.quantity} rounds to zero "
                f"at the size increment {instrument.size_increment}"
            )
        return replace(request, **changes)  # type: ignore[arg-type]

    @staticmethod
    def _size_problem(request: OrderRequest, instrument: Instrument) -> str | None:
        if request.quote_quantity is not None:
            if request.quote_quantity < instrument.min_notional:
                return (
                    f"notional {request.quote_quantity} {instrument.quote} is below the minimum "
                    f"{instrument.min_notional} {instrument.quote}"
                )
            return None
        assert request.quantity is not None
        price = request.limit_price if request.type is not OrderType.MARKET else None
        if price is None:
            if request.quantity < instrument.min_size:
                return f"size {request.quantity} is below the minimum {instrument.min_size}"
            return None
        return instrument.size_problem(request.quantity, price)

    def refuse(self, request: OrderRequest, reason: str) -> Order:
        """Record `request` as rejected here, with `reason`, without sending it anywhere."""
        self._local_rejects += 1
        order = Order(f"LOCAL-REJECT-{self._local_rejects:08d}", request, self._clock.now_ns())
        order.reject(reason, order.created_ts)
        self._track(order)
        return order
