"""Proven patterns and markets made for them, shared by the pattern agent's tests.

`proven` gives a pattern the walk-forward score a discovery run's closing stores; `at_hour`
conditions fire on chosen bars; `daily_trades` sets the return of each day's one trade.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent_harness import series_from_closes
from coinswarm.data.pattern_file import ExportedPattern
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.pattern import Condition, Pattern, Sample, Score

DSR = 0.97


def proven(
    pattern: Pattern, *, mean: float = 0.01, std: float = 0.01, status: str = "proven"
) -> ExportedPattern:
    """`pattern` with a walk-forward score: +1% a trade, 1% deviation, unless told otherwise."""
    score = Score(
        Sample.OUT_OF_SAMPLE, 0, 10, ("TEST-USD",), pattern.timeframe, 80, 0.6, 1.9,
        n_trials=400, deflated_sharpe=DSR, pbo=0.1, trade_mean=mean, trade_std=std,
    )  # fmt: skip
    return ExportedPattern(pattern.with_score(score), status)


def at_hour(hour: int) -> tuple[Condition, ...]:
    """Conditions that hold on the bars opening at `hour` (UTC) and on no other."""
    return (Condition("hour", ">", hour - 0.5), Condition("hour", "<", hour + 0.5))


def flat(bars: int, instrument: str = "TEST-USD") -> BarSeries:
    return series_from_closes([100.0] * bars, instrument=instrument)


def daily_trades(returns: Sequence[float], instrument: str = "TEST-USD") -> BarSeries:
    """Hourly closes from midnight whose day d moves by returns[d] on its second bar (hour 1)
    and is flat after: a pattern that enters at midnight's close and leaves one bar later
    makes exactly returns[d] (before fees) on day d."""
    closes, price = [], 100.0
    for move in returns:
        closes.append(price)
        price *= 1 + move
        closes += [price] * 23
    return series_from_closes(closes, instrument=instrument)
