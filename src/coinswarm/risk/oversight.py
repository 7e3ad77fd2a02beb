"""The oversight manager: hard limits between the orchestrator and the exchange.

It approves an order as it is, shrinks it, or rejects it, and always says why in words a
person can read. It never enlarges an order: a shrunk order is a new request with a smaller
`quantity` or `quote_quantity` and every other field unchanged.

Conventions:

- An order is valued at its limit price (LIMIT, STOP_LIMIT), at the higher of its stop price
  and `price` (STOP), or at `price` (MARKET). The position it adds to is valued at the same
  price, so the position limit reads "the position after this order, at this order's price".
- A quote-sized market buy spends `quote_quantity` including fees, so it buys
  `quote_quantity / (price * (1 + fee_rate))` base units.
- An order that only moves a position towards zero (a sell of at most a long, a buy of at most
  a short) is an exit: no loss stop, trade count, instrument list or position limit refuses
  it, because a stopped account must still be able to flatten. A buy is always held to the
  cash in the account, exits included.
- Orders approved but not yet filled (`AccountSnapshot.pending`) count toward every limit they
  could breach, as if they had filled: pending orders on the same instrument and in the same
  direction add to the position the limit sees; the cost of every pending buy (fees included)
  is taken off the cash; an instrument with a pending order that adds exposure counts as an
  open position for the concurrent-positions limit; orders sent count toward the trades of
  the day from the moment they are sent. Pending sells never make room: they may not fill.
  Whether an order is an exit is judged on the filled position alone, so that a pending exit
  (a trim, a stop's flattening) never turns the next exit into new exposure; the exchange
  holds the coins a resting sell may sell, so two exits cannot sell more than is held.
- Shrunk sizes are rounded down to `quantum`; a size that rounds to zero is rejected. The
  execution agent later rounds to the instrument's increments, downwards too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from coinswarm.domain.order import OrderRequest, OrderSide, OrderType
from coinswarm.risk.account import AccountSnapshot
from coinswarm.risk.errors import RiskInputError
from coinswarm.risk.profiles import RiskProfile

__all__ = ["OversightDecision", "OversightManager", "Verdict"]

ZERO = Decimal(0)
ONE = Decimal(1)


class Verdict(StrEnum):
    APPROVED = "APPROVED"
    SHRUNK = "SHRUNK"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True, kw_only=True)
class OversightDecision:
    """What the oversight manager made of one request, and why.

    `request` is the order to send on (the original when approved, a smaller copy when
    shrunk) or None when rejected.
    """

    verdict: Verdict
    original: OrderRequest
    request: OrderRequest | None
    reason: str

    @property
    def approved(self) -> bool:
        """Return True when an order (as is or shrunk) may go on to the exchange."""
        return self.request is not None


@dataclass(frozen=True, slots=True)
class _Cap:
    """The largest size, in the request's own unit, that one limit lets through."""

    size: Decimal
    note: str


@dataclass(frozen=True, slots=True)
class _Context:
    """One review's facts, worked out once."""

    request: OrderRequest
    account: AccountSnapshot
    price: Decimal  # the price the order is valued at
    base_quantity: Decimal  # base units the order would trade
    position: Decimal  # signed base position before the order
    pending: Decimal  # base units pending on the instrument in the order's direction
    committed: Decimal  # cash promised to pending buys, fees included
    engaged: frozenset[str]  # instruments with a position or a pending order adding exposure

    @property
    def sign(self) -> int:
        return self.request.side.sign

    @property
    def size(self) -> Decimal:
        request = self.request
        return request.quantity if request.quantity is not None else request.quote_quantity or ZERO

    @property
    def is_exit(self) -> bool:
        """Return True when the order moves the position towards zero without crossing it."""
        return self.sign * self.position < 0 and self.base_quantity <= abs(self.position)


