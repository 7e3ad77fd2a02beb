"""The venue: products and accounts over the simulated exchange, fed by a replay of bars.

Time at the venue is the replay's: it stands at the latest revealed bar and moves only when
`advance` is called (by the control API in tests). Orders placed now meet the next bar at the
earliest, exactly as in a backtest, so a test decides when fills happen. The engine is the
project's `SimulatedExchange`; this class only adds what Coinbase shows on top of it: the
order configuration as sent, holds, and the bars revealed so far.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderSide, OrderStatus
from coinswarm.exchanges.local_coinbase import convert, editing
from coinswarm.exchanges.local_coinbase import schemas as s
from coinswarm.exchanges.local_coinbase.book import Book, order_book
from coinswarm.exchanges.local_coinbase.listing import Page, PageRequest, newest_first
from coinswarm.exchanges.simulated import SimulatedExchange

__all__ = ["CancelOutcome", "Venue"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """The result of cancelling one order: Coinbase's reason code when it failed."""

    order_id: str
    success: bool
    failure_reason: str = "UNKNOWN_CANCEL_FAILURE_REASON"


class Venue:
    """A Coinbase-like venue over one `SimulatedExchange`; every method is thread-safe."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        bars: Iterable[BarSeries],
        *,
        balances: Mapping[str, Decimal],
        fill_model: FillModel | None = None,
        reveal: int = 1,
    ) -> None:
        self._lock = threading.RLock()
        self._series = {series.instrument: series for series in bars}
        unknown = set(self._series) - set(instruments)
        if unknown:
            msg = f"bars for instruments that are not listed: {sorted(unknown)}"
            raise ValueError(msg)
        self._instruments = dict(instruments)
        self._times = sorted({int(t) for series in self._series.values() for t in series.ts})
        self._cursor = dict.fromkeys(self._series, 0)
        self._step = 0
        first = self._times[0] if self._times else 0
        self._clock = HistoricalClock(first - 1)
        self._engine = SimulatedExchange(
            instruments, self._clock, fill_model=fill_model, balances=balances
        )
        self._configs: dict[str, s.OrderConfiguration] = {}
        self._by_client: dict[str, str] = {}
        self._fills_by_order: dict[str, list[Fill]] = defaultdict(list)
        self.advance(reveal)

    # -- time -------------------------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        """Return the venue's time: the open time of the latest revealed bar."""
        return self._clock.now_ns()

    def advance(self, bars: int = 1) -> list[Fill]:
        """Reveal the next `bars` timestamps to the engine; return the fills they caused."""
        fills: list[Fill] = []
        with self._lock:
            for _ in range(bars):
                if self._step >= len(self._times):
                    break
                fills.extend(self._reveal(self._times[self._step]))
                self._step += 1
        return fills

    def advance_product(self, product_id: str, ts: int) -> list[Fill]:
        """Reveal one product's bar at `ts`, the way a backtest steps bar by bar.

        A replay that drives the venue in lockstep with its own feed calls this once per bar,
        so that each product's resting orders meet its bar at the same step as in a backtest.
        Timestamps before `ts` that were never revealed are passed over.
        """
        with self._lock:
            while self._step < len(self._times) and self._times[self._step] < ts:
                self._step += 1
            if self._step < len(self._times) and self._times[self._step] == ts:
                self._clock.advance_to(ts)
                if all(self._is_revealed(name, ts) for name in self._series if name != product_id):
                    self._step += 1
            return self._reveal_product(product_id, ts)

    def _is_revealed(self, product_id: str, ts: int) -> bool:
        series, index = self._series[product_id], self._cursor[product_id]
        return index >= len(series) or int(series.ts[index]) > ts

    def _reveal(self, ts: int) -> list[Fill]:
        self._clock.advance_to(ts)
        fills: list[Fill] = []
        for name in self._series:
            fills.extend(self._reveal_product(name, ts))
        return fills

    def _reveal_product(self, product_id: str, ts: int) -> list[Fill]:
        series, index = self._series[product_id], self._cursor[product_id]
        if index >= len(series) or int(series.ts[index]) != ts:
            return []
        fills = self._engine.on_bar(series.bar(index))
        self._cursor[product_id] = index + 1
        for fill in fills:
            self._fills_by_order[fill.order_id].append(fill)
        return fills

    def last_bar(self, product_id: str) -> Bar | None:
        """Return the latest revealed bar of a product, or None before the first."""
        with self._lock:
            index = self._cursor.get(product_id, 0)
            return self._series[product_id].bar(index - 1) if index else None

    def revealed(self, product_id: str) -> BarSeries | None:
        """Return the bars of a product revealed so far; never one from the future."""
        with self._lock:
            series = self._series.get(product_id)
            if series is None:
                return None
            return series.between(None, self._clock.now_ns() + 1)

    # -- products and accounts --------------------------------------------------------------

    def instrument(self, product_id: str) -> Instrument | None:
        return self._instruments.get(product_id)

    def instruments(self) -> Sequence[Instrument]:
        return list(self._instruments.values())

    def fee_schedule(self) -> FeeSchedule:
        """Return the maker and taker fees the matching engine charges."""
        return self._engine.fill_model.fees

    def deposit(self, currency: str, amount: Decimal) -> None:
        """Credit the account from outside, as a transfer in would (reliability scenario 14)."""
        with self._lock:
            self._engine.deposit(currency, amount)

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Return each currency's total and held amounts."""
        with self._lock:
            totals = self._engine.balances()
            currencies = set(totals)
            for instrument in self._instruments.values():
                currencies.update((instrument.base, instrument.quote))
            holds: dict[str, Decimal] = defaultdict(lambda: ZERO)
            for order in self._engine.open_orders():
                currency, amount = self._hold(order)
                holds[currency] += amount
            return {c: (totals.get(c, ZERO), holds[c]) for c in sorted(currencies)}

    def _hold(self, order: Order) -> tuple[str, Decimal]:
        """Return what an open order reserves, by the engine's rule (estimated for buys)."""
        instrument = self._instruments[order.instrument]
        if order.side is OrderSide.SELL:
            return instrument.base, order.remaining_quantity or ZERO
        remaining_quote = order.remaining_quote
        if remaining_quote is not None:
            return instrument.quote, remaining_quote
        price = order.request.limit_price or self._last_price(order.instrument)
        rate = self._engine.fill_model.fees.rate(Liquidity.TAKER)
        return instrument.quote, (order.remaining_quantity or ZERO) * price * (1 + rate)

    def _last_price(self, product_id: str) -> Decimal:
        bar = self.last_bar(product_id)
        return Decimal(repr(bar.close)) if bar else ZERO

    # -- orders -----------------------------------------------------------------------------

    def place(self, body: s.CreateOrderRequest) -> s.CreateOrderResponse:
        """Place an order; a repeated `client_order_id` answers with the order it made."""
        with self._lock:
            existing = self._by_client_id(body.client_order_id)
            if existing is not None:
                return self._answer(existing)
            try:
                request = convert.order_request(body, self.instrument(body.product_id))
            except convert.RejectError as refusal:
                return refusal.response(body.order_configuration)
            order = self._engine.place_order(request)
            self._configs[order.order_id] = body.order_configuration
            self._by_client[order.client_order_id] = order.order_id
            return self._answer(order)

    def _by_client_id(self, client_order_id: str) -> Order | None:
        order_id = self._by_client.get(client_order_id)
        return self._engine.get_order(order_id) if order_id is not None else None

    def _answer(self, order: Order) -> s.CreateOrderResponse:
        configuration = self._configs[order.order_id]
        if order.status is OrderStatus.REJECTED:
            refusal = convert.refusal_for_engine_reason(order.reject_reason or "rejected")
            return refusal.response(configuration)
        success = s.CreateOrderSuccess(
            order_id=order.order_id,
            product_id=order.instrument,
            side=order.side.value,
            client_order_id=order.client_order_id,
        )
        return s.CreateOrderResponse(
            success=True, success_response=success, order_configuration=configuration
        )

    def cancel(self, order_ids: Sequence[str]) -> list[CancelOutcome]:
        """Cancel each order; say per order whether it worked."""
        with self._lock:
            return [self._cancel_one(order_id) for order_id in order_ids]

    def _cancel_one(self, order_id: str) -> CancelOutcome:
        if order_id not in self._configs:
            return CancelOutcome(order_id, False, "UNKNOWN_CANCEL_ORDER")
        if not self._engine.get_order(order_id).is_live:
            return CancelOutcome(order_id, False, "INVALID_CANCEL_REQUEST")
        self._engine.cancel_order(order_id)
        return CancelOutcome(order_id, True)

    def edit(
        self, order_id: str, size: str | None, price: str | None, *, commit: bool
    ) -> tuple[Order, editing.EditTerms]:
        """Edit a resting GTC limit order (or only check the edit); raise `EditRefusalError`."""
        with self._lock:
            # A refused order left no order a client can see, so it cannot be edited either.
            if self.order(order_id) is None:
                msg = f"order {order_id} not found"
                raise editing.EditRefusalError("ORDER_NOT_FOUND", editing.UNKNOWN_PREVIEW, msg)
            order = self._engine.get_order(order_id)
            terms = editing.edited_terms(order, self._instruments[order.instrument], size, price)
            try:
                amended = self._engine.amend_order(
                    order_id, quantity=terms.size, limit_price=terms.price, dry_run=not commit
                )
            except InvalidOrderError as refusal:
                raise editing.engine_refusal(str(refusal)) from None
            if commit:
                self._configs[order_id] = editing.edited_configuration(
                    self._configs[order_id], terms
                )
            return amended, terms

    def book(self, product_id: str) -> Book | None:
        """Return a product's book now, or None for an unknown product."""
        with self._lock:
            instrument = self._instruments.get(product_id)
            if instrument is None:
                return None
            resting = self._engine.open_orders(product_id)
            return order_book(instrument, self.last_bar(product_id), resting, now_ns=self.now_ns)

    def order(self, order_id: str) -> s.OrderRecord | None:
        """Return one order as Coinbase shows it; None for an unknown or refused one."""
        with self._lock:
            if order_id not in self._configs:
                return None
            order = self._engine.get_order(order_id)
            if order.status is OrderStatus.REJECTED:
                return None
            return self._record(order)

    def orders(self) -> list[s.OrderRecord]:
        """Return every order a client can see, newest first; refused ones left no order."""
        with self._lock:
            found = [self._engine.get_order(order_id) for order_id in self._configs]
            visible = [o for o in found if o.status is not OrderStatus.REJECTED]
            return [self._record(o) for o in reversed(visible)]

    def order_page(
        self, wanted: Callable[[Order], bool], request: PageRequest
    ) -> Page[s.OrderRecord]:
        """Return one page, newest first, of the orders a client can see that `wanted` keeps.

        An order's position is its place in the order of placement, so a cursor stays valid
        while new orders arrive; only the page's own orders are turned into records.
        """
        with self._lock:
            placed = (self._engine.get_order(order_id) for order_id in self._configs)
            entries = (
                (position, order)
                for position, order in enumerate(placed)
                if order.status is not OrderStatus.REJECTED and wanted(order)
            )
            return newest_first(entries, request).map(self._record)

    def _record(self, order: Order) -> s.OrderRecord:
        fills = self._fills_by_order.get(order.order_id, [])
        facts = convert.OrderFacts(
            configuration=self._configs[order.order_id],
            number_of_fills=len(fills),
            last_fill_ts=fills[-1].ts if fills else None,
            hold=self._hold(order)[1] if order.is_live else ZERO,
        )
        return convert.order_record(order, facts)

    def fills(self) -> list[Fill]:
        """Return every fill, newest first, as Coinbase lists them."""
        with self._lock:
            return list(reversed(self._engine.list_fills()))

    def fill_page(self, wanted: Callable[[Fill], bool], request: PageRequest) -> Page[Fill]:
        """Return one page, newest first, of the fills `wanted` keeps, by order of execution."""
        with self._lock:
            executed = enumerate(self._engine.list_fills())
            return newest_first(((i, f) for i, f in executed if wanted(f)), request)

    # -- the exchange's own record, for reconciliation tests --------------------------------

    def engine_orders(self) -> list[Order]:
        """Return every order the engine holds, refused ones included."""
        with self._lock:
            return [self._engine.get_order(order_id) for order_id in self._configs]
