"""The shadow backtest: the session's strategy on the simulated exchange, over the same bars.

The session's journal holds the bars it traded on and what the exchange did with its orders.
Running the same strategy and configuration on the simulated exchange over those bars gives
what a backtest expected; the gap between the two is attributed order by order: slippage (the
session's average fill price against the shadow's, in basis points, positive when the session
did worse), latency (how many bars later the session's first fill came), and fills the session
missed or got only partly.

Orders are paired by client order id, and otherwise in turn per instrument and side (a wall-clock
session derives its ids from the wall clock, the shadow from bar times). This runs after a
session, from its journal; `shadow_live.LiveShadow` runs the same beside a session as it
trades, and both sides of both go through `Trades`, so the two attribute alike.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from coinswarm.backtest.engine import run_live, simulated_venue
from coinswarm.backtest.result import BacktestResult
from coinswarm.backtest.session_replay import SessionStart, Tape, history, read_start
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order, OrderStatus
from coinswarm.infra.session_codec import bar_from_json, fill_from_json, order_from_json
from coinswarm.infra.session_journal import JournalError, Record, read_journal
from coinswarm.strategies import build_strategy

__all__ = [
    "OrderGap",
    "ShadowReport",
    "TradedOrder",
    "Trades",
    "attribute",
    "shadow_journal",
]

BPS = Decimal(10_000)
MATCHED = "matched"
MISSED = "missed"
PARTIAL = "partial"
EXTRA = "extra fill"
UNFILLED = "unfilled"
SESSION_ONLY = "session only"
SHADOW_ONLY = "shadow only"
KINDS = (MATCHED, PARTIAL, MISSED, EXTRA, UNFILLED, SESSION_ONLY, SHADOW_ONLY)


@dataclass(frozen=True, slots=True, kw_only=True)
class Trades:
    """One side of the gap: its orders and fills, and how many bars it had stepped.

    `first_bars` maps an order id to the position, among the run's bars, of the bar with which
    the run learnt of the order's first fill: the latency is the difference between two sides'.
    """

    orders: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    first_bars: Mapping[str, int] = field(default_factory=dict)
    bars: int = 0

    def traded(self) -> list[TradedOrder]:
        """Return each order with what filled of it, in the order the orders were asked for."""
        by_order: dict[str, list[Fill]] = defaultdict(list)
        for fill in self.fills:
            by_order[fill.order_id].append(fill)
        return [
            _traded_at(o, by_order[o.order_id], self.first_bars.get(o.order_id))
            for o in self.orders
        ]


@dataclass(frozen=True, slots=True)
class TradedOrder:
    """One order and what filled of it: quantity, average price, first fill's bar."""

    order: Order
    quantity: Decimal
    price: Decimal | None
    first_bar: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderGap:
    """The session's order beside the shadow's, and what the difference is put down to."""

    client_order_id: str
    instrument: str
    side: str
    kind: str
    session_quantity: Decimal
    shadow_quantity: Decimal
    session_price: Decimal | None
    shadow_price: Decimal | None
    slippage_bps: Decimal | None
    slippage_cost: Decimal
    latency_bars: int | None

    def to_json(self) -> dict[str, Any]:
        """Return the gap as plain values (decimals as strings)."""
        return {
            "client_order_id": self.client_order_id,
            "instrument": self.instrument,
            "side": self.side,
            "kind": self.kind,
            "session_quantity": str(self.session_quantity),
            "shadow_quantity": str(self.shadow_quantity),
            "session_price": _text(self.session_price),
            "shadow_price": _text(self.shadow_price),
            "slippage_bps": _text(self.slippage_bps),
            "slippage_cost": str(self.slippage_cost),
            "latency_bars": self.latency_bars,
        }


