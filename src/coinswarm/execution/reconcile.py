"""Reconciliation: compare our record (ledger and known orders) with what an exchange reports.

The exchange is the authority on what happened there; our ledger is the authority on what we
believe. A run reads the exchange (open orders, every fill, balances), then settles what it can
explain on its own and flags what it cannot:

- a fill the exchange has and we lack is back-filled into the ledger (by `trade_id`, so a
  second run records nothing twice);
- a fill we have and the exchange lacks, or one whose contents differ, halts trading;
- an exchange order we do not know is confirmed by a targeted `get_order`; it is adopted only
  if its client order id is one of ours, otherwise it halts trading (someone else trades here);
- a local live order that the exchange no longer has open gets its real state from the
  exchange (cancelled or filled there); one the exchange does not know at all halts trading;
- a balance above ours beyond the tolerance is an outside deposit and is journalled as one; a
  balance below ours beyond it is an unexplained shortfall and halts trading.

Reconciliation never places an order to fix anything. Trading must pause while a halting
difference stands: `Reconciler.paused` holds from the first report that has one until a person
clears it, even if a later run no longer sees the cause (a foreign order that has since filled
is still something a person must look at).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from coinswarm.domain.clock import Clock
from coinswarm.domain.errors import CoinswarmError, InvalidOrderError
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.domain.order import Order, OrderStatus
from coinswarm.exchanges.base import ExchangeAdapter

__all__ = [
    "AccountHistory",
    "Difference",
    "DifferenceKind",
    "ExchangeView",
    "ReconcileSettings",
    "Reconciler",
    "ReconciliationReport",
    "expected_balances",
    "read_exchange",
    "reconcile",
]

ZERO = Decimal(0)
Monotonic = Callable[[], float]


class DifferenceKind(StrEnum):
    """What kind of disagreement a run found, and so what it did about it."""

    MISSING_LOCAL_FILL = "MISSING_LOCAL_FILL"  # back-filled
    UNKNOWN_FILL = "UNKNOWN_FILL"  # ours only: halts
    CONFLICTING_FILL = "CONFLICTING_FILL"  # same trade id, other contents: halts
    ADOPTED_ORDER = "ADOPTED_ORDER"  # confirmed and ours: adopted
    FOREIGN_ORDER = "FOREIGN_ORDER"  # not ours, or not confirmed: halts
    CLOSED_AT_EXCHANGE = "CLOSED_AT_EXCHANGE"  # our live order ended there: recorded
    ORDER_UNKNOWN_TO_EXCHANGE = "ORDER_UNKNOWN_TO_EXCHANGE"  # halts
    OUTSIDE_DEPOSIT = "OUTSIDE_DEPOSIT"  # journalled as a deposit
    BALANCE_SHORTFALL = "BALANCE_SHORTFALL"  # halts
    BALANCE_UNSETTLED = "BALANCE_UNSETTLED"  # a balance gap beside a halting fill: halts
    EXCHANGE_UNREADABLE = "EXCHANGE_UNREADABLE"  # the exchange could not be read: halts


_HALTING = frozenset(
    {
        DifferenceKind.UNKNOWN_FILL,
        DifferenceKind.CONFLICTING_FILL,
        DifferenceKind.FOREIGN_ORDER,
        DifferenceKind.ORDER_UNKNOWN_TO_EXCHANGE,
        DifferenceKind.BALANCE_SHORTFALL,
        DifferenceKind.BALANCE_UNSETTLED,
        DifferenceKind.EXCHANGE_UNREADABLE,
    }
)


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement: its kind, what it is about (a trade, order or currency id), one line."""

    kind: DifferenceKind
    subject: str
    line: str

    @property
    def halts(self) -> bool:
        """Return True when trading must pause until a person resolves this difference."""
        return self.kind in _HALTING


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """What one run found and what it changed in our record; never an order sent."""

    ts: int
    differences: tuple[Difference, ...] = ()
    backfilled: tuple[Fill, ...] = ()
    adopted: tuple[Order, ...] = ()
    updated: tuple[Order, ...] = ()
    # Confirmed orders that are not ours: never traded on, but the record of any fill of theirs
    # the ledger books (it must equal the exchange's, whoever traded).
    foreign: tuple[Order, ...] = ()
    deposits: tuple[Deposit, ...] = ()

    @property
    def trading_paused(self) -> bool:
        """Return True when any difference is one reconciliation cannot settle by itself."""
        return any(d.halts for d in self.differences)

    @property
    def pause_reason(self) -> str:
        """Return why trading pauses, one clause per halting difference; empty when it need not."""
        return "; ".join(d.line for d in self.differences if d.halts)

    @property
    def clean(self) -> bool:
        """Return True when the exchange and our record agreed without any change."""
        return not self.differences

    def lines(self) -> tuple[str, ...]:
        """Return one human line per difference, halting ones marked."""
        return tuple(f"{'HALT ' if d.halts else ''}{d.kind}: {d.line}" for d in self.differences)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileSettings:
    """How often to run, how close balances must be, and how hard to try for a steady read.

    A balance may differ by `tolerance_increments` of its currency's increment (the size
    increment for a base currency, the price increment for a quote currency); `tolerances`
    overrides that per currency with an absolute amount.
    """

    interval_s: float = 60.0
    tolerance_increments: int = 1
    tolerances: Mapping[str, Decimal] = field(default_factory=dict)
    read_attempts: int = 3

    def __post_init__(self) -> None:
        if not self.interval_s > 0:
            msg = f"interval_s: expected a positive number of seconds, found {self.interval_s}"
            raise ValueError(msg)
        if self.tolerance_increments < 0 or self.read_attempts < 1:
            msg = (
                "tolerance_increments: expected 0 or more and read_attempts at least 1, found "
                f"{self.tolerance_increments} and {self.read_attempts}"
            )
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class AccountHistory:
    """Where a session's account history ends: its fills before the session are not ours.

    A session starts on an account that may have traded before (an earlier session, a person):
    its balances then are the opening book, and its fills then are history, neither ours nor a
    stranger's. History is every fill older than `until_ts` (the newest fill at the start, in
    the exchange's own time) and, at `until_ts` itself, the fills in `trade_ids`; a fill that
    came later is the session's to account for. `until_ts` None: the account had no fill.
    """

    until_ts: int | None = None
    trade_ids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, fills: Iterable[Fill]) -> AccountHistory:
        """Return the history that ends with the newest of `fills`."""
        listed = list(fills)
        if not listed:
            return cls()
        newest = max(f.ts for f in listed)
        return cls(newest, frozenset(f.trade_id for f in listed if f.ts == newest))

    def holds(self, fill: Fill) -> bool:
        """Return True if `fill` was at the exchange before the session started."""
        if self.until_ts is None:
            return False
        return fill.ts < self.until_ts or (
            fill.ts == self.until_ts and fill.trade_id in self.trade_ids
        )

    def to_json(self) -> dict[str, object]:
        """Return the history as plain values, for the run's stored inputs."""
        return {"until_ts": self.until_ts, "trade_ids": sorted(self.trade_ids)}

    @classmethod
    def from_json(cls, value: object) -> AccountHistory:
        """Rebuild a history from `to_json`'s values; anything else (an older run) is none."""
        if not isinstance(value, Mapping):
            return cls()
        until, ids = value.get("until_ts"), value.get("trade_ids")
        if not isinstance(until, int) or not isinstance(ids, list):
            return cls()
        return cls(until, frozenset(str(i) for i in ids))