class OversightManager:
    """Judge each request against one risk profile: approve, shrink or reject."""

    def __init__(
        self,
        profile: RiskProfile,
        *,
        fee_rate: Decimal = Decimal("0.006"),
        quantum: Decimal = Decimal("0.00000001"),
    ) -> None:
        if not fee_rate.is_finite() or not ZERO <= fee_rate < ONE:
            msg = f"fee_rate must be a fraction in [0, 1), found {fee_rate}"
            raise RiskInputError(msg)
        if not quantum.is_finite() or quantum <= 0:
            msg = f"quantum must be a positive size step, found {quantum}"
            raise RiskInputError(msg)
        self.profile = profile
        self._fee_factor = ONE + fee_rate
        self._quantum = quantum

    def review(
        self, request: OrderRequest, account: AccountSnapshot, *, price: Decimal
    ) -> OversightDecision:
        """Approve, shrink or reject `request` given `account` and the market `price`."""
        context = self._context(request, account, price)
        if not context.is_exit:
            for refusal in self._refusals():
                reason = refusal(context)
                if reason is not None:
                    return _decision(Verdict.REJECTED, request, None, reason)
        caps = self._caps(context)
        binding = [cap for cap in caps if cap.size < context.size]
        if not binding:
            return _decision(Verdict.APPROVED, request, request, self._approval_note(context))
        return self._shrink(context, binding)

    def _context(self, request: OrderRequest, account: AccountSnapshot, price: Decimal) -> _Context:
        _require_positive("price", price)
        if not account.equity.is_finite() or not account.cash.is_finite():
            msg = f"account equity and cash must be finite, found {account.equity}, {account.cash}"
            raise RiskInputError(msg)
        value_price = _valuation_price(request, price)
        if request.quantity is not None:
            base = request.quantity
        else:
            base = (request.quote_quantity or ZERO) / (value_price * self._fee_factor)
        position = account.positions.get(request.instrument, ZERO)
        pending = _Pending.of(account, self._fee_factor)
        return _Context(
            request,
            account,
            value_price,
            base,
            position,
            pending.quantity.get((request.instrument, request.side), ZERO),
            pending.committed,
            pending.engaged,
        )

    def _refusals(self) -> tuple[Callable[[_Context], str | None], ...]:
        return (
            self._instrument_refusal,
            _equity_refusal,
            self._total_loss_refusal,
            self._daily_loss_refusal,
            self._trade_count_refusal,
            self._concurrency_refusal,
        )

    def _instrument_refusal(self, context: _Context) -> str | None:
        instrument = context.request.instrument
        if self.profile.allows_instrument(instrument):
            return None
        allowed = ", ".join(sorted(self.profile.allowed_instruments or ()))
        return (
            f"instrument: {instrument} is not allowed in phase {self.profile.phase} "
            f"({self.profile.name}); allowed: {allowed}"
        )

    def _total_loss_refusal(self, context: _Context) -> str | None:
        account = context.account
        floor = account.peak_equity * (ONE - self.profile.max_total_loss_fraction)
        if account.equity > floor:
            return None
        fall = ONE - account.equity / account.peak_equity
        return (
            f"total loss: equity {account.equity} is {_pct(fall)} below the peak "
            f"{account.peak_equity}, max {_limit(self.profile.max_total_loss_fraction)}; "
            f"only exits are allowed"
        )

    def _daily_loss_refusal(self, context: _Context) -> str | None:
        account = context.account
        floor = account.day_start_equity * (ONE - self.profile.max_daily_loss_fraction)
        if account.equity > floor:
            return None
        fall = ONE - account.equity / account.day_start_equity
        return (
            f"daily loss: equity {account.equity} is {_pct(fall)} below the day's start "
            f"{account.day_start_equity}, max {_limit(self.profile.max_daily_loss_fraction)}; "
            f"only exits are allowed until the next UTC day"
        )

    def _trade_count_refusal(self, context: _Context) -> str | None:
        limit = self.profile.max_trades_per_day
        sent = context.account.trades_today
        if limit is None or sent < limit:
            return None
        return f"trade count: {sent} orders sent today, max {limit}; only exits are allowed"

    def _concurrency_refusal(self, context: _Context) -> str | None:
        limit = self.profile.max_concurrent_positions
        held = len(context.engaged)
        if limit is None or context.request.instrument in context.engaged or held < limit:
            return None
        return (
            f"concurrent positions: {held} open or pending, max {limit}; "
            f"{context.request.instrument} would open another"
        )

    def _caps(self, context: _Context) -> list[_Cap]:
        caps = []
        if not context.is_exit:
            caps.append(self._position_cap(context))
        if context.request.side is OrderSide.BUY:
            caps.append(self._cash_cap(context))
        return caps

    def _position_cap(self, context: _Context) -> _Cap:
        account, price = context.account, context.price
        limit_value = self.profile.max_position_fraction * account.equity
        # What the order may add in its own direction, after what is pending in that direction;
        # for a crossing order this includes closing the opposite position first.
        already = context.sign * context.position + context.pending
        room_value = limit_value - already * price
        if context.request.quote_quantity is not None:
            size = self._floor(room_value * self._fee_factor)
        else:
            size = self._floor(room_value / price)
            if (already + size) * price > limit_value:
                size -= self._quantum  # undo a division that rounded up
        after = abs(already + context.base_quantity) * price
        with_pending = " with its pending orders" if context.pending else ""
        note = (
            f"position limit: {context.request.instrument} would be "
            f"{_pct(after / account.equity)} of equity{with_pending}, "
            f"max {_limit(self.profile.max_position_fraction)}"
        )
        return _Cap(max(size, ZERO), note)

    def _cash_cap(self, context: _Context) -> _Cap:
        cash, price = context.account.cash - context.committed, context.price
        if context.request.quote_quantity is not None:
            size = self._floor(cash)
            cost = context.request.quote_quantity
        else:
            size = self._floor(cash / (price * self._fee_factor))
            if size * price * self._fee_factor > cash:
                size -= self._quantum  # undo a division that rounded up
            cost = context.base_quantity * price * self._fee_factor
        note = f"cash: the buy would cost {_money(cost)} with fees, cash is {_money(cash)}"
        if context.committed:
            note += f" after {_money(context.committed)} promised to pending buys"
        return _Cap(max(size, ZERO), note)

    def _shrink(self, context: _Context, binding: list[_Cap]) -> OversightDecision:
        request = context.request
        # Trailing zeros from rounding to the quantum say nothing; drop them for the reader.
        size = Decimal(_trim(min(cap.size for cap in binding)))
        notes = "; ".join(cap.note for cap in binding)
        if size <= 0:
            return _decision(Verdict.REJECTED, request, None, f"{notes}; no room left")
        if request.quantity is not None:
            smaller = replace(request, quantity=size)
        else:
            smaller = replace(request, quote_quantity=size)
        reason = f"{notes}; shrunk {context.size} -> {size}"
        return _decision(Verdict.SHRUNK, request, smaller, reason)

    def _approval_note(self, context: _Context) -> str:
        if context.is_exit:
            after = context.position + context.sign * context.base_quantity
            return (
                f"exit: {context.request.instrument} position {context.position} -> "
                f"{_trim(after)}; exits are always allowed"
            )
        after = abs(context.position + context.sign * context.base_quantity) * context.price
        return (
            f"within limits: {context.request.instrument} would be "
            f"{_pct(after / context.account.equity)} of equity, "
            f"max {_limit(self.profile.max_position_fraction)}"
        )

    def _floor(self, value: Decimal) -> Decimal:
        return value.quantize(self._quantum, rounding=ROUND_FLOOR)