@dataclass(frozen=True, slots=True)
class ShadowReport:
    """Every order's gap, and the totals per cause."""

    gaps: tuple[OrderGap, ...]

    def count(self, kind: str) -> int:
        """Return how many orders were put down to `kind`."""
        return sum(1 for g in self.gaps if g.kind == kind)

    @property
    def slippage_cost(self) -> Decimal:
        """Return what the session paid beyond the shadow's prices, in the quote currency."""
        return sum((g.slippage_cost for g in self.gaps), Decimal(0))

    @property
    def latency_bars(self) -> int:
        """Return the bars the session's fills came later than the shadow's, summed."""
        return sum(g.latency_bars or 0 for g in self.gaps)

    def summary(self) -> dict[str, Any]:
        """Return the totals: orders per cause, slippage cost, latency."""
        return {
            "orders": len(self.gaps),
            **{kind: self.count(kind) for kind in KINDS},
            "slippage_cost": format(self.slippage_cost.normalize(), "f"),
            "latency_bars": self.latency_bars,
        }

    def line(self) -> str:
        """Return the totals on one line, for a session's log."""
        totals = self.summary()
        kinds = ", ".join(f"{totals[k]} {k}" for k in KINDS)
        return (
            f"{totals['orders']} orders ({kinds}); slippage cost {totals['slippage_cost']}; "
            f"latency {totals['latency_bars']} bars"
        )

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain values."""
        return {"summary": self.summary(), "orders": [g.to_json() for g in self.gaps]}

    def table(self) -> list[str]:
        """Return the attribution as text lines: one per order, then the totals."""
        header = (
            f"{'order':<34} {'side':<4} {'kind':<12} {'session':>14} {'shadow':>14} "
            f"{'slip bps':>9} {'late':>4}"
        )
        rows = [
            f"{g.client_order_id[:34]:<34} {g.side:<4} {g.kind:<12} "
            f"{_text(g.session_price) or '-':>14} {_text(g.shadow_price) or '-':>14} "
            f"{_rounded(g.slippage_bps):>9} {'-' if g.latency_bars is None else g.latency_bars:>4}"
            for g in self.gaps
        ]
        totals = "shadow gap: " + json.dumps(self.summary(), sort_keys=True)
        return [header, *rows, totals]


def shadow_journal(path: Path) -> ShadowReport:
    """Run the journal's strategy on the simulated exchange over its bars; attribute the gap."""
    records = read_journal(path)
    start = read_start(path, records[0])
    tape = Tape(path, records)
    bars = [tape.whole(r, bar_from_json) for r in records if r.kind == "bar"]
    shadow = _shadow_run(start, bars, history(tape, records, start.interval_ns))
    session = _session_trades(tape, records)
    return attribute(session.traded(), _shadow_trades(shadow, bars).traded())


def attribute(session: Sequence[TradedOrder], shadow: Sequence[TradedOrder]) -> ShadowReport:
    """Pair the session's orders with the shadow's and put each difference down to a cause."""
    by_id = {t.order.client_order_id: t for t in shadow}
    paired: list[tuple[TradedOrder | None, TradedOrder | None]] = []
    waiting: dict[tuple[str, str], list[TradedOrder]] = defaultdict(list)
    used: set[str] = set()
    for ours in session:
        theirs = by_id.get(ours.order.client_order_id)
        if theirs is not None:
            used.add(theirs.order.client_order_id)
        paired.append((ours, theirs))
    for theirs in shadow:
        if theirs.order.client_order_id not in used:
            waiting[(theirs.order.instrument, str(theirs.order.side))].append(theirs)
    paired = [
        (ours, theirs or _next(waiting, ours)) if ours is not None else (ours, theirs)
        for ours, theirs in paired
    ]
    paired += [(None, t) for queue in waiting.values() for t in queue]
    return ShadowReport(tuple(_gap(ours, theirs) for ours, theirs in paired))


def _next(
    waiting: dict[tuple[str, str], list[TradedOrder]], ours: TradedOrder | None
) -> TradedOrder | None:
    assert ours is not None
    queue = waiting.get((ours.order.instrument, str(ours.order.side)))
    return queue.pop(0) if queue else None


def _gap(ours: TradedOrder | None, theirs: TradedOrder | None) -> OrderGap:
    either = ours or theirs
    assert either is not None
    order = either.order
    session_quantity = ours.quantity if ours else Decimal(0)
    shadow_quantity = theirs.quantity if theirs else Decimal(0)
    session_price = ours.price if ours else None
    shadow_price = theirs.price if theirs else None
    slippage, cost, latency = None, Decimal(0), None
    if ours and theirs and session_price is not None and shadow_price is not None:
        sign = order.side.sign
        slippage = (session_price - shadow_price) / shadow_price * BPS * sign
        cost = (session_price - shadow_price) * session_quantity * sign
        if ours.first_bar is not None and theirs.first_bar is not None:
            latency = ours.first_bar - theirs.first_bar
    return OrderGap(
        client_order_id=order.client_order_id,
        instrument=order.instrument,
        side=str(order.side),
        kind=_kind(ours, theirs),
        session_quantity=session_quantity,
        shadow_quantity=shadow_quantity,
        session_price=session_price,
        shadow_price=shadow_price,
        slippage_bps=slippage,
        slippage_cost=cost,
        latency_bars=latency,
    )