@dataclass(frozen=True, slots=True)
class ExchangeView:
    """What the exchange reported in one steady read: open orders, fills, balances."""

    open_orders: tuple[Order, ...]
    fills: tuple[Fill, ...]
    balances: Mapping[str, Decimal]


class _UnsteadyError(CoinswarmError):
    """The exchange kept moving while it was being read."""


def read_exchange(
    adapter: ExchangeAdapter, attempts: int, history: AccountHistory | None = None
) -> ExchangeView:
    """Read the exchange so that no fill lands between the fills and the balances read.

    A fill between the two reads would show as a balance difference that is not real, so the
    fills are listed again after the balances and the read repeats until both listings agree.
    Fills of the account's `history` are neither listed (the listing starts where it ends)
    nor kept.
    """
    history = history or AccountHistory()

    def listed() -> tuple[Fill, ...]:
        found = adapter.list_fills(since_ts=history.until_ts)
        return tuple(f for f in found if not history.holds(f))

    fills = listed()
    for _ in range(attempts):
        balances = dict(adapter.balances())
        open_orders = tuple(adapter.open_orders())
        again = listed()
        if {f.trade_id for f in again} == {f.trade_id for f in fills}:
            return ExchangeView(open_orders, again, balances)
        fills = again
    msg = f"the exchange's fills kept changing over {attempts} reads; try again when it is quiet"
    raise _UnsteadyError(msg)


