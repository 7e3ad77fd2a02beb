"""A run's account: its equity curve with drawdown, and its positions at the latest checkpoint.

Equity is cash plus each holding at a price, stepping where cash and holdings change (fills
and deposits), vectorised as `backtest.equity` does for the report. The price is each bar's
close when the run's bars can be rebuilt (`market`): the report's own curve. Otherwise (a
sandbox or live session) it is the last price the run traded each instrument at: the curve
moves only at fills, and says so (`marked="fill"`).

The curve covers what the store holds: up to the run's latest checkpoint (a running paper
run's bars beyond it are the replay's future, never shown). It is computed once per change
of the store: the run's ledger counter and latest snapshot stamp it, so a finished run is read
once and a running one again only after it wrote something.

Positions are the latest ledger snapshot's, the ledger's exact Decimal figures, written in the
same transaction as the fills before it, so they always agree with the stored fills.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select

from coinswarm.api.reads.models import EquityCurve, EquityPoint, Portfolio, PositionItem
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.position import Position
from coinswarm.infra.storage import Store
from coinswarm.infra.storage.models import (
    DepositRow,
    FillRow,
    LedgerSnapshotRow,
    RunRow,
    SnapshotBalanceRow,
    SnapshotPositionRow,
    SnapshotRoundTripRow,
)

__all__ = ["MAX_POINTS", "AccountCache", "SnapshotSummary", "latest_snapshot", "portfolio", "thin"]

MAX_POINTS = 2000
_CASH, _FEE = "cash", "fee"  # the kinds of a snapshot's balances
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Events:
    """A run's ledger events as columns, in ledger order; deposits are fills of cash."""

    ts: Ints
    instrument: list[str | None]  # None: cash in the account's currency
    signed: Floats  # quantity bought (+) or sold (-); a deposit's amount
    price: Floats
    fee_in_cash: Floats
    fee_in_coin: Floats
    currency: str
    initial_cash: Decimal


@dataclass(frozen=True, slots=True)
class Curve:
    ts: Ints
    equity: Floats
    drawdown: Floats
    marked: str
    initial_cash: Decimal
    currency: str


def _base(symbol: str) -> str:
    return symbol.split("-", 1)[0].split("/", 1)[0]


def _events(store: Store, run_id: str) -> _Events | None:
    fills = (
        select(
            FillRow.ledger_seq,
            FillRow.ts,
            FillRow.instrument,
            FillRow.side,
            FillRow.quantity,
            FillRow.price,
            FillRow.fee,
            FillRow.fee_currency,
        )
        .where(FillRow.run_id == run_id)
        .order_by(FillRow.ledger_seq)
    )
    deposits = (
        select(DepositRow.ledger_seq, DepositRow.ts, DepositRow.currency, DepositRow.amount)
        .where(DepositRow.run_id == run_id)
        .order_by(DepositRow.ledger_seq)
    )
    with store.transaction() as session:
        paid = list(session.execute(deposits))
        if not paid:
            return None  # no account yet
        traded = list(session.execute(fills))
    currency = paid[0].currency
    rows: list[tuple[int, int, str | None, float, float, float, float]] = []
    for seq, ts, instrument, side, quantity, price, fee, fee_currency in traded:
        sign = 1 if side == "BUY" else -1
        in_cash = fee_currency == currency
        rows.append(
            (seq, ts, instrument, sign * float(quantity), float(price),
             float(fee) if in_cash else 0.0, 0.0 if in_cash else float(fee))
        )  # fmt: skip
    symbols = {_base(r[2]): r[2] for r in rows if r[2] is not None}
    for seq, ts, paid_in, amount in paid:
        holding = None if paid_in == currency else symbols.get(paid_in)
        if paid_in == currency or holding is not None:  # coins of nothing traded: unpriced
            rows.append((seq, ts, holding, float(amount), 0.0, 0.0, 0.0))
    rows.sort(key=lambda r: r[0])
    return _Events(
        ts=np.array([r[1] for r in rows], dtype=np.int64),
        instrument=[r[2] for r in rows],
        signed=np.array([r[3] for r in rows], dtype=np.float64),
        price=np.array([r[4] for r in rows], dtype=np.float64),
        fee_in_cash=np.array([r[5] for r in rows], dtype=np.float64),
        fee_in_coin=np.array([r[6] for r in rows], dtype=np.float64),
        currency=currency,
        initial_cash=Decimal(paid[0].amount),
    )


