"""The daily P&L report of each account: what its runs traded on one UTC day, and what it cost.

An account is one mode's money in one database: paper, sandbox or live, each in its own
embedded file by default, or all in the database `db` names (then each mode there is an account
of its own). A backtest is research, not an account. The report of day D covers the runs of
the account active on D (a fill, a deposit, a verdict, a risk event or a ledger checkpoint
stamped that day, by the run's clock: market time for a paper replay, the wall clock live):

- the day's trades (its fills) and fees, from the store;
- realised P&L (before fees), unrealised P&L at the day's start and end, equity at both, from
  the ledger folded to each (`_ledger_day`), the positions valued at bar closes or, for a
  session whose bars are gone, at its own last fill prices (`_marks`);
- limits used: the day's deepest loss against the phase's daily loss limit, and the orders
  sent against the phase's trades a day, where it sets one;
- the alerts fired that day (the audit log's `alert` entries of the account's mode or runs),
  read from the account's database and from the one the alert engine writes to.

An account with no run active that day gives an empty report (no trades, zero P&L), not an
error: a quiet day is news too.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from coinswarm import bootstrap
from coinswarm.backtest.catalog import Place, opened, places
from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.fill import Fill
from coinswarm.domain.ledger import LedgerEvent
from coinswarm.infra.storage import RunRecord, Store, resolve_url
from coinswarm.infra.storage.models import (
    AuditRow,
    DepositRow,
    FillRow,
    LedgerSnapshotRow,
    RiskEventRow,
    VerdictRow,
)
from coinswarm.reporting._ledger_day import DayFigures, HeldPosition, fold_day
from coinswarm.reporting._marks import marks_for
from coinswarm.reporting.days import BadDateError, day_bounds, parse_day
from coinswarm.risk.profiles import RiskProfile

__all__ = [
    "ACCOUNT_MODES",
    "AccountReport",
    "AlertFired",
    "BadDateError",
    "HeldPosition",
    "Limits",
    "RunDay",
    "Totals",
    "TradeRow",
    "account_report",
    "account_reports",
    "active_runs",
    "alert_place",
    "alerts_fired",
    "day_bounds",
    "parse_day",
    "run_day",
]

ACCOUNT_MODES = ("paper", "sandbox", "live")
ZERO = Decimal(0)
ALERT_KIND = "alert"
ALERT_DB_VARIABLE = "COINSWARM_ALERT_DB"
"""Where the alert engine keeps its outbox and audits its alerts, when set."""
_ACTIVITY = (
    (FillRow.run_id, FillRow.ts),
    (DepositRow.run_id, DepositRow.ts),
    (VerdictRow.run_id, VerdictRow.ts),
    (RiskEventRow.run_id, RiskEventRow.ts),
    (LedgerSnapshotRow.run_id, LedgerSnapshotRow.ts),
)
"""Where a run leaves a trace stamped with its clock: any of them in a day makes it active."""


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One fill of the day."""

    run_id: str
    fill: Fill

    @property
    def notional(self) -> Decimal:
        return self.fill.quantity * self.fill.price


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How much of the phase's daily limits the run used."""

    phase: int | None
    daily_loss_fraction: Decimal | None
    daily_loss_limit: Decimal | None
    """The limit in money: the fraction of the day's starting equity."""
    worst_loss: Decimal
    orders: int
    """Orders sent during the day (what the phase's trades a day counts)."""
    max_trades: int | None

    @property
    def loss_used(self) -> Decimal | None:
        """Return the deepest loss as a share of the limit (1 is the limit reached)."""
        if not self.daily_loss_limit:
            return None
        return self.worst_loss / self.daily_loss_limit


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDay:
    """One run's day."""

    run_id: str
    strategy: str
    status: str
    trades: tuple[TradeRow, ...]
    figures: DayFigures | None
    """None: the run had no account (no deposit or fill) by the day's end."""
    marked: str
    """What positions were valued at: "close" (bars), "fill" (its own last fills)."""
    limits: Limits
    notes: tuple[str, ...] = ()

    @property
    def currency(self) -> str | None:
        return None if self.figures is None else self.figures.currency


