"""What the risk layer knows about the account when it judges an order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from coinswarm.domain.order import Order, OrderRequest

__all__ = ["AccountSnapshot", "AccountTracker", "pending_requests"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSnapshot:
    """The account at one moment, in the quote currency, as the ledger derives it.

    `day_start_equity` is the equity at the first mark of the current UTC day;
    `peak_equity` the highest equity marked so far; `trades_today` counts orders sent since
    the start of the UTC day; `open_positions` counts instruments with a non-zero position.
    `pending` holds what the orders that can still fill have left to trade, one request per
    order (sized to what remains), so that the limits count what is approved but not filled.
    """

    ts: int
    equity: Decimal
    cash: Decimal
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    marks: Mapping[str, Decimal] = field(default_factory=dict)
    day_start_equity: Decimal
    peak_equity: Decimal
    initial_equity: Decimal
    trades_today: int = 0
    pending: tuple[OrderRequest, ...] = ()

    @property
    def open_orders(self) -> int:
        return len(self.pending)

    @property
    def open_positions(self) -> int:
        return sum(1 for quantity in self.positions.values() if quantity)

    def position_value(self, instrument: str) -> Decimal:
        return self.positions.get(instrument, Decimal(0)) * self.marks.get(instrument, Decimal(0))


NS_PER_DAY = 86_400 * 1_000_000_000


class AccountTracker:
    """Follow the account's equity through time: the start of each UTC day, the peak, and the
    orders sent today; `snapshot` turns that into what the risk layer judges."""

    __slots__ = ("_day", "_day_start", "_initial", "_peak", "_trades_today")

    def __init__(self, initial_equity: Decimal) -> None:
        self._initial = initial_equity
        self._peak = initial_equity
        self._day = -1
        self._day_start = initial_equity
        self._trades_today = 0

    def mark(self, ts: int, equity: Decimal) -> None:
        """Record the equity marked at `ts`; the first mark of a UTC day opens that day."""
        day = ts // NS_PER_DAY
        if day > self._day:  # days only move forward: a clock that jumps back reopens nothing
            self._day = day
            self._day_start = equity
            self._trades_today = 0
        self._peak = max(self._peak, equity)

    def rebase_peak(self, equity: Decimal) -> None:
        """Start the drawdown again from `equity`, as a person's reset of a total-loss stop does."""
        self._peak = equity

    def count_order(self) -> None:
        """Count one order sent today."""
        self._trades_today += 1

    def snapshot(
        self,
        *,
        ts: int,
        equity: Decimal,
        cash: Decimal,
        positions: Mapping[str, Decimal],
        marks: Mapping[str, Decimal],
        pending: tuple[OrderRequest, ...] = (),
    ) -> AccountSnapshot:
        self.mark(ts, equity)
        return AccountSnapshot(
            ts=ts,
            equity=equity,
            cash=cash,
            positions=positions,
            marks=marks,
            day_start_equity=self._day_start,
            peak_equity=self._peak,
            initial_equity=self._initial,
            trades_today=self._trades_today,
            pending=pending,
        )


def pending_requests(orders: Iterable[Order]) -> tuple[OrderRequest, ...]:
    """Return, for each order that can still fill, its request sized to what is left of it.

    An order still NEW counts: it may be an order whose placing answer was lost, which the
    exchange may well hold.
    """
    left = []
    for order in orders:
        if order.status.is_terminal:
            continue
        quantity, quote = order.remaining_quantity, order.remaining_quote
        if quantity is not None and quantity > 0:
            left.append(replace(order.request, quantity=quantity))
        elif quote is not None and quote > 0:
            left.append(replace(order.request, quote_quantity=quote))
    return tuple(left)
