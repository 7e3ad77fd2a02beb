"""Each mode's risk as a person at 3 a.m. needs it: what stops trading, how close each limit is.

Per mode a person watches (paper, sandbox, live):
- the stops come from the mode's risk state file, with the stops and resets a person asked
  for that a session has yet to apply, exactly as `coinswarm risk status` reads them;
- the profile is the one the mode's latest run obeyed (its phase, or its risk file);
- how close each limit is comes from the kill switch's own figures in the state file (the
  day's opening equity, the peak, the last equity: what it compares against its limits), or,
  before a session saved any, from the latest run's equity curve; the position and trade
  counts come from that run's latest checkpoint and its orders of the day;
- the breaker history is the stored breaker, kill-switch and guard events of the mode's runs.
The shared kill switch (Redis), when the server is told where it is, stops every mode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from sqlalchemy import func, select

from coinswarm import bootstrap
from coinswarm.api.reads.account import AccountCache, Curve, portfolio
from coinswarm.api.reads.market import MarketCache
from coinswarm.api.reads.models import (
    BreakerEvent,
    Limit,
    ModeRisk,
    Portfolio,
    RiskReport,
    SharedSwitch,
    Stop,
)
from coinswarm.api.reads.stores import Databases, Located
from coinswarm.backtest.catalog import Place
from coinswarm.backtest.defaults import PERSON_MODES, risk_state_path
from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.state import HotState, fail_safe_kill_switch
from coinswarm.infra.storage import Store
from coinswarm.infra.storage.models import OrderRow, RiskEventRow, RunRow
from coinswarm.risk.circuit_breaker import CircuitBreaker
from coinswarm.risk.errors import RiskStateError
from coinswarm.risk.kill_switch import KillSwitch, KillSwitchState
from coinswarm.risk.profiles import NS_PER_DAY, RiskProfile, profile_for
from coinswarm.risk.state_file import PersonAction, StoredRiskState, load_risk_state

__all__ = ["HISTORY", "RiskReader", "shared_switch"]

logger = logging.getLogger(__name__)

HISTORY = 50
"""Breaker history: the latest events kept per mode."""
_OVERSIGHT = "oversight"


@dataclass(frozen=True, slots=True)
class _Figures:
    """What the limits are measured on: equity now, at the day's open, at its peak."""

    equity: Decimal | None
    day_open: Decimal | None
    peak: Decimal | None
    losing_streak: int | None
    source: str


def _in_force(stored: StoredRiskState) -> tuple[KillSwitch, CircuitBreaker]:
    """Return the two machines as a session will see them: with the actions a person asked
    for that it has yet to apply (`coinswarm risk status` reads them the same way)."""
    profile = profile_for(0)  # the machines' stops, not their limits, are read here
    kill = KillSwitch(profile, stored.kill_switch)
    breaker = CircuitBreaker(profile.breaker, stored.breaker)
    for action in stored.pending:
        _apply(action, kill, breaker)
    return kill, breaker


def _apply(action: PersonAction, kill: KillSwitch, breaker: CircuitBreaker) -> None:
    if action.kind == "stop":
        kill.manual_stop(action.ts, action.reason, by=action.by)
        breaker.emergency_stop(action.ts, action.reason, by=action.by)
    else:
        kill.reset(action.ts, by=action.by, reason=action.reason)
        breaker.reset(action.ts, by=action.by, reason=action.reason)


def _fraction(used: Decimal | None, limit: Decimal, name: str, detail: str) -> Limit:
    value = None if used is None else float(max(used, Decimal(0)))
    return Limit(
        name=name,
        limit=float(limit),
        used=value,
        closeness=None if value is None else value / float(limit),
        unit="fraction",
        detail=detail,
    )


def _count(used: int | None, limit: int, name: str, detail: str) -> Limit:
    return Limit(
        name=name,
        limit=limit,
        used=used,
        closeness=None if used is None else used / limit,
        unit="count",
        detail=detail,
    )


def _loss(start: Decimal | None, now: Decimal | None) -> Decimal | None:
    if start is None or now is None or start <= 0:
        return None
    return (start - now) / start