def expected_balances(ledger: Ledger, instruments: Mapping[str, Instrument]) -> dict[str, Decimal]:
    """Return what the exchange should hold per currency if our ledger is right.

    Cash (deposits, proceeds, fees) sits in `ledger.cash`; a base currency also holds the
    positions of every instrument it is the base of.
    """
    totals = dict(ledger.state().cash)
    for instrument in instruments.values():
        quantity = ledger.position(instrument.symbol).quantity
        totals[instrument.base] = totals.get(instrument.base, ZERO) + quantity
    return totals


def _tolerance(
    currency: str, instruments: Mapping[str, Instrument], settings: ReconcileSettings
) -> Decimal:
    if currency in settings.tolerances:
        return settings.tolerances[currency]
    steps = [i.size_increment for i in instruments.values() if i.base == currency]
    steps += [i.price_increment for i in instruments.values() if i.quote == currency]
    return max(steps, default=ZERO) * settings.tolerance_increments


@dataclass(slots=True)
class _Run:
    """The differences and changes of one run, gathered as the steps go."""

    ts: int
    differences: list[Difference] = field(default_factory=list)
    backfilled: list[Fill] = field(default_factory=list)
    adopted: list[Order] = field(default_factory=list)
    updated: list[Order] = field(default_factory=list)
    foreign: list[Order] = field(default_factory=list)
    deposits: list[Deposit] = field(default_factory=list)

    def note(self, kind: DifferenceKind, subject: str, line: str) -> None:
        self.differences.append(Difference(kind, subject, line))

    def halting(self) -> bool:
        return any(d.halts for d in self.differences)

    def report(self) -> ReconciliationReport:
        return ReconciliationReport(
            ts=self.ts,
            differences=tuple(self.differences),
            backfilled=tuple(self.backfilled),
            adopted=tuple(self.adopted),
            updated=tuple(self.updated),
            foreign=tuple(self.foreign),
            deposits=tuple(self.deposits),
        )


def _same_fill(ours: Fill, theirs: Fill) -> bool:
    # The client order id is ours to know; an adapter that could not learn it leaves it empty.
    keys = ("order_id", "instrument", "side", "quantity", "price", "fee", "fee_currency")
    return all(getattr(ours, k) == getattr(theirs, k) for k in keys)


def _reconcile_fills(run: _Run, ledger: Ledger, theirs: Sequence[Fill]) -> None:
    ours = {f.trade_id: f for f in ledger.fills}
    exchange = {f.trade_id: f for f in theirs}
    for trade_id in sorted(set(ours) - set(exchange)):
        fill = ours[trade_id]
        line = (
            f"fill {trade_id} ({fill.side} {fill.quantity} {fill.instrument} at {fill.price}, "
            f"order {fill.order_id}) is in our ledger but not at the exchange"
        )
        run.note(DifferenceKind.UNKNOWN_FILL, trade_id, line)
    for fill in sorted(theirs, key=lambda f: (f.ts, f.trade_id)):
        known = ours.get(fill.trade_id)
        if known is not None:
            if not _same_fill(known, fill):
                line = f"fill {fill.trade_id}: ours {_describe(known)}, exchange {_describe(fill)}"
                run.note(DifferenceKind.CONFLICTING_FILL, fill.trade_id, line)
            continue
        if ledger.record(fill):
            run.backfilled.append(fill)
            line = f"fill {fill.trade_id} missing from our ledger, back-filled: {_describe(fill)}"
            run.note(DifferenceKind.MISSING_LOCAL_FILL, fill.trade_id, line)


def _describe(fill: Fill) -> str:
    return (
        f"{fill.side} {fill.quantity} {fill.instrument} at {fill.price} fee {fill.fee} "
        f"{fill.fee_currency} (order {fill.order_id})"
    )


