"""A run's timeframe: the bar interval it trades, made in memory from finer bars.

`backtest --timeframe 4h` (and paper, and any command that builds a `BacktestRequest`) loads
its files as they are and resamples each with `to_timeframe`, exactly as `coinswarm data
resample` would write it, so the two give the same run. A timeframe finer than the data, or
not a whole multiple of it, is refused: bars cannot be split.
"""

from __future__ import annotations

from coinswarm.data.resample import check_timeframe, to_timeframe
from coinswarm.data.timefmt import format_interval, parse_interval
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import DataError

__all__ = ["on_timeframe", "timeframe_ns"]


def timeframe_ns(label: str) -> int:
    """Return the interval a `--timeframe` label names; raise DataError for an unknown one."""
    try:
        return parse_interval(label)
    except ValueError as error:
        raise DataError(f"--timeframe: {error}") from None


def on_timeframe(series: BarSeries, interval_ns: int) -> BarSeries:
    """Return `series` in bars of `interval_ns` (itself when already so); refuse finer ones."""
    if interval_ns == series.interval_ns:
        return series
    try:
        check_timeframe(series.interval_ns, interval_ns)
    except ValueError:
        msg = (
            f"--timeframe {format_interval(interval_ns)}: {series.instrument} has "
            f"{format_interval(series.interval_ns)} bars; expected a whole multiple of that"
        )
        raise DataError(msg) from None
    return to_timeframe(series, interval_ns).series