@dataclass(frozen=True, slots=True)
class AlertFired:
    """One alert the audit log says was raised that day."""

    ts: int
    rule: str
    severity: str
    title: str
    run_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """An account's figures summed over its runs in one currency."""

    currency: str
    equity_start: Decimal = ZERO
    equity_end: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    unrealised_start: Decimal = ZERO
    unrealised_end: Decimal = ZERO
    fees: Decimal = ZERO
    deposits: Decimal = ZERO
    net_pnl: Decimal = ZERO
    trades: int = 0

    @property
    def unrealised_change(self) -> Decimal:
        return self.unrealised_end - self.unrealised_start


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountReport:
    """The report of one account for one UTC day."""

    day: date
    mode: str
    where: str
    """The database, for the reader (a path, or a URL without its password)."""
    runs: tuple[RunDay, ...] = ()
    alerts: tuple[AlertFired, ...] = ()
    made_ns: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """Return the report's file name without its extension: daily-D-mode."""
        return f"daily-{self.day.isoformat()}-{self.mode}"

    @property
    def trades(self) -> list[TradeRow]:
        """Return every fill of the day, in time order."""
        rows = [trade for run in self.runs for trade in run.trades]
        return sorted(rows, key=lambda t: (t.fill.ts, t.run_id, t.fill.trade_id))

    @property
    def empty(self) -> bool:
        return not self.runs

    def totals(self) -> list[Totals]:
        """Return the account's figures by currency (one, as a rule)."""
        sums: dict[str, dict[str, Any]] = {}
        for run in self.runs:
            figures = run.figures
            if figures is None:
                continue
            into = sums.setdefault(figures.currency, dict.fromkeys(_SUMMED, ZERO) | {"trades": 0})
            for name, value in _summands(figures):
                into[name] += value
            into["trades"] += len(run.trades)
        return [Totals(currency=currency, **values) for currency, values in sorted(sums.items())]


_SUMMED = (
    "equity_start",
    "equity_end",
    "realised_pnl",
    "unrealised_start",
    "unrealised_end",
    "fees",
    "deposits",
    "net_pnl",
)


def _summands(figures: DayFigures) -> Iterator[tuple[str, Decimal]]:
    yield "equity_start", figures.equity_start
    yield "equity_end", figures.equity_end
    yield "realised_pnl", figures.realised_pnl
    yield "unrealised_start", figures.unrealised_start
    yield "unrealised_end", figures.unrealised_end
    yield "fees", figures.fee_total
    yield "deposits", figures.deposits
    yield "net_pnl", figures.net_pnl


# -- reading one account ----------------------------------------------------------------------


def active_runs(store: Store, mode: str, start: int, end: int) -> list[RunRecord]:
    """Return the runs of `mode` with anything stored in [start, end), oldest first."""
    active: set[str] = set()
    with store.transaction() as session:
        for run_id, ts in _ACTIVITY:
            query = select(run_id).where(ts >= start, ts < end).distinct()
            active.update(session.scalars(query))
    return [run for run in store.runs() if run.mode == mode and run.run_id in active]


def _limits(profile: RiskProfile | None, figures: DayFigures | None, orders: int) -> Limits:
    fraction = None if profile is None else profile.max_daily_loss_fraction
    worst = ZERO if figures is None else figures.worst_loss
    base = ZERO if figures is None else figures.equity_start + figures.deposits
    limit = None if fraction is None or base <= 0 else fraction * base
    return Limits(
        phase=None if profile is None else profile.phase,
        daily_loss_fraction=fraction,
        daily_loss_limit=limit,
        worst_loss=worst,
        orders=orders,
        max_trades=None if profile is None else profile.max_trades_per_day,
    )


def run_day(store: Store, record: RunRecord, start: int, end: int) -> RunDay:
    """Return one run's day from what `store` holds of it."""
    events: list[LedgerEvent] = store.ledger_events(record.run_id)
    fills = [e for e in events if isinstance(e, Fill)]
    trades = tuple(TradeRow(record.run_id, f) for f in fills if start <= f.ts < end)
    orders = sum(1 for o in store.orders(record.run_id) if start <= o.created_ts < end)
    notes: list[str] = []
    marks = marks_for(record, fills)
    try:
        figures = fold_day(
            events, start=start, end=end, marks_at=marks.at, points=marks.points(start, end)
        )
    except CoinswarmError as error:  # a ledger that does not fold (mixed quote currencies)
        figures = None
        notes.append(f"the ledger could not be folded: {error}")
    if figures is not None and figures.unpriced:
        unpriced = ", ".join(figures.unpriced)
        notes.append(f"no price known for {unpriced} at some mark: valued at its cost there")
    return RunDay(
        run_id=record.run_id,
        strategy=record.strategy,
        status=record.status,
        trades=trades,
        figures=figures,
        marked=marks.marked,
        limits=_limits(bootstrap.stored_profile(record), figures, orders),
        notes=tuple(notes),
    )


