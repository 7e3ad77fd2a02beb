"""One run's day, folded from its ledger: the state at the day's start and end, and between.

The ledger is the truth (ARCHITECTURE.md, rule 3): the day's figures are differences of the
ledger's own derived values, taken by folding the run's stored events (deposits and fills) up
to the day's start and then on to its end. Nothing is recomputed another way, so the report
agrees with the ledger to the last digit. Equity needs prices, which the ledger has not:
`marks_at(t)` gives them (bar closes or the run's own fill prices, see `_marks.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument, instrument_from_symbol
from coinswarm.domain.ledger import Deposit, Ledger, LedgerEvent
from coinswarm.domain.position import Position

__all__ = ["DayFigures", "HeldPosition", "fold_day"]

ZERO = Decimal(0)
# Stored fills were rounded to their exchange's increments when they were booked: folding
# them again must round nothing more, so the instruments here have increments finer than any.
_FINE = Decimal("1e-12")

MarksAt = Callable[[int], Mapping[str, Decimal]]


@dataclass(frozen=True, slots=True)
class HeldPosition:
    """A position open at the day's end, valued at the end's mark (None: no price known)."""

    instrument: str
    quantity: Decimal
    average_cost: Decimal
    mark: Decimal | None
    unrealised_pnl: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class DayFigures:
    """What the ledger says of one run over one day; money in the account's currency."""

    currency: str
    equity_start: Decimal
    equity_end: Decimal
    lowest_equity: Decimal
    """The lowest equity at any mark of the day, less the deposits made by then."""
    realised_pnl: Decimal
    """Realised gains of the day, before fees (the ledger's realised P&L, end less start)."""
    fees: Mapping[str, Decimal]
    """Fees of the day by currency (end less start)."""
    unrealised_start: Decimal
    unrealised_end: Decimal
    deposits: Decimal
    """Cash moved in (or out, negative) during the day, in the account's currency."""
    positions: tuple[HeldPosition, ...]
    curve: tuple[tuple[int, Decimal], ...]
    """Equity at each mark of the day, from its start to its end."""
    unpriced: tuple[str, ...]
    """Instruments held without any price before some mark: valued at their cost there."""

    @property
    def fee_total(self) -> Decimal:
        """Return the day's fees in the account's currency."""
        return self.fees.get(self.currency, ZERO)

    @property
    def net_pnl(self) -> Decimal:
        """Return the day's change in equity not due to deposits (fees, marks, everything)."""
        return self.equity_end - self.equity_start - self.deposits

    @property
    def worst_loss(self) -> Decimal:
        """Return the deepest fall below the day's start equity, zero if none."""
        return max(self.equity_start - self.lowest_equity, ZERO)


def _instruments(events: Iterable[LedgerEvent]) -> dict[str, Instrument]:
    symbols = sorted({e.instrument for e in events if isinstance(e, Fill)})
    return {
        s: instrument_from_symbol(s, price_increment=_FINE, size_increment=_FINE, min_size=ZERO)
        for s in symbols
    }


def account_currency(events: Sequence[LedgerEvent]) -> str | None:
    """Return the currency of the account's first deposit, else the quote of its first fill."""
    for event in events:
        if isinstance(event, Deposit):
            return event.currency
    for event in events:
        if isinstance(event, Fill):
            return event.instrument.partition("-")[2] or None
    return None


class _Walk:
    """A ledger folded forward in time, valued at marks on the way."""

    def __init__(self, events: Sequence[LedgerEvent], currency: str, marks_at: MarksAt) -> None:
        # In time order; events of one time keep the ledger's order (a stable sort).
        self._events = sorted(events, key=lambda e: e.ts)
        self._next = 0
        self.ledger = Ledger(_instruments(events), currency)
        self._marks_at = marks_at
        self.unpriced: set[str] = set()

    def advance(self, before: int) -> list[LedgerEvent]:
        """Fold every event stamped before `before`; return them."""
        folded = []
        while self._next < len(self._events) and self._events[self._next].ts < before:
            event = self._events[self._next]
            if isinstance(event, Deposit):
                self.ledger.deposit(event.currency, event.amount, event.ts, event.reference)
            else:
                self.ledger.record(event)
            folded.append(event)
            self._next += 1
        return folded

    def marks(self, ts: int) -> dict[str, Decimal]:
        """Return a price for every open position at `ts`: its mark, or else its cost."""
        known = dict(self._marks_at(ts))
        for symbol, position in self.ledger.positions.items():
            if symbol not in known:
                self.unpriced.add(symbol)
                known[symbol] = position.average_cost
        return known

    def value(self, ts: int) -> tuple[Decimal, Decimal]:
        """Return equity and unrealised P&L at `ts`."""
        marks = self.marks(ts)  # prices every position: equity never meets an unknown mark
        return self.ledger.equity(marks), self.ledger.unrealised_pnl(marks)

    def fees(self) -> dict[str, Decimal]:
        return dict(self.ledger.state().fees)


def _held(position: Position, mark: Decimal | None) -> HeldPosition:
    unrealised = ZERO if mark is None else position.unrealised_pnl(mark)
    return HeldPosition(
        position.instrument, position.quantity, position.average_cost, mark, unrealised
    )


def fold_day(
    events: Sequence[LedgerEvent],
    *,
    start: int,
    end: int,
    marks_at: MarksAt,
    points: Iterable[int] = (),
) -> DayFigures | None:
    """Return the day [start, end) of a run whose ledger events are `events`.

    `points` are the times inside the day to value the account at besides its start and end
    (bar closes, fills); the lowest of those values is the day's worst. None for a run with no
    events before the day's end (it had no account yet).
    """
    currency = account_currency(events)
    if currency is None or not any(e.ts < end for e in events):
        return None
    walk = _Walk(events, currency, marks_at)
    walk.advance(start)
    realised_start, fees_start = walk.ledger.realised_pnl, walk.fees()
    equity_start, unrealised_start = walk.value(start)
    lowest, deposits = equity_start, ZERO
    curve = [(start, equity_start)]
    for ts in sorted({p for p in points if start < p < end} | {end}):
        for event in walk.advance(ts):
            if isinstance(event, Deposit) and event.currency == currency:
                deposits += event.amount
        equity, _ = walk.value(ts)
        curve.append((ts, equity))
        lowest = min(lowest, equity - deposits)
    equity_end, unrealised_end = walk.value(end)
    fees_end = walk.fees()
    end_marks = dict(marks_at(end))
    return DayFigures(
        currency=currency,
        equity_start=equity_start,
        equity_end=equity_end,
        lowest_equity=lowest,
        realised_pnl=walk.ledger.realised_pnl - realised_start,
        fees={
            name: amount - fees_start.get(name, ZERO)
            for name, amount in sorted(fees_end.items())
            if amount != fees_start.get(name, ZERO)
        },
        unrealised_start=unrealised_start,
        unrealised_end=unrealised_end,
        deposits=deposits,
        positions=tuple(
            _held(position, end_marks.get(symbol))
            for symbol, position in sorted(walk.ledger.positions.items())
        ),
        curve=tuple(curve),
        unpriced=tuple(sorted(walk.unpriced)),
    )