def _confirm(adapter: ExchangeAdapter, order_id: str) -> Order | None:
    try:
        return adapter.get_order(order_id)
    except (KeyError, InvalidOrderError):
        # The port's "no such order": Coinbase's OrderNotFoundError is a KeyError, the
        # simulated exchange's an InvalidOrderError. Anything else means "could not ask".
        return None


def _reconcile_unknown_orders(
    run: _Run,
    adapter: ExchangeAdapter,
    view: ExchangeView,
    orders: MutableMapping[str, Order],
    *,
    ours: Collection[str],
    known: Collection[str],
) -> None:
    seen = {o.order_id for o in view.open_orders} | {f.order_id for f in view.fills}
    for order_id in sorted(seen - set(orders) - set(known)):
        confirmed = _confirm(adapter, order_id)
        if confirmed is None:
            line = f"exchange order {order_id} is listed but a targeted query does not find it"
            run.note(DifferenceKind.FOREIGN_ORDER, order_id, line)
        elif confirmed.client_order_id in ours:
            orders[order_id] = confirmed
            run.adopted.append(confirmed)
            line = (
                f"exchange order {order_id} ({confirmed.client_order_id}, {confirmed.status}) "
                "was missing here; confirmed and adopted as ours"
            )
            run.note(DifferenceKind.ADOPTED_ORDER, order_id, line)
        else:
            line = (
                f"exchange order {order_id} has client order id "
                f"{confirmed.client_order_id!r}, which is not ours ({confirmed.status}, "
                f"{confirmed.side} {confirmed.instrument})"
            )
            run.foreign.append(confirmed)
            run.note(DifferenceKind.FOREIGN_ORDER, order_id, line)


def _reconcile_local_orders(
    run: _Run, adapter: ExchangeAdapter, view: ExchangeView, orders: MutableMapping[str, Order]
) -> None:
    open_there = {o.order_id for o in view.open_orders}
    adopted = {o.order_id for o in run.adopted}
    for order_id, order in sorted(orders.items()):
        in_flight = order.is_live or order.status is OrderStatus.NEW
        if not in_flight or order_id in open_there or order_id in adopted:
            continue
        actual = _confirm(adapter, order_id)
        if actual is None:
            line = (
                f"order {order_id} ({order.client_order_id}) is {order.status} here but the "
                "exchange does not know it"
            )
            run.note(DifferenceKind.ORDER_UNKNOWN_TO_EXCHANGE, order_id, line)
            continue
        orders[order_id] = actual
        run.updated.append(actual)
        line = (
            f"order {order_id} ({order.client_order_id}) was {order.status} here and is "
            f"{actual.status} at the exchange (filled {actual.filled_quantity}); recorded"
        )
        run.note(DifferenceKind.CLOSED_AT_EXCHANGE, order_id, line)


def _reconcile_balances(
    run: _Run,
    ledger: Ledger,
    instruments: Mapping[str, Instrument],
    balances: Mapping[str, Decimal],
    settings: ReconcileSettings,
) -> None:
    expected = expected_balances(ledger, instruments)
    fills_unsettled = run.halting()
    for currency in sorted(set(expected) | set(balances)):
        ours, theirs = expected.get(currency, ZERO), balances.get(currency, ZERO)
        gap = theirs - ours
        tolerance = _tolerance(currency, instruments, settings)
        if abs(gap) <= tolerance:
            continue
        text = f"{currency}: exchange {theirs}, ours {ours} (gap {gap}, tolerance {tolerance})"
        if fills_unsettled:
            # With a fill in doubt the gap may be that fill; booking it would hide the cause.
            run.note(DifferenceKind.BALANCE_UNSETTLED, currency, text + "; fills in doubt")
        elif gap < 0:
            run.note(DifferenceKind.BALANCE_SHORTFALL, currency, text + "; unexplained")
        else:
            deposit = Deposit(currency, gap, run.ts, "reconciliation: outside deposit")
            ledger.deposit(deposit.currency, deposit.amount, deposit.ts, deposit.reference)
            run.deposits.append(deposit)
            run.note(DifferenceKind.OUTSIDE_DEPOSIT, currency, text + "; recorded as a deposit")