def _last_at(ts: Ints, values: Floats, times: Ints) -> Floats:
    """Return the latest value at or before each time (0 before the first)."""
    if not len(ts):
        return np.zeros(len(times))
    index = np.searchsorted(ts, times, side="right") - 1
    found = values[np.clip(index, 0, None)].astype(np.float64)
    found[index < 0] = 0.0
    return found


def _fill_marks(events: _Events, symbol: str) -> tuple[Ints, Floats]:
    """Return the times and prices `symbol` traded at (the last of a time wins, as
    `_last_at` reads them)."""
    chosen = np.array([i == symbol for i in events.instrument], dtype=bool) & (events.price > 0)
    return events.ts[chosen], events.price[chosen]


def _timeline(events: _Events, market: Mapping[str, BarSeries] | None, until: int | None) -> Ints:
    """Return the curve's times: every bar's from the account's first event (or every event's
    without bars), cut at `until` and ending there."""
    if market is not None:
        times = np.unique(np.concatenate([series.ts for series in market.values()]))
        times = times[times >= min(int(events.ts[0]), int(times[-1]))]
    else:
        times = np.unique(events.ts)
    if until is not None:
        times = np.unique(np.append(times[times <= until], until))
    return times.astype(np.int64)


def _curve(events: _Events, market: Mapping[str, BarSeries] | None, until: int | None) -> Curve:
    symbols = sorted({i for i in events.instrument if i is not None})
    if market is not None and not all(s in market and len(market[s]) for s in symbols):
        market = None  # bars of another run's data: mark at the fills instead
    times = _timeline(events, market, until)
    at = np.minimum(np.searchsorted(times, events.ts), len(times) - 1)
    is_cash = np.array([i is None for i in events.instrument], dtype=bool)
    cash = np.zeros(len(times))
    spent = np.where(is_cash, events.signed, -events.signed * events.price)
    np.add.at(cash, at, spent - events.fee_in_cash)
    equity = np.cumsum(cash)
    for symbol in symbols:
        chosen = np.array([i == symbol for i in events.instrument], dtype=bool)
        moves = np.zeros(len(times))
        np.add.at(moves, at[chosen], events.signed[chosen] - events.fee_in_coin[chosen])
        if market is not None:
            marks = _last_at(market[symbol].ts, market[symbol].close, times)
        else:
            marks = _last_at(*_fill_marks(events, symbol), times)
        equity += np.cumsum(moves) * marks
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, equity / peak - 1.0, 0.0)
    return Curve(
        ts=times,
        equity=equity,
        drawdown=np.minimum(drawdown, 0.0),
        marked="fill" if market is None else "close",
        initial_cash=events.initial_cash,
        currency=events.currency,
    )


def thin(curve: Curve, max_points: int) -> list[int]:
    """Return at most `max_points` (2 or more) indices of the curve, in order: the first and
    the last point and, in each stretch between, its highest equity and deepest drawdown (so
    the whole curve's peak and trough are kept from 4 points up)."""
    n = len(curve.ts)
    if n <= max_points:
        return list(range(n))
    keep = {0, n - 1}
    buckets = (max_points - 2) // 2
    if not buckets:  # room for one more point at most: the deepest drawdown
        if max_points > 2:
            keep.add(int(np.argmin(curve.drawdown)))
        return sorted(keep)
    edges = np.linspace(1, n - 1, buckets + 1).astype(np.int64)
    for lo, hi in pairwise(edges):
        if hi > lo:
            keep.add(int(lo + np.argmax(curve.equity[lo:hi])))
            keep.add(int(lo + np.argmin(curve.drawdown[lo:hi])))
    return sorted(keep)