def _measured(label: str, base: Decimal | None, figures: _Figures) -> str:
    """Say what a limit is measured from as a person reads it: "the peak equity 100,000.00
    (the latest run's equity curve)", or the label alone when there is no figure yet."""
    amount = "" if base is None else f" {base:,.2f}"
    return f"{label}{amount} ({figures.source})"


def _limits(
    profile: RiskProfile, figures: _Figures, held: Portfolio | None, trades_today: int | None
) -> list[Limit]:
    shares = [p.share_of_equity for p in (held.positions if held else []) if p.share_of_equity]
    limits = [
        _fraction(
            _loss(figures.day_open, figures.equity),
            profile.max_daily_loss_fraction,
            "daily_loss",
            "loss since "
            + _measured("the UTC day's opening equity", figures.day_open, figures)
            + "; the daily stop lifts the next UTC day",
        ),
        _fraction(
            _loss(figures.peak, figures.equity),
            profile.max_total_loss_fraction,
            "total_loss",
            "drawdown from "
            + _measured("the peak equity", figures.peak, figures)
            + "; a total-loss stop waits for a person",
        ),
        _fraction(
            None if held is None else Decimal(str(max(shares, default=0.0))),
            profile.max_position_fraction,
            "position",
            "the largest position's share of equity at the latest checkpoint",
        ),
    ]
    if profile.max_trades_per_day is not None:
        limits.append(
            _count(trades_today, profile.max_trades_per_day, "trades_today", "orders this UTC day")
        )
    if profile.max_concurrent_positions is not None:
        count = None if held is None else len(held.positions)
        limits.append(
            _count(count, profile.max_concurrent_positions, "positions", "positions held at once")
        )
    if profile.max_losing_days is not None:
        limits.append(
            _count(
                figures.losing_streak,
                profile.max_losing_days,
                "losing_days",
                "losing UTC days in a row",
            )
        )
    return limits


def _from_curve(curve: Curve | None) -> _Figures:
    if curve is None or not len(curve.ts):
        return _Figures(None, None, None, None, "no equity yet")
    last = len(curve.ts) - 1
    day_start = int(curve.ts[last]) // NS_PER_DAY * NS_PER_DAY
    # The equity the day opened with: the last point at or before its midnight.
    opened = int(np.searchsorted(curve.ts, day_start, side="right")) - 1
    day_open = curve.equity[max(opened, 0)]
    return _Figures(
        equity=Decimal(str(round(float(curve.equity[last]), 8))),
        day_open=Decimal(str(round(float(day_open), 8))),
        peak=Decimal(str(round(float(curve.equity.max()), 8))),
        losing_streak=None,
        source="the latest run's equity curve",
    )


def _from_state(state: KillSwitchState, fallback: _Figures) -> _Figures:
    if state.last_equity is None:
        return fallback
    return _Figures(
        equity=state.last_equity,
        day_open=state.day_open_equity,
        peak=state.peak_equity,
        losing_streak=state.losing_streak,
        source="the kill switch's state file",
    )


def _latest_run(store: Store, mode: str) -> str | None:
    query = (
        select(RunRow.id)
        .where(RunRow.mode == mode)
        .order_by(RunRow.created_ts.desc(), RunRow.id.desc())
        .limit(1)
    )
    with store.transaction() as session:
        return session.scalar(query)


def _trades_today(store: Store, run_id: str, as_of: int | None) -> int | None:
    if as_of is None:
        return None
    day_start = as_of // NS_PER_DAY * NS_PER_DAY
    query = select(func.count()).where(OrderRow.run_id == run_id, OrderRow.created_ts >= day_start)
    with store.transaction() as session:
        return int(session.scalar(query) or 0)


def _history(store: Store, mode: str) -> list[BreakerEvent]:
    query = (
        select(RiskEventRow)
        .join(RunRow, RunRow.id == RiskEventRow.run_id)
        .where(RunRow.mode == mode, RiskEventRow.source != _OVERSIGHT)
        .order_by(RiskEventRow.id.desc())
        .limit(HISTORY)
    )
    with store.transaction() as session:
        return [
            BreakerEvent(
                run=row.run_id,
                ts=row.ts,
                source=row.source,
                kind=row.kind,
                reason=row.reason,
                actor=row.actor,
            )
            for row in session.scalars(query)
        ]


