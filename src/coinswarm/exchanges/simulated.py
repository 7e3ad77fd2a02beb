"""The simulated exchange: a matching engine on bars, with balances, holds and fees.

It is a real implementation of the exchange port, not a mock: backtests trade against it, paper
trading will, and tests use it as the fake for every exchange. Orders placed while bar t is the
latest can only meet bar t+1 or later, so a decision never fills on the bar that prompted it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from coinswarm.domain.bar import Bar
from coinswarm.domain.clock import Clock
from coinswarm.domain.costs import FillModel
from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderType, TimeInForce
from coinswarm.exchanges.matching import execution_price

__all__ = ["SimulatedExchange"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class _Terms:
    """The price, liquidity and fee rate of one execution."""

    price: Decimal
    liquidity: Liquidity
    rate: Decimal


@dataclass(slots=True)
class _Resting:
    order: Order
    hold_currency: str
    hold: Decimal
    seen_a_bar: bool = False


class SimulatedExchange:
    """Match orders against bars as they arrive; keep the exchange's own record of money."""

    name = "simulated"

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        *,
        fill_model: FillModel | None = None,
        balances: Mapping[str, Decimal] | None = None,
    ) -> None:
        self._instruments = dict(instruments)
        self._clock = clock
        self.fill_model = fill_model or FillModel()
        self._balances: dict[str, Decimal] = dict(balances or {})
        self._orders: dict[str, Order] = {}
        self._by_client_id: dict[str, str] = {}
        self._resting: dict[str, dict[str, _Resting]] = {s: {} for s in self._instruments}
        self._fills: list[Fill] = []
        self._last_close: dict[str, float] = {}
        self._order_seq = 0
        self._trade_seq = 0

    # -- the port ---------------------------------------------------------------------------

    def instruments(self) -> Mapping[str, Instrument]:
        return dict(self._instruments)

    def place_order(self, request: OrderRequest) -> Order:
        """Accept or reject `request`; a repeated client order id returns the first order."""
        existing = self._by_client_id.get(request.client_order_id)
        if existing is not None:
            return self._orders[existing].snapshot()
        self._order_seq += 1
        order = Order(f"SIM-{self._order_seq:08d}", request, self._clock.now_ns())
        self._orders[order.order_id] = order
        self._by_client_id[request.client_order_id] = order.order_id
        try:
            currency, hold = self._hold_for(request)
        except InvalidOrderError as refusal:
            order.reject(str(refusal), order.created_ts)
            return order.snapshot()
        self._resting[request.instrument][order.order_id] = _Resting(order, currency, hold)
        order.accept(order.created_ts)
        return order.snapshot()

    def cancel_order(self, order_id: str) -> Order:
        order = self._order(order_id)
        if order.is_live:
            order.cancel(self._clock.now_ns())
            self._release(order)
        return order.snapshot()

    def amend_order(
        self, order_id: str, *, quantity: Decimal, limit_price: Decimal, dry_run: bool = False
    ) -> Order:
        """Change a resting GTC limit order's size and price, keeping its id and its fills.

        The hold is recomputed for what is left at the new price; an amend the account cannot
        fund, or one to a size no more than what has filled, raises `InvalidOrderError` and
        leaves the order as it was. The amended order meets its next bar as a new order would.
        With `dry_run` every check is made and nothing changes.
        """
        order = self._order(order_id)
        resting = self._resting[order.instrument].get(order_id)
        request = order.request
        if resting is None or request.type is not OrderType.LIMIT:
            raise InvalidOrderError(f"order {order_id} is not a resting limit order")
        if quantity <= order.filled_quantity:
            raise InvalidOrderError(
                f"size {quantity} is not above the filled size {order.filled_quantity}"
            )
        amended = replace(request, quantity=quantity, limit_price=limit_price)
        instrument = self._instruments[order.instrument]
        problem = instrument.size_problem(quantity, limit_price)
        if problem:
            raise InvalidOrderError(problem)
        left = quantity - order.filled_quantity
        if order.side is OrderSide.BUY:
            rate = self.fill_model.fees.rate(Liquidity.TAKER)
            estimate = self.fill_model.slipped(limit_price, OrderSide.BUY, Liquidity.TAKER)
            left = left * estimate * (1 + rate)
        free = self._free(resting.hold_currency) + resting.hold
        _, hold = self._reserve_from(free, resting.hold_currency, left)
        if dry_run:
            return order.snapshot()
        order.request = amended
        resting.hold = hold
        resting.seen_a_bar = False
        return order.snapshot()

    def get_order(self, order_id: str) -> Order:
        return self._order(order_id).snapshot()

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]:
        books = [self._resting[instrument]] if instrument else self._resting.values()
        return [r.order.snapshot() for book in books for r in book.values()]

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        if since_ts is None:
            return tuple(self._fills)
        return tuple(f for f in self._fills if f.ts >= since_ts)

    def balances(self) -> Mapping[str, Decimal]:
        return dict(self._balances)

    def deposit(self, currency: str, amount: Decimal) -> None:
        """Credit `amount` of `currency` from outside the exchange (a transfer in)."""
        self._balances[currency] = self._balances.get(currency, ZERO) + amount

    # -- driven by the market feed ----------------------------------------------------------

    def has_resting(self, instrument: str) -> bool:
        return bool(self._resting.get(instrument))

    def open_order_count(self) -> int:
        return sum(len(book) for book in self._resting.values())

    def settle(self) -> list[Fill]:
        """Return no fills: without a new bar nothing can match."""
        return []

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Match the resting orders of `bar.instrument` against it; return the new fills."""
        book = self._resting.get(bar.instrument)
        fills: list[Fill] = []
        if book:
            for resting in list(book.values()):
                if resting.order.created_ts < bar.ts:
                    fill = self._match(resting, bar)
                    if fill is not None:
                        fills.append(fill)
        self._last_close[bar.instrument] = bar.close
        return fills

    # -- holds --------------------------------------------------------------------------------

    def _hold_for(self, request: OrderRequest) -> tuple[str, Decimal]:
        instrument = self._instruments.get(request.instrument)
        if instrument is None:
            raise InvalidOrderError(f"unknown instrument {request.instrument!r}")
        reference = self._reference_price(request)
        if request.quote_quantity is not None:
            if request.quote_quantity < instrument.min_notional:
                raise InvalidOrderError(
                    f"notional {request.quote_quantity} {instrument.quote} is below the minimum "
                    f"{instrument.min_notional} {instrument.quote}"
                )
            return self._reserve(instrument.quote, request.quote_quantity)
        assert request.quantity is not None
        problem = instrument.size_problem(request.quantity, reference)
        if problem:
            raise InvalidOrderError(problem)
        if request.side is OrderSide.SELL:
            return self._reserve(instrument.base, request.quantity)
        rate = self.fill_model.fees.rate(Liquidity.TAKER)
        estimate = self.fill_model.slipped(reference, OrderSide.BUY, Liquidity.TAKER)
        return self._reserve(instrument.quote, request.quantity * estimate * (1 + rate))

    def _reference_price(self, request: OrderRequest) -> Decimal:
        if request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            assert request.limit_price is not None
            return request.limit_price
        if request.type is OrderType.STOP:
            assert request.stop_price is not None
            return request.stop_price
        last = self._last_close.get(request.instrument)
        if last is None:
            raise InvalidOrderError(f"no price yet for {request.instrument}: no bar has arrived")
        return Decimal(repr(last))

    def _reserve(self, currency: str, amount: Decimal) -> tuple[str, Decimal]:
        return self._reserve_from(self._free(currency), currency, amount)

    @staticmethod
    def _reserve_from(free: Decimal, currency: str, amount: Decimal) -> tuple[str, Decimal]:
        if amount > free:
            raise InvalidOrderError(
                f"insufficient funds: the order needs {amount:.8f} {currency}, "
                f"{free:.8f} {currency} is free"
            )
        return currency, amount

    def _free(self, currency: str) -> Decimal:
        held = sum(
            (
                r.hold
                for book in self._resting.values()
                for r in book.values()
                if r.hold_currency == currency
            ),
            ZERO,
        )
        return self._balances.get(currency, ZERO) - held

    def _release(self, order: Order) -> None:
        self._resting[order.instrument].pop(order.order_id, None)

    # -- matching -----------------------------------------------------------------------------

    def _match(self, resting: _Resting, bar: Bar) -> Fill | None:
        order = resting.order
        request = order.request
        first_bar = not resting.seen_a_bar
        resting.seen_a_bar = True
        if request.expire_ts is not None and bar.ts >= request.expire_ts:
            order.expire(bar.ts)
            self._release(order)
            return None
        execution = execution_price(order, bar, first_bar=first_bar)
        fill = None
        if execution is not None:
            fill = self._execute(resting, bar, *execution)
        if order.is_live and request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            order.cancel(bar.ts)
            self._release(order)
        return fill

    def _execute(
        self, resting: _Resting, bar: Bar, raw_price: Decimal, liquidity: Liquidity
    ) -> Fill | None:
        order = resting.order
        instrument = self._instruments[order.instrument]
        rate = self.fill_model.fees.rate(liquidity)
        bps = self._slippage_bps(resting, bar, _Terms(raw_price, liquidity, rate))
        terms = _Terms(
            instrument.round_fill_price(
                self.fill_model.slipped(raw_price, order.side, liquidity, bps=bps), order.side
            ),
            liquidity,
            rate,
        )
        wanted = self._wanted_quantity(order, instrument, terms)
        quantity = self._capped(wanted, bar, resting, terms)
        if order.request.time_in_force is TimeInForce.FOK and quantity < wanted:
            return None
        if quantity <= 0:
            if wanted <= 0 and order.filled_quantity > 0:
                order.complete(bar.ts)  # only dust is left of a quote-sized order
                self._release(order)
            return None
        return self._book_fill(resting, quantity, terms, bar.ts)

    def _slippage_bps(self, resting: _Resting, bar: Bar, unslipped: _Terms) -> Decimal:
        """Return the fill's slippage, sized on what it would fill at the unslipped price.

        The slipped price buys fewer units than the unslipped one, so the share of volume this
        sizes on is never below the one that fills: the estimate errs toward more slippage.
        """
        if unslipped.liquidity is Liquidity.MAKER:
            return ZERO  # a resting order fills at its own price
        instrument = self._instruments[resting.order.instrument]
        quantity = self._wanted_quantity(resting.order, instrument, unslipped)
        cap = self.fill_model.volume_cap(bar.volume)
        if cap is not None:
            quantity = min(quantity, cap)
        return self.fill_model.slippage_bps(bar, quantity)

    @staticmethod
    def _wanted_quantity(order: Order, instrument: Instrument, terms: _Terms) -> Decimal:
        remaining = order.remaining_quantity
        if remaining is not None:
            return remaining
        quote_left = order.remaining_quote
        assert quote_left is not None
        return instrument.round_size(quote_left / (terms.price * (1 + terms.rate)))

    def _capped(self, wanted: Decimal, bar: Bar, resting: _Resting, terms: _Terms) -> Decimal:
        instrument = self._instruments[resting.order.instrument]
        quantity = wanted
        cap = self.fill_model.volume_cap(bar.volume)
        if cap is not None:
            quantity = min(quantity, instrument.round_size(cap))
        if resting.order.side is OrderSide.BUY:
            # The hold was an estimate; never spend money the account does not have.
            budget = self._free(instrument.quote) + resting.hold
            affordable = budget / (terms.price * (1 + terms.rate))
            quantity = min(quantity, instrument.round_size(affordable))
        return quantity

    def _book_fill(self, resting: _Resting, quantity: Decimal, terms: _Terms, ts: int) -> Fill:
        order = resting.order
        instrument = self._instruments[order.instrument]
        fee = quantity * terms.price * terms.rate
        self._trade_seq += 1
        fill = Fill(
            trade_id=f"SIM-T-{self._trade_seq:08d}",
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            side=order.side,
            quantity=quantity,
            price=terms.price,
            fee=fee,
            fee_currency=instrument.quote,
            ts=ts,
            liquidity=terms.liquidity,
        )
        signed = quantity * order.side.sign
        cost = quantity * terms.price * order.side.sign + fee
        self._balances[instrument.base] = self._balances.get(instrument.base, ZERO) + signed
        self._balances[instrument.quote] = self._balances.get(instrument.quote, ZERO) - cost
        resting.hold = max(ZERO, resting.hold - (cost if order.side is OrderSide.BUY else quantity))
        order.apply_fill(fill)
        self._fills.append(fill)
        if order.is_live and self._only_dust_left(order, instrument, terms):
            order.complete(ts)
        if not order.is_live:
            self._release(order)
        return fill

    @staticmethod
    def _only_dust_left(order: Order, instrument: Instrument, terms: _Terms) -> bool:
        """Return True when a quote-sized order cannot buy even the smallest size any more."""
        quote_left = order.remaining_quote
        if quote_left is None:
            return False
        affordable = instrument.round_size(quote_left / (terms.price * (1 + terms.rate)))
        return affordable < instrument.min_size

    def _order(self, order_id: str) -> Order:
        try:
            return self._orders[order_id]
        except KeyError:
            raise InvalidOrderError(f"unknown order id {order_id!r}") from None
