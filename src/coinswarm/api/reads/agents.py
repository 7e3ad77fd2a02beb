"""Each agent's track record in one run: its votes, the weight the committee gave it, its hits.

A vote is a hit when its direction (buy +1, sell -1) has the sign of the next bar's
close-to-close return of its instrument: what the committee itself scores (`agents.committee`)
to weigh the agent. Holds and vetoes are not scored, nor is a vote on the last bar (no next
close). The weight is the one stored with the vote: the committee's decayed hit rate of the
agent at that bar. Days are UTC days of the bars voted on, so a backtest's days are market
days. The closes come from the run's rebuilt bars (`market`); without them (a sandbox or live
session) votes and weights are counted and hit rates are None.

A run's votes are read once per change: a six-year committee run holds some hundred thousand.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import exists, func, select

from coinswarm.api.reads.models import AgentDay, AgentRecord, AgentsReport
from coinswarm.domain.bar import BarSeries
from coinswarm.infra.storage import Store
from coinswarm.infra.storage.models import VerdictRow, VoteRow
from coinswarm.risk.profiles import NS_PER_DAY

__all__ = ["AgentsCache", "has_verdicts", "track_records"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Votes:
    ts: Ints
    instrument: list[str]
    agent: list[str]
    direction: Ints
    weight: Floats
    veto: Bools


def _votes(store: Store, run_id: str) -> _Votes:
    query = (
        select(
            VerdictRow.ts,
            VerdictRow.instrument,
            VoteRow.agent,
            VoteRow.direction,
            VoteRow.weight,
            VoteRow.veto,
        )
        .join(VerdictRow, VerdictRow.id == VoteRow.verdict_id)
        .where(VerdictRow.run_id == run_id)
        .order_by(VerdictRow.id, VoteRow.position)
    )
    with store.transaction() as session:
        rows = session.execute(query).all()
    return _Votes(
        ts=np.array([r[0] for r in rows], dtype=np.int64),
        instrument=[r[1] for r in rows],
        agent=[r[2] for r in rows],
        direction=np.array([r[3] for r in rows], dtype=np.int64),
        weight=np.array([r[4] for r in rows], dtype=np.float64),
        veto=np.array([bool(r[5]) for r in rows], dtype=np.bool_),
    )


def _moves(votes: _Votes, market: Mapping[str, BarSeries]) -> Floats:
    """Return each vote's next close-to-close move of its instrument (NaN: none known)."""
    moves = np.full(len(votes.ts), np.nan)
    names = np.array(votes.instrument, dtype=object)
    for symbol, series in market.items():
        chosen = np.flatnonzero(names == symbol)
        if not len(chosen) or len(series) < 2:
            continue
        index = np.searchsorted(series.ts, votes.ts[chosen])
        inside = index < len(series) - 1
        exact = np.zeros(len(chosen), dtype=bool)
        exact[inside] = series.ts[index[inside]] == votes.ts[chosen][inside]
        where = chosen[exact]
        at = index[exact]
        moves[where] = series.close[at + 1] - series.close[at]
    return moves


def _day(day: int) -> str:
    return np.datetime_as_string(np.datetime64(day * NS_PER_DAY, "ns"), unit="D")


def _sums(group: Ints, size: int, values: npt.NDArray[np.generic]) -> Ints:
    return np.bincount(group, weights=values.astype(np.float64), minlength=size).astype(np.int64)


def _record(agent: str, mask: Bools, votes: _Votes, hit: Bools, scored: Bools) -> AgentRecord:
    """Return one agent's record: its totals, and the same per UTC day (one pass each)."""
    direction, weight = votes.direction[mask], votes.weight[mask]
    days, group = np.unique(votes.ts[mask] // NS_PER_DAY, return_inverse=True)
    size = len(days)
    columns = {
        "votes": np.bincount(group, minlength=size),
        "buys": _sums(group, size, direction > 0),
        "sells": _sums(group, size, direction < 0),
        "holds": _sums(group, size, direction == 0),
        "vetoes": _sums(group, size, votes.veto[mask]),
        "scored": _sums(group, size, scored[mask]),
        "hits": _sums(group, size, hit[mask]),
    }
    weights = np.bincount(group, weights=weight, minlength=size) / columns["votes"]
    daily = [
        AgentDay(
            day=_day(int(day)),
            weight=float(weights[i]),
            hit_rate=_rate(int(columns["hits"][i]), int(columns["scored"][i])),
            **{name: int(column[i]) for name, column in columns.items()},
        )
        for i, day in enumerate(days)
    ]
    totals = {name: int(column.sum()) for name, column in columns.items()}
    return AgentRecord(
        agent=agent,
        weight=float(weight[-1]),
        mean_weight=float(weight.mean()),
        hit_rate=_rate(totals["hits"], totals["scored"]),
        days=daily,
        **totals,
    )


def _rate(hits: int, scored: int) -> float | None:
    return hits / scored if scored else None


def track_records(
    store: Store, run_id: str, market: Mapping[str, BarSeries] | None
) -> AgentsReport:
    """Return every agent's record in the run, agents by name."""
    votes = _votes(store, run_id)
    moves = np.full(len(votes.ts), np.nan) if market is None else _moves(votes, market)
    scored = (votes.direction != 0) & ~votes.veto & ~np.isnan(moves)
    hit = scored & (np.nan_to_num(moves) * votes.direction > 0)
    names = np.array(votes.agent, dtype=object)
    return AgentsReport(
        run=run_id,
        hit_basis="unavailable" if market is None else "next bar close",
        agents=[
            _record(agent, names == agent, votes, hit, scored) for agent in sorted(set(votes.agent))
        ],
    )


def has_verdicts(store: Store, run_id: str) -> bool:
    """Tell whether the run stored any committee verdict."""
    with store.transaction() as session:
        return bool(session.scalar(select(exists().where(VerdictRow.run_id == run_id))))


def _stamp(store: Store, run_id: str) -> int:
    query = select(func.max(VerdictRow.id)).where(VerdictRow.run_id == run_id)
    with store.transaction() as session:
        return int(session.scalar(query) or 0)


class AgentsCache:
    """The agents' records of the runs asked for last, read again when a run adds verdicts."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._kept: dict[str, tuple[int, AgentsReport]] = {}
        self._lock = threading.Lock()

    def report(
        self, key: str, store: Store, run_id: str, market: Mapping[str, BarSeries] | None
    ) -> AgentsReport:
        """Return the run's agents' records (see `track_records`)."""
        stamp = _stamp(store, run_id)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        report = track_records(store, run_id, market)
        with self._lock:
            if len(self._kept) >= self._size and key not in self._kept:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = (stamp, report)
        return report