@dataclass(frozen=True, slots=True)
class _Pending:
    """What the orders still pending would do if they filled, as the limits count it."""

    quantity: dict[tuple[str, OrderSide], Decimal]  # base units by instrument and side
    committed: Decimal  # cash the pending buys would spend, fees included
    engaged: frozenset[str]

    @staticmethod
    def of(account: AccountSnapshot, fee_factor: Decimal) -> _Pending:
        quantity: dict[tuple[str, OrderSide], Decimal] = {}
        committed = ZERO
        engaged = {s for s, held in account.positions.items() if held}
        for request in account.pending:
            # An instrument no bar has priced yet has no market orders: none could be placed.
            price = _valuation_price(request, account.marks.get(request.instrument, ZERO))
            if request.quantity is not None:
                base = request.quantity
                cost = base * price * fee_factor
            else:
                cost = request.quote_quantity or ZERO
                base = cost / (price * fee_factor) if price else ZERO
            key = (request.instrument, request.side)
            quantity[key] = quantity.get(key, ZERO) + base
            if request.side is OrderSide.BUY:
                committed += cost
            if request.side.sign * account.positions.get(request.instrument, ZERO) >= 0:
                engaged.add(request.instrument)
        return _Pending(quantity, committed, frozenset(engaged))


def _equity_refusal(context: _Context) -> str | None:
    equity = context.account.equity
    if equity > 0:
        return None
    return f"account: equity is {equity}, no room for new exposure; only exits are allowed"


def _valuation_price(request: OrderRequest, price: Decimal) -> Decimal:
    if request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and request.limit_price:
        return request.limit_price
    if request.type is OrderType.STOP and request.stop_price:
        return max(request.stop_price, price)
    return price


def _decision(
    verdict: Verdict, original: OrderRequest, request: OrderRequest | None, reason: str
) -> OversightDecision:
    return OversightDecision(verdict=verdict, original=original, request=request, reason=reason)


def _require_positive(name: str, value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        msg = f"{name} must be a positive finite Decimal, found {value}"
        raise RiskInputError(msg)


def _pct(fraction: Decimal) -> str:
    return f"{fraction * 100:.1f}%"


def _limit(fraction: Decimal) -> str:
    return f"{_trim(fraction * 100)}%"


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _trim(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