def reconcile(
    adapter: ExchangeAdapter,
    ledger: Ledger,
    orders: MutableMapping[str, Order],
    *,
    instruments: Mapping[str, Instrument],
    ts: int,
    client_order_ids: Collection[str] = (),
    settings: ReconcileSettings | None = None,
    history: AccountHistory | None = None,
) -> ReconciliationReport:
    """Compare once, back-fill and record what the exchange proves, and report the rest.

    `orders` (order id to order) is updated in place with adopted orders and the real state
    of orders that ended at the exchange; `ledger` gains back-filled fills and deposits.
    `client_order_ids` are the ids of our intents still in flight, beside those of `orders`.
    The fills of the account's `history` (before the session) are left out: the ledger's
    opening book holds what they left on the account.
    """
    settings = settings or ReconcileSettings()
    run = _Run(ts)
    try:
        view = read_exchange(adapter, settings.read_attempts, history)
        ours = set(client_order_ids) | {o.client_order_id for o in orders.values()}
        # An order whose fill is already in our ledger is one we knew, even if `orders` lost it.
        known = {f.order_id for f in ledger.fills}
        _reconcile_fills(run, ledger, view.fills)
        _reconcile_unknown_orders(run, adapter, view, orders, ours=ours, known=known)
        _reconcile_local_orders(run, adapter, view, orders)
    except CoinswarmError as error:
        # Unreadable or untrustworthy answers (bad JSON, an unknown status, an unreachable
        # exchange): nothing can be concluded from them, so trading waits.
        run.note(DifferenceKind.EXCHANGE_UNREADABLE, adapter.name, str(error))
        return run.report()
    _reconcile_balances(run, ledger, instruments, view.balances, settings)
    return run.report()


class Reconciler:
    """Run reconciliation at start and every `settings.interval_s` of an injected monotonic clock.

    Call `due(now)` from the engine's loop and `run()` when it says so. `paused` holds from the
    first report with a halting difference until `clear(by=...)` names the person who resolved
    it; a run never clears it by itself.
    """

    def __init__(
        self,
        adapter: ExchangeAdapter,
        ledger: Ledger,
        orders: MutableMapping[str, Order],
        *,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        monotonic: Monotonic,
        client_order_ids: Callable[[], Collection[str]] = frozenset,
        settings: ReconcileSettings | None = None,
        history: AccountHistory | None = None,
    ) -> None:
        self._adapter = adapter
        self._history = history
        self._ledger = ledger
        self._orders = orders
        self._instruments = dict(instruments)
        self._clock = clock
        self._monotonic = monotonic
        self._client_order_ids = client_order_ids
        self.settings = settings or ReconcileSettings()
        self._last_run: float | None = None
        self._pause_reason: str | None = None
        self.reports: list[ReconciliationReport] = []

    @property
    def paused(self) -> bool:
        """Return True while trading must wait for a person to resolve a difference."""
        return self._pause_reason is not None

    @property
    def pause_reason(self) -> str:
        """Return why trading waits, or an empty string."""
        return self._pause_reason or ""

    def due(self, now: float) -> bool:
        """Return True before the first run and once `interval_s` has passed since the last."""
        return self._last_run is None or now - self._last_run >= self.settings.interval_s

    def run(self) -> ReconciliationReport:
        """Reconcile now; keep the report and hold the pause if it has a halting difference."""
        self._last_run = self._monotonic()
        report = reconcile(
            self._adapter,
            self._ledger,
            self._orders,
            instruments=self._instruments,
            ts=self._clock.now_ns(),
            client_order_ids=self._client_order_ids(),
            settings=self.settings,
            history=self._history,
        )
        self.reports.append(report)
        if report.trading_paused and self._pause_reason is None:
            self._pause_reason = report.pause_reason
        return report

    def clear(self, *, by: str) -> str:
        """Lift the pause after a person resolved its cause; return what was cleared."""
        if not by.strip():
            msg = "clearing a reconciliation pause must name the person, found an empty 'by'"
            raise ValueError(msg)
        cleared, self._pause_reason = self._pause_reason or "nothing", None
        return f"reconciliation pause cleared by {by}: {cleared}"