def _payload(text: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def alerts_fired(
    store: Store, *, mode: str, run_ids: Iterable[str], start: int, end: int
) -> list[AlertFired]:
    """Return the alerts of `mode` or of `run_ids` the audit log holds for [start, end).

    Read defensively: a database from before the alerts has no such entries, and a field
    missing from an entry's payload reads as empty. The daily reports themselves, sent through
    the same outbox, are not alerts of the day.
    """
    ours = set(run_ids)
    query = (
        select(AuditRow)
        .where(AuditRow.kind == ALERT_KIND, AuditRow.ts >= start, AuditRow.ts < end)
        .order_by(AuditRow.seq)
    )
    found = []
    with store.transaction() as session:
        for row in session.scalars(query):
            data = _payload(row.payload)
            if data.get("rule") == "report":
                continue
            if data.get("mode") != mode and (row.run_id is None or row.run_id not in ours):
                continue
            found.append(
                AlertFired(
                    ts=row.ts,
                    rule=str(data.get("rule") or ""),
                    severity=str(data.get("severity") or ""),
                    title=str(data.get("title") or ""),
                    run_id=row.run_id,
                )
            )
    return found


def _key(place: Place) -> str:
    return place.url.render_as_string(hide_password=False)


def alert_place(db: str | None) -> Place:
    """Return the database the alert engine audits its alerts in (as `coinswarm serve` and
    `report daily --send` open it: COINSWARM_ALERT_DB, else `db`, else the default)."""
    alert_db = os.environ.get(ALERT_DB_VARIABLE) or db
    return Place(resolve_url(alert_db), alert_db)


def _alerts(
    stores: Sequence[Store], mode: str, runs: Sequence[str], day: tuple[int, int]
) -> list[AlertFired]:
    fired: dict[tuple[int, str, str | None], AlertFired] = {}
    for store in stores:
        for alert in alerts_fired(store, mode=mode, run_ids=runs, start=day[0], end=day[1]):
            fired.setdefault((alert.ts, alert.title, alert.run_id), alert)
    return sorted(fired.values(), key=lambda a: a.ts)


def account_report(
    store: Store,
    place: Place,
    mode: str,
    day: date,
    *,
    made_ns: int,
    alert_store: Store | None = None,
) -> AccountReport:
    """Return the report of `mode`'s account in `store` for `day`; its alerts are read from
    `store` and from `alert_store` (the alert engine's database, when another one)."""
    start, end = day_bounds(day)
    runs = [run_day(store, record, start, end) for record in active_runs(store, mode, start, end)]
    every = [run.run_id for run in store.runs() if run.mode == mode]
    stores = [store] if alert_store is None else [store, alert_store]
    return AccountReport(
        day=day,
        mode=mode,
        where=place.where,
        runs=tuple(runs),
        alerts=tuple(_alerts(stores, mode, every, (start, end))),
        made_ns=made_ns,
    )


def account_reports(
    day: date, *, db: str | None = None, made_ns: int = 0, modes: Sequence[str] = ACCOUNT_MODES
) -> list[AccountReport]:
    """Return the report of every account for `day`: each of `modes` that has a database with
    a run of its mode in it (the one `db` names, else each mode's own). Creates no database.
    """
    by_place: dict[str, tuple[Place, list[str]]] = {}
    for mode in modes:
        for place in places(db, (mode,)):
            by_place.setdefault(_key(place), (place, []))[1].append(mode)
    alerts_at = alert_place(db)
    reports = []
    with contextlib.ExitStack() as stack:
        alert_store = None
        if list(by_place) != [_key(alerts_at)]:  # another database, or one of several
            alert_store = stack.enter_context(opened(alerts_at))
        for place, held in by_place.values():
            with opened(place) as store:
                if store is None:
                    continue
                stored = {run.mode for run in store.runs()}
                reports += [
                    account_report(
                        store, place, mode, day, made_ns=made_ns, alert_store=alert_store
                    )
                    for mode in held
                    if mode in stored
                ]
    order = {mode: index for index, mode in enumerate(modes)}
    return sorted(reports, key=lambda report: order[report.mode])