def _kind(ours: TradedOrder | None, theirs: TradedOrder | None) -> str:
    if theirs is None:
        return SESSION_ONLY
    if ours is None:
        return SHADOW_ONLY
    if not theirs.quantity:
        return EXTRA if ours.quantity else UNFILLED
    if not ours.quantity:
        return MISSED
    return PARTIAL if _short(ours, theirs) else MATCHED


def _short(ours: TradedOrder, theirs: TradedOrder) -> bool:
    """Return True when the session got less of the order filled than the shadow did."""
    if theirs.order.request.quantity is not None:
        return ours.quantity < theirs.quantity
    # Sized in quote: compare outcomes, the quantities bought at different prices differ.
    filled = OrderStatus.FILLED
    return ours.order.status is not filled and theirs.order.status is filled


def _shadow_run(
    start: SessionStart, bars: Sequence[Bar], warmup: Sequence[BarSeries]
) -> BacktestResult:
    """Run the strategy over the session's bars in their order, as the live shadow does."""
    strategy, _ = build_strategy(start.strategy, start.parameters)
    return run_live(
        iter(bars),
        strategy,
        start.config,
        instruments=start.instruments,
        history=warmup,
        clock=HistoricalClock(bars[0].ts if bars else 0),
        venue=simulated_venue,
        interval_ns=start.interval_ns,
    )


def _shadow_trades(shadow: BacktestResult, bars: Sequence[Bar]) -> Trades:
    """Return the shadow's trades; a simulated fill carries the time of the bar that made it."""
    index = {(b.instrument, b.ts): i for i, b in enumerate(bars)}
    first_bars: dict[str, int] = {}
    for fill in shadow.fills:
        bar = index.get((fill.instrument, fill.ts))
        if bar is not None:
            first_bars[fill.order_id] = min(bar, first_bars.get(fill.order_id, bar))
    return Trades(
        orders=tuple(shadow.orders),
        fills=tuple(shadow.fills),
        first_bars=first_bars,
        bars=len(bars),
    )


def _session_trades(tape: Tape, records: Sequence[Record]) -> Trades:
    """Return the session's orders from its `end` record, with the bar of each first fill."""
    first_bars: dict[str, int] = {}
    bar = -1
    for record in records:
        if record.kind == "bar":
            bar += 1
        elif record.kind == "fills":
            for fill in tape.read(record, "fills", _fills):
                first_bars.setdefault(fill.order_id, bar)
    end = records[-1]
    orders: list[Order] = []
    fills: list[Fill] = []
    for entry in tape.read(end, "decisions", _entries):
        if "order" in entry:
            orders.append(_parsed(tape, end, entry["order"], order_from_json))
        elif "fill" in entry:
            fills.append(_parsed(tape, end, entry["fill"], fill_from_json))
    return Trades(orders=tuple(orders), fills=tuple(fills), first_bars=first_bars, bars=bar + 1)


def _traded_at(order: Order, fills: Sequence[Fill], first_bar: int | None) -> TradedOrder:
    quantity = sum((f.quantity for f in fills), Decimal(0))
    price = sum((f.price * f.quantity for f in fills), Decimal(0)) / quantity if quantity else None
    return TradedOrder(order, quantity, price, first_bar if fills else None)


def _parsed(tape: Tape, record: Record, value: Any, parse: Any) -> Any:
    try:
        return parse(value)
    except (ValueError, TypeError) as error:
        raise JournalError(tape.path, record.line, f"field 'decisions': {error}") from None


def _fills(value: Any) -> list[Fill]:
    return [fill_from_json(f) for f in value]


def _entries(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        msg = "expected a list of JSON lines"
        raise TypeError(msg)
    return [json.loads(v) for v in value]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _rounded(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.1f}"
