"""The ledger: an append-only list of money events from which every balance is derived.

Nothing here is stored twice. Cash, positions, average cost, realised P&L, fees and round
trips are folded from the events as they arrive, and `Ledger.replay` folds the same events
again to prove it: the state after a replay equals the state that was built live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from coinswarm.domain.errors import InvalidOrderError, UnknownMarkError
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.position import Position, RoundTrip

__all__ = ["Deposit", "Ledger", "LedgerEvent", "LedgerState", "Valuation"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Deposit:
    """Cash moved into (positive) or out of (negative) the account from outside."""

    currency: str
    amount: Decimal
    ts: int
    reference: str = ""


LedgerEvent = Deposit | Fill


@dataclass(frozen=True, slots=True)
class LedgerState:
    """Everything derived from the events, as one comparable value."""

    cash: tuple[tuple[str, Decimal], ...]
    positions: tuple[Position, ...]
    fees: tuple[tuple[str, Decimal], ...]
    round_trips: tuple[RoundTrip, ...]
    event_count: int


@dataclass(frozen=True, slots=True)
class Valuation:
    """The account marked to market at one moment, with the drawdown from the peak so far."""

    equity: Decimal
    unrealised_pnl: Decimal
    peak: Decimal
    drawdown: Decimal  # fraction below the peak, 0 at a new high


@dataclass(slots=True)
class _OpenTrip:
    entry_ts: int
    sign: int
    entry_quantity: Decimal = ZERO
    entry_notional: Decimal = ZERO
    exit_quantity: Decimal = ZERO
    exit_notional: Decimal = ZERO
    realised: Decimal = ZERO
    fees: Decimal = ZERO


class Ledger:
    """The account's money, derived from deposits and fills in the order they happened."""

    def __init__(self, instruments: Mapping[str, Instrument], account_currency: str) -> None:
        self._instruments = dict(instruments)
        self.account_currency = account_currency
        self._events: list[LedgerEvent] = []
        self._fills_by_trade: dict[str, Fill] = {}
        self._cash: dict[str, Decimal] = {}
        self._fees: dict[str, Decimal] = {}
        self._positions: dict[str, Position] = {}
        self._open_trips: dict[str, _OpenTrip] = {}
        self._round_trips: list[RoundTrip] = []
        self._peak = ZERO
        for instrument in self._instruments.values():
            if instrument.quote != account_currency:
                msg = (
                    f"instrument {instrument.symbol} is quoted in {instrument.quote}; this "
                    f"ledger values everything in {account_currency}"
                )
                raise InvalidOrderError(msg)

    @classmethod
    def replay(
        cls,
        events: Iterable[LedgerEvent],
        instruments: Mapping[str, Instrument],
        account_currency: str,
    ) -> Ledger:
        """Rebuild a ledger by folding `events` again from nothing."""
        ledger = cls(instruments, account_currency)
        for event in events:
            if isinstance(event, Deposit):
                ledger.deposit(event.currency, event.amount, event.ts, event.reference)
            else:
                ledger.record(event)
        return ledger

    # -- appending --------------------------------------------------------------------------

    def deposit(self, currency: str, amount: Decimal, ts: int, reference: str = "") -> None:
        """Append a deposit (or, negative, a withdrawal) of cash."""
        event = Deposit(currency, amount, ts, reference)
        self._events.append(event)
        self._cash[currency] = self._cash.get(currency, ZERO) + amount

    def record(self, fill: Fill) -> bool:
        """Append `fill`, rounded to its instrument's increments; return False for a repeat.

        The same trade seen twice (from a websocket and from REST, say) is one ledger row. The
        same trade id with different contents is a contradiction and is refused.
        """
        fill = self._rounded(fill)
        seen = self._fills_by_trade.get(fill.trade_id)
        if seen is not None:
            if seen != fill:
                msg = f"trade {fill.trade_id} arrived twice with different contents"
                raise InvalidOrderError(msg)
            return False
        self._fills_by_trade[fill.trade_id] = fill
        self._events.append(fill)
        self._apply(fill)
        return True

    def _rounded(self, fill: Fill) -> Fill:
        instrument = self._instrument(fill.instrument)
        quantity = instrument.round_size(fill.quantity)
        price = fill.price.quantize(instrument.price_increment)
        if quantity <= 0 or price <= 0 or fill.fee < 0:
            msg = (
                f"fill {fill.trade_id}: expected positive quantity and price and a fee of zero "
                f"or more, found {fill.quantity} at {fill.price} with fee {fill.fee}"
            )
            raise InvalidOrderError(msg)
        if quantity == fill.quantity and price == fill.price:
            return fill
        return replace(fill, quantity=quantity, price=price)

    def _instrument(self, symbol: str) -> Instrument:
        try:
            return self._instruments[symbol]
        except KeyError:
            msg = f"no instrument {symbol!r} in this ledger"
            raise InvalidOrderError(msg) from None

    def _apply(self, fill: Fill) -> None:
        instrument = self._instruments[fill.instrument]
        signed = fill.quantity * fill.side.sign
        self._cash[instrument.quote] = self._cash.get(instrument.quote, ZERO) - signed * fill.price
        self._fees[fill.fee_currency] = self._fees.get(fill.fee_currency, ZERO) + fill.fee
        fee_in_quote = fill.fee
        if fill.fee_currency == instrument.quote:
            self._cash[instrument.quote] -= fill.fee
        elif fill.fee_currency == instrument.base:
            # The exchange kept part of what we bought: the position shrinks, cash does not.
            signed -= fill.fee
            fee_in_quote = fill.fee * fill.price
        else:
            # Paid in a third coin (BNB, say): it leaves that coin's balance and is counted in
            # its own currency; with no price for that coin, positions and round trips (kept
            # in the quote currency) do not mix its units into theirs.
            self._cash[fill.fee_currency] = self._cash.get(fill.fee_currency, ZERO) - fill.fee
            fee_in_quote = ZERO
        self._move_position(fill, signed, fee_in_quote)

    def _move_position(self, fill: Fill, signed: Decimal, fee: Decimal) -> None:
        old = self._positions.get(fill.instrument) or Position(fill.instrument)
        if not signed:
            self._positions[fill.instrument] = replace(old, fees=old.fees + fee)
            return
        quantity, cost, realised = old.quantity, old.average_cost, old.realised_pnl
        closing = ZERO
        if quantity and (quantity > 0) != (signed > 0):
            closing = min(abs(signed), abs(quantity))
        opening = abs(signed) - closing
        sign = 1 if signed > 0 else -1
        if closing:
            gain = (fill.price - cost) * closing * (1 if quantity > 0 else -1)
            realised += gain
            self._close_part(fill, closing, gain, fee * closing / abs(signed))
            quantity += closing * sign
            if quantity == 0:
                cost = ZERO
        if opening:
            new_quantity = quantity + opening * sign
            cost = (cost * abs(quantity) + fill.price * opening) / abs(new_quantity)
            quantity = new_quantity
            self._open_part(fill, opening, sign, fee * opening / abs(signed))
        self._positions[fill.instrument] = Position(
            fill.instrument, quantity, cost, realised, old.fees + fee
        )

    def _open_part(self, fill: Fill, quantity: Decimal, sign: int, fee: Decimal) -> None:
        trip = self._open_trips.get(fill.instrument)
        if trip is None:
            trip = self._open_trips[fill.instrument] = _OpenTrip(fill.ts, sign)
        trip.entry_quantity += quantity
        trip.entry_notional += quantity * fill.price
        trip.fees += fee

    def _close_part(self, fill: Fill, quantity: Decimal, gain: Decimal, fee: Decimal) -> None:
        trip = self._open_trips[fill.instrument]
        trip.exit_quantity += quantity
        trip.exit_notional += quantity * fill.price
        trip.realised += gain
        trip.fees += fee
        if trip.exit_quantity < trip.entry_quantity:
            return
        del self._open_trips[fill.instrument]
        self._round_trips.append(
            RoundTrip(
                instrument=fill.instrument,
                entry_ts=trip.entry_ts,
                exit_ts=fill.ts,
                quantity=trip.entry_quantity * trip.sign,
                entry_price=trip.entry_notional / trip.entry_quantity,
                exit_price=trip.exit_notional / trip.exit_quantity,
                pnl=trip.realised - trip.fees,
                fees=trip.fees,
            )
        )

    # -- deriving ---------------------------------------------------------------------------

    @property
    def events(self) -> tuple[LedgerEvent, ...]:
        return tuple(self._events)

    @property
    def fills(self) -> tuple[Fill, ...]:
        return tuple(e for e in self._events if isinstance(e, Fill))

    def cash(self, currency: str | None = None) -> Decimal:
        """Return the cash held in `currency` (the account currency by default)."""
        return self._cash.get(currency or self.account_currency, ZERO)

    def position(self, instrument: str) -> Position:
        return self._positions.get(instrument) or Position(instrument)

    @property
    def positions(self) -> dict[str, Position]:
        """Return the open positions, by instrument."""
        return {k: p for k, p in self._positions.items() if not p.is_flat}

    def fees_paid(self, currency: str | None = None) -> Decimal:
        return self._fees.get(currency or self.account_currency, ZERO)

    @property
    def realised_pnl(self) -> Decimal:
        """Return realised gains before fees, over every instrument."""
        return sum((p.realised_pnl for p in self._positions.values()), ZERO)

    @property
    def round_trips(self) -> tuple[RoundTrip, ...]:
        return tuple(self._round_trips)

    def unrealised_pnl(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Return the open positions' gains at `marks`; refuse a position without a mark."""
        return sum((p.unrealised_pnl(_mark(marks, p)) for p in self.positions.values()), ZERO)

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Return cash plus the value of every open position at `marks`.

        A position whose instrument has no mark is refused (`UnknownMarkError`): valuing it
        at nothing would show a loss that is not there, and stops would act on it.
        """
        return self.cash() + sum((p.value(_mark(marks, p)) for p in self.positions.values()), ZERO)

    def mark(self, marks: Mapping[str, Decimal]) -> Valuation:
        """Value the account at `marks` and move the high-water mark used for drawdown."""
        equity = self.equity(marks)
        self._peak = max(self._peak, equity)
        drawdown = (self._peak - equity) / self._peak if self._peak > 0 else ZERO
        return Valuation(equity, self.unrealised_pnl(marks), self._peak, drawdown)

    def state(self) -> LedgerState:
        """Return the derived state as one value, for comparisons and snapshots."""
        return LedgerState(
            cash=tuple(sorted(self._cash.items())),
            positions=tuple(self._positions[k] for k in sorted(self._positions)),
            fees=tuple(sorted(self._fees.items())),
            round_trips=tuple(self._round_trips),
            event_count=len(self._events),
        )


def _mark(marks: Mapping[str, Decimal], position: Position) -> Decimal:
    try:
        return marks[position.instrument]
    except KeyError:
        msg = (
            f"no mark for {position.instrument}: a position of {position.quantity} is held "
            f"but no price is known for it yet (marks known: {sorted(marks) or 'none'})"
        )
        raise UnknownMarkError(msg) from None