def _money(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"


def _stamp(store: Store, run_id: str) -> tuple[object, ...] | None:
    with store.transaction() as session:
        row = session.execute(
            select(RunRow.ledger_events, RunRow.updated_ts, RunRow.status).where(
                RunRow.id == run_id
            )
        ).first()
        snapshot = session.execute(
            select(LedgerSnapshotRow.id, LedgerSnapshotRow.ts)
            .where(LedgerSnapshotRow.run_id == run_id)
            .order_by(LedgerSnapshotRow.id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    return (*row, *(snapshot or (None, None)))


class AccountCache:
    """Each run's equity curve, computed again only when its store changed."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._kept: dict[str, tuple[tuple[object, ...], Curve | None]] = {}
        self._answers: dict[tuple[str, int], tuple[tuple[object, ...], EquityCurve]] = {}
        self._lock = threading.Lock()

    def curve(
        self, key: str, store: Store, run_id: str, market: Mapping[str, BarSeries] | None
    ) -> Curve | None:
        """Return the run's curve (None before its first deposit)."""
        stamp = _stamp(store, run_id)
        if stamp is None:
            return None
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        events = _events(store, run_id)
        snapshot_ts = stamp[4]
        until = snapshot_ts if isinstance(snapshot_ts, int) else None
        curve = None if events is None else _curve(events, market, until)
        with self._lock:
            if len(self._kept) >= self._size and key not in self._kept:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = (stamp, curve)
        return curve

    def equity(
        self,
        key: str,
        store: Store,
        run_id: str,
        market: Mapping[str, BarSeries] | None,
        *,
        max_points: int = MAX_POINTS,
        run_max_drawdown: float | None = None,
    ) -> EquityCurve:
        """Return the run's equity curve, thinned to `max_points`."""
        curve = self.curve(key, store, run_id, market)
        stamp = self._kept.get(key, ((), None))[0]
        with self._lock:
            answer = self._answers.get((key, max_points))
        if answer is not None and answer[0] == stamp:
            return answer[1]
        built = _answer(run_id, curve, max_points, run_max_drawdown)
        with self._lock:
            if len(self._answers) >= 4 * self._size:
                self._answers.pop(next(iter(self._answers)))
            self._answers[key, max_points] = (stamp, built)
        return built


def _answer(
    run_id: str, curve: Curve | None, max_points: int, run_max_drawdown: float | None
) -> EquityCurve:
    if curve is None or not len(curve.ts):
        return EquityCurve(
            run=run_id,
            currency="",
            marked="fill",
            initial_cash="0",
            points=[],
            total_points=0,
            max_drawdown=0.0,
            run_max_drawdown=run_max_drawdown,
        )
    points = [
        EquityPoint(
            ts=int(curve.ts[i]),
            equity=_money(float(curve.equity[i])),
            drawdown=float(curve.drawdown[i]),
        )
        for i in thin(curve, max_points)
    ]
    return EquityCurve(
        run=run_id,
        currency=curve.currency,
        marked="close" if curve.marked == "close" else "fill",
        initial_cash=str(curve.initial_cash),
        points=points,
        total_points=len(curve.ts),
        max_drawdown=float(curve.drawdown.min()),
        run_max_drawdown=run_max_drawdown,
    )


# -- positions ---------------------------------------------------------------------------------


def _last_fill_prices(
    store: Store, run_id: str, symbols: Sequence[str]
) -> dict[str, tuple[Decimal, int]]:
    found: dict[str, tuple[Decimal, int]] = {}
    with store.transaction() as session:
        for symbol in symbols:
            row = session.execute(
                select(FillRow.price, FillRow.ts)
                .where(FillRow.run_id == run_id, FillRow.instrument == symbol)
                .order_by(FillRow.ledger_seq.desc())
                .limit(1)
            ).first()
            if row is not None:
                found[symbol] = (row.price, row.ts)
    return found


def _marks(
    store: Store,
    run_id: str,
    symbols: Sequence[str],
    market: Mapping[str, BarSeries] | None,
    as_of: int,
) -> dict[str, tuple[Decimal, int]]:
    marks = _last_fill_prices(store, run_id, symbols)
    for symbol in symbols:
        series = None if market is None else market.get(symbol)
        if series is None or not len(series):
            continue
        index = int(np.searchsorted(series.ts, as_of, side="right")) - 1
        if index >= 0:
            marks[symbol] = (Decimal(str(float(series.close[index]))), int(series.ts[index]))
    return marks


def _currency(store: Store, run_id: str) -> str | None:
    query = (
        select(DepositRow.currency)
        .where(DepositRow.run_id == run_id)
        .order_by(DepositRow.ledger_seq)
        .limit(1)
    )
    with store.transaction() as session:
        return session.scalar(query)


@dataclass(frozen=True, slots=True)
class SnapshotSummary:
    """The latest snapshot's balances and positions, and how many round trips it counts."""

    ts: int
    cash: dict[str, Decimal]
    fees: dict[str, Decimal]
    positions: list[Position]
    round_trips: int


def latest_snapshot(store: Store, run_id: str) -> SnapshotSummary | None:
    """Read the latest snapshot without its round trips: a run of 100,000 fills keeps some
    50,000 of them, and the portfolio only counts them (`Store.latest_snapshot` loads all)."""
    latest = (
        select(LedgerSnapshotRow.id, LedgerSnapshotRow.ts)
        .where(LedgerSnapshotRow.run_id == run_id)
        .order_by(LedgerSnapshotRow.id.desc())
        .limit(1)
    )
    with store.transaction() as session:
        found = session.execute(latest).first()
        if found is None:
            return None
        snapshot_id, ts = found
        balances = session.execute(
            select(SnapshotBalanceRow.kind, SnapshotBalanceRow.currency, SnapshotBalanceRow.amount)
            .where(SnapshotBalanceRow.snapshot_id == snapshot_id)
            .order_by(SnapshotBalanceRow.currency)
        ).all()
        positions = [
            Position(row.instrument, row.quantity, row.average_cost, row.realised_pnl, row.fees)
            for row in session.scalars(
                select(SnapshotPositionRow)
                .where(SnapshotPositionRow.snapshot_id == snapshot_id)
                .order_by(SnapshotPositionRow.instrument)
            )
        ]
        # Numbered densely from 0: the last number, read from the key's end, counts them.
        last_trip = session.scalar(
            select(func.max(SnapshotRoundTripRow.seq)).where(
                SnapshotRoundTripRow.snapshot_id == snapshot_id
            )
        )
    return SnapshotSummary(
        ts=ts,
        cash={currency: amount for kind, currency, amount in balances if kind == _CASH},
        fees={currency: amount for kind, currency, amount in balances if kind == _FEE},
        positions=positions,
        round_trips=0 if last_trip is None else int(last_trip) + 1,
    )


def portfolio(store: Store, run_id: str, market: Mapping[str, BarSeries] | None) -> Portfolio:
    """Return the run's cash and positions at its latest checkpoint, marked to market."""
    snapshot = latest_snapshot(store, run_id)
    currency = _currency(store, run_id)
    if snapshot is None:
        return Portfolio(
            run=run_id,
            as_of_ts=None,
            currency=currency,
            cash={},
            fees={},
            equity=None,
            realised_pnl="0",
            round_trips=0,
            positions=[],
        )
    held = [p for p in snapshot.positions if p.quantity]
    marks = _marks(store, run_id, [p.instrument for p in held], market, snapshot.ts)
    equity: Decimal | None = snapshot.cash.get(currency, Decimal(0)) if currency else None
    for position in held:
        mark = marks.get(position.instrument)
        equity = None if mark is None or equity is None else equity + position.value(mark[0])
    return Portfolio(
        run=run_id,
        as_of_ts=snapshot.ts,
        currency=currency,
        cash={c: str(a) for c, a in snapshot.cash.items()},
        fees={c: str(a) for c, a in snapshot.fees.items()},
        equity=None if equity is None else str(equity),
        realised_pnl=str(sum((p.realised_pnl for p in snapshot.positions), Decimal(0))),
        round_trips=snapshot.round_trips,
        positions=[_position(p, marks.get(p.instrument), equity) for p in held],
    )


def _position(
    position: Position, mark: tuple[Decimal, int] | None, equity: Decimal | None
) -> PositionItem:
    value = None if mark is None else position.value(mark[0])
    share = None
    if value is not None and equity is not None and equity > 0:
        share = float(abs(value) / equity)
    return PositionItem(
        instrument=position.instrument,
        quantity=str(position.quantity),
        average_cost=str(position.average_cost),
        realised_pnl=str(position.realised_pnl),
        fees=str(position.fees),
        mark=None if mark is None else str(mark[0]),
        mark_ts=None if mark is None else mark[1],
        market_value=None if value is None else str(value),
        unrealised_pnl=None if mark is None else str(position.unrealised_pnl(mark[0])),
        share_of_equity=share,
    )
