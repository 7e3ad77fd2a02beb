"""A pattern's record over one window of a dataset: its trades and its daily returns.

Each instrument is traded on its own; the pattern's return on a day is the equal-weight mean
of its instruments' log returns that day (an instrument without bars that day adds 0). Daily
buckets put 1h, 4h and 1d patterns on one footing, and give the statistics (Sharpe, PBO, the
reality check) series of a size they can handle over years of hourly bars.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from coinswarm.domain.pattern import Pattern, Sample, Score
from coinswarm.evolution.dataset import NS_PER_DAY, Dataset
from coinswarm.evolution.evaluate import DEFAULT_FEE_RATE, evaluate
from coinswarm.evolution.windows import Window

__all__ = [
    "DAYS_PER_YEAR",
    "InstrumentTrades",
    "ScoreItem",
    "WindowResult",
    "score_item",
    "score_window",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DAYS_PER_YEAR = 365.0  # crypto trades every day
ScoreItem = tuple[str, int, int]  # a pattern's JSON and a window: small, sent to a worker


@dataclass(frozen=True, slots=True, eq=False)
class InstrumentTrades:
    """One instrument's trades in a window, as the random-entry test needs them.

    The market's own bar returns over the window are the same for every pattern, so they do
    not travel with each result (they would be most of its bytes):
    `Market.log_returns(start, start + bars)` gives them.
    """

    instrument: str
    start: int  # the window's first bar, as an index into the market's series
    bars: int
    entries: IntArray  # relative to the window's first bar
    lengths: IntArray
    returns: FloatArray  # each trade's net simple return, fees included


@dataclass(frozen=True, slots=True, eq=False)
class WindowResult:
    """A pattern's record over one window: daily log returns (equal-weight over instruments)."""

    pattern_id: str
    window: Window
    daily: FloatArray
    trades: int
    bars_held: int
    bars: int
    per_instrument: tuple[InstrumentTrades, ...]

    @property
    def net_return(self) -> float:
        return math.expm1(float(np.sum(self.daily)))

    @property
    def sharpe(self) -> float:
        """Annualised Sharpe ratio of the daily returns (0 for a flat record)."""
        if len(self.daily) < 2:
            return 0.0
        sd = float(np.std(self.daily, ddof=1))
        if sd == 0.0:
            return 0.0
        return float(np.mean(self.daily)) / sd * math.sqrt(DAYS_PER_YEAR)

    @property
    def trade_returns(self) -> FloatArray:
        """Every trade's net return, instrument by instrument."""
        return np.concatenate([t.returns for t in self.per_instrument] or [np.zeros(0)])

    @property
    def max_drawdown(self) -> float:
        """The deepest fall of the compounded equity curve from its high, as a fraction."""
        curve = np.concatenate(([0.0], np.cumsum(self.daily)))
        return float(1.0 - np.exp(np.min(curve - np.maximum.accumulate(curve))))

    def score(self, sample: Sample, pattern: Pattern, dataset: Dataset, cycle: int) -> Score:
        return Score(
            sample=sample,
            start_ns=self.window.start_ns,
            end_ns=self.window.end_ns,
            instruments=dataset.instruments,
            timeframe=pattern.timeframe,
            trades=self.trades,
            net_return=self.net_return,
            sharpe=self.sharpe,
            max_drawdown=self.max_drawdown,
            exposure=self.bars_held / self.bars if self.bars else 0.0,
            cycle=cycle,
        )


def score_window(
    pattern: Pattern,
    dataset: Dataset,
    window: Window,
    *,
    fee_rate: float = DEFAULT_FEE_RATE,
) -> WindowResult:
    """Trade `pattern` on every instrument over `window`; return its pooled daily record."""
    first_day = window.start_ns // NS_PER_DAY
    n_days = -(-window.end_ns // NS_PER_DAY) - first_day
    daily = np.zeros(n_days)
    trades = held = bars = 0
    per_instrument = []
    markets = dataset.markets(pattern.timeframe)
    for market in markets:
        a, b = market.bounds(window.start_ns, window.end_ns)
        if b - a < 2:
            continue
        series = market.series
        result = evaluate(
            pattern,
            series.open,
            series.close,
            market.features.values,
            start=a,
            end=b,
            fee_rate=fee_rate,
        )
        # Each instrument's days summed on their own, then added: the same sums, in the same
        # order, as adding each instrument's `np.bincount` (and so the same bits).
        own = np.zeros(n_days)
        _add_by_day(
            own, market.days, first_day, a, result.bar_returns, result.entries, result.exits
        )
        daily += own
        trades += result.trades
        held += result.bars_held
        bars += b - a
        per_instrument.append(
            InstrumentTrades(
                series.instrument,
                a,
                b - a,
                result.entries - a,
                result.exits - result.entries,
                result.trade_returns,
            )
        )
    return WindowResult(
        pattern_id=pattern.id,
        window=window,
        daily=daily / len(markets),
        trades=trades,
        bars_held=held,
        bars=bars,
        per_instrument=tuple(per_instrument),
    )


def score_item(context: tuple[Dataset, float], item: ScoreItem) -> WindowResult:
    """Score one pattern over one window: what a discovery run's workers run.

    It lives here, beside what it needs and no more, because a worker process imports the
    module that defines it by name: this module loads in a fraction of the time that the run's
    (the store, the proof's statistics) does, and every worker pays that once when it starts.
    """
    dataset, fee_rate = context
    pattern_json, start_ns, end_ns = item
    window = Window(start_ns, end_ns)
    return score_window(Pattern.from_json(pattern_json), dataset, window, fee_rate=fee_rate)


@numba.njit(cache=True, nogil=True)
def _add_by_day(  # noqa: PLR0917 - numba compiles plain positional arrays and scalars
    daily: FloatArray,
    days: IntArray,
    first_day: int,
    start: int,
    bar_returns: FloatArray,
    entries: IntArray,
    exits: IntArray,
) -> None:
    """Add each bar's return to its day's total, as `np.bincount(days, weights)` does.

    Only the bars of a trade (entry bar to exit bar) are visited: every other bar's return is
    0, and adding 0 changes no sum, so skipping them saves most of the window's bars.
    """
    last = start + len(bar_returns) - 1
    for i in range(len(entries)):
        for t in range(entries[i], min(exits[i], last) + 1):
            daily[days[t] - first_day] += bar_returns[t - start]
