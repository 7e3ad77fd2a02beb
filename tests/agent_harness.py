"""Run voting agents over bar series the way the engine does, and collect their votes.

Bars of several series are merged in time order (ties in listing order, as the engine does),
each one is revealed to a real `fenced_view` just before the agent sees it, and the agent's
`observe` runs inside the backtest fence that refuses file and network access. The context's
exposures are plain values that a script may change before each bar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from coinswarm.agents.base import Agent, Vote
from coinswarm.data.view import MarketView, fenced_view
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.strategies.fence import fenced

START_NS = 1_577_836_800 * 1_000_000_000  # 2020-01-01T00:00:00Z


class ScriptedContext:
    """An `AgentContext` over a fenced view, with exposures the test sets."""

    def __init__(self, market: MarketView) -> None:
        self._market = market
        self.now = 0
        self.exposures: dict[str, float] = {}
        self.gross: float | None = None  # None: the sum of absolute exposures

    @property
    def market(self) -> MarketView:
        return self._market

    def now_ns(self) -> int:
        return self.now

    def exposure(self, instrument: str) -> float:
        return self.exposures.get(instrument, 0.0)

    def gross_exposure(self) -> float:
        if self.gross is not None:
            return self.gross
        return sum(abs(value) for value in self.exposures.values())


Script = Callable[[int, Bar, ScriptedContext], None]
"""Called before each bar with its step number, the bar and the context, to set exposures."""


class Step(NamedTuple):
    bar: Bar
    vote: Vote | None


def run_agent(agent: Agent, *series: BarSeries, script: Script | None = None) -> list[Step]:
    """Feed every bar of `series`, merged in time order, to `agent`; return bars and votes."""
    market = {s.instrument: s for s in series}
    view, reveal = fenced_view(market)
    context = ScriptedContext(view)
    steps: list[Step] = []
    with fenced():
        for step, (position, row) in enumerate(_schedule(series)):
            bar = series[position].bar(row)
            reveal(position, row + 1)
            context.now = bar.ts
            if script is not None:
                script(step, bar, context)
            steps.append(Step(bar, agent.observe(bar, context)))
    return steps


def votes_of(agent: Agent, *series: BarSeries, script: Script | None = None) -> list[Vote | None]:
    """Return the agent's vote (or None) on every bar of `series`, in time order."""
    return [step.vote for step in run_agent(agent, *series, script=script)]


def _schedule(series: Sequence[BarSeries]) -> list[tuple[int, int]]:
    times = np.concatenate([s.ts for s in series])
    which = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(series)])
    rows = np.concatenate([np.arange(len(s), dtype=np.int64) for s in series])
    order = np.lexsort((which, times))
    return list(zip(which[order].tolist(), rows[order].tolist(), strict=True))


def exposure_script(
    exposures: Mapping[str, Sequence[float]], gross: Sequence[float] | None = None
) -> Script:
    """Return a script that sets each instrument's exposure (and the gross) per step number.

    Past the end of a sequence its last value holds.
    """

    def script(step: int, bar: Bar, context: ScriptedContext) -> None:
        for instrument, values in exposures.items():
            context.exposures[instrument] = values[min(step, len(values) - 1)]
        if gross is not None:
            context.gross = gross[min(step, len(gross) - 1)]

    return script


def series_from_closes(
    closes: Sequence[float],
    *,
    instrument: str = "TEST-USD",
    volumes: Sequence[float] | None = None,
    steps: Sequence[int] | None = None,
    interval_ns: int = NS_PER_HOUR,
) -> BarSeries:
    """Build a series from closes: each bar opens at the previous close, wicks to its body.

    `steps` gives the time from each bar to the next (len(closes) - 1 of them, default one
    interval); `volumes` default to 100 a bar.
    """
    close = np.asarray(closes, dtype=np.float64)
    n = len(close)
    open_ = np.concatenate([close[:1], close[:-1]])
    gaps = np.full(max(n - 1, 0), interval_ns, np.int64) if steps is None else np.asarray(steps)
    ts = START_NS + np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)
    volume = np.full(n, 100.0) if volumes is None else np.asarray(volumes, dtype=np.float64)
    return BarSeries(
        instrument,
        interval_ns,
        ts,
        open_,
        np.maximum(open_, close),
        np.minimum(open_, close),
        close,
        volume,
    )


def cut(series: BarSeries, bars: int) -> BarSeries:
    """Return the first `bars` bars of `series`."""
    if bars >= len(series):
        return series
    return series.between(end_ns=int(series.ts[bars]))


def first_divergence(
    make_agent: Callable[[Sequence[BarSeries]], Agent],
    market: Sequence[BarSeries],
    end_ns: int,
    script: Script | None = None,
) -> int | None:
    """Return the first step where votes on the data before `end_ns` differ from the full run.

    `make_agent` receives the data the run is about, as a careless developer might hand it to an
    agent; an honest agent ignores it. None means the prefix run equals the start of the full
    run, bar for bar and vote for vote; a difference means the agent used data from after a
    bar to vote on it.
    """
    full = run_agent(make_agent(market), *market, script=script)
    prefix_market = [s.between(end_ns=end_ns) for s in market]
    prefix = run_agent(make_agent(prefix_market), *prefix_market, script=script)
    for step, (seen, expected) in enumerate(zip(prefix, full, strict=False)):
        if seen != expected:
            return step
    return None
