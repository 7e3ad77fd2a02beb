"""The exchange port: the five things every adapter does, simulated or real."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from coinswarm.domain.bar import Bar
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest

__all__ = ["ExchangeAdapter", "Venue"]


class ExchangeAdapter(Protocol):
    """Place, cancel and look up orders, list fills and read balances on one exchange.

    Orders come back as snapshots: changing one changes nothing on the exchange. A business
    refusal (too small, not enough funds) is an order in status REJECTED with its reason, not
    an exception; exceptions mean the exchange could not be asked.
    """

    name: str

    def instruments(self) -> Mapping[str, Instrument]: ...

    def place_order(self, request: OrderRequest) -> Order: ...

    def cancel_order(self, order_id: str) -> Order: ...

    def get_order(self, order_id: str) -> Order: ...

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]: ...

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]: ...

    def balances(self) -> Mapping[str, Decimal]: ...


class Venue(ExchangeAdapter, Protocol):
    """An exchange as the engine drives it: the port, plus what each new bar brings.

    The simulated exchange matches its resting orders against the bar; a remote exchange is
    asked which fills it made since the last bar. Either way the engine books the returned
    fills before the strategy sees the bar.
    """

    def on_bar(self, bar: Bar) -> Sequence[Fill]: ...

    def has_resting(self, instrument: str) -> bool: ...

    def open_order_count(self) -> int:
        """Return how many orders can still fill, without copying them (the door asks often)."""
        ...

    def settle(self) -> Sequence[Fill]:
        """Return, at the end of a run, the fills made since the last bar and not booked yet.

        A simulated exchange fills only on bars, so it has none; a remote exchange may have
        filled an order after the last bar came, and the ledger must hold that fill too.
        """
        ...