@dataclass(frozen=True, slots=True)
class _RunView:
    run_id: str | None = None
    status: str | None = None
    profile: RiskProfile | None = None
    curve: Curve | None = None
    held: Portfolio | None = None
    trades_today: int | None = None


class RiskReader:
    """Read each mode's risk over the server's databases and caches."""

    def __init__(self, databases: Databases, markets: MarketCache, accounts: AccountCache) -> None:
        self._databases = databases
        self._markets = markets
        self._accounts = accounts

    def report(self, shared: HotState | None, where: str | None, now_ns: int) -> RiskReport:
        """Return every mode's risk, and the shared kill switch's when there is one."""
        return RiskReport(
            modes=[self.mode(mode) for mode in PERSON_MODES],
            shared=None if shared is None else shared_switch(shared, where or "", now_ns),
        )

    def _run_view(self, place: Place, store: Store, mode: str) -> _RunView:
        run_id = _latest_run(store, mode)
        record = None if run_id is None else store.get_run(run_id)
        if record is None:
            return _RunView()
        located = Located(place, record)
        market = self._markets.market(located.key, record)
        curve = self._accounts.curve(located.key, store, record.run_id, market)
        held = portfolio(store, record.run_id, market)
        return _RunView(
            run_id=record.run_id,
            status=record.status,
            profile=bootstrap.stored_profile(record),
            curve=curve,
            held=held,
            trades_today=_trades_today(store, record.run_id, held.as_of_ts),
        )

    def _view_and_history(self, mode: str) -> tuple[_RunView, list[BreakerEvent]]:
        view, history = _RunView(), []
        for place, store in self._databases.stores((mode,)):
            candidate = self._run_view(place, store, mode)
            if candidate.run_id is not None and view.run_id is None:
                view = candidate
            history += _history(store, mode)
        history.sort(key=lambda e: e.ts, reverse=True)
        return view, history[:HISTORY]

    def mode(self, mode: str, state_file: Path | None = None) -> ModeRisk:
        """Return one mode's risk."""
        path = state_file or risk_state_path(mode)
        try:
            stored, unreadable = load_risk_state(path), None
        except RiskStateError as error:  # a session refuses to trade on it: so say it stops
            stored, unreadable = StoredRiskState(), Stop(kind="STATE_FILE", reason=str(error))
        kill, breaker = _in_force(stored)
        view, history = self._view_and_history(mode)
        profile = view.profile or profile_for(bootstrap.DEFAULT_PHASES[mode])
        figures = _from_state(stored.kill_switch, _from_curve(view.curve))
        stops = [Stop(kind=str(kind), reason=why) for kind, why in sorted(kill.stops.items())]
        stops += [] if unreadable is None else [unreadable]
        daily = stored.kill_switch.daily_stop_reason
        if stored.kill_switch.daily_stop_day is not None and daily:
            stops.append(Stop(kind="DAILY_LOSS", reason=daily))
        state = breaker.state()
        return ModeRisk(
            mode=mode,
            run=view.run_id,
            run_status=view.status,
            phase=profile.phase,
            profile=profile.name,
            limits=_limits(profile, figures, view.held, view.trades_today),
            stopped=bool(stops) or breaker.tripped,
            stops=stops,
            breaker_tripped=breaker.tripped,
            breaker_latched=breaker.latched,
            breaker_reason=state.reason,
            breaker_resume_ts=state.resume_at,
            pending_actions=len(stored.pending),
            log=list(stored.log[-10:]),
            breaker_history=history,
        )


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


def shared_switch(shared: HotState, url: str, now_ns: int) -> SharedSwitch:
    """Return the shared kill switch; a server that cannot answer reads as set (fail safe)."""
    try:
        flag = fail_safe_kill_switch(shared, now_ns=now_ns)
    except (CoinswarmError, OSError) as error:  # never a 500: a switch unread stops trading
        logger.warning("the shared kill switch cannot be read: %s", error)
        return SharedSwitch(
            where=_where(url), set=True, by="hot-state", reason=str(error), ts=now_ns
        )
    if flag is None:
        return SharedSwitch(where=_where(url), set=False, by=None, reason=None, ts=None)
    return SharedSwitch(where=_where(url), set=True, by=flag.by, reason=flag.reason, ts=flag.ts_ns)
