"""Performance metrics of an equity curve, the buy-and-hold benchmark and monthly returns.

Conventions, fixed here so that figures can be compared with other tools:

* The equity series the ratios and drawdowns are computed on is `initial_cash` followed by every
  point of the curve. The opening cash is placed one bar before the first mark, so a run of `n`
  bars has `n` per-bar returns and a loss on the very first bar (an entry fee, say) counts.
* A year is 365 days of 86,400 s, because crypto trades 24/7. The annualisation factor is
  `periods_per_year = 365 * 86_400 s / bar interval` (8,760 for hourly bars, 365 for daily).
* Returns are simple per-bar returns of equity, `e[t] / e[t-1] - 1`; the risk-free rate is 0.
* Ratios that are undefined (too few bars, zero variance, no trades) are NaN in `Metrics` and
  `None` in `Metrics.to_dict()`, which never holds NaN or infinity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from coinswarm.backtest.result import BacktestResult, EquityCurve

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from coinswarm.domain.bar import BarSeries
    from coinswarm.domain.position import RoundTrip

__all__ = [
    "ANNUALISED",
    "DAYS_PER_YEAR",
    "MIN_ANNUALISED_DAYS",
    "NS_PER_YEAR",
    "SIGNIFICANT_DIGITS",
    "Metrics",
    "MonthlyReturn",
    "buy_and_hold_benchmark",
    "buy_and_hold_curve",
    "buy_and_hold_fees",
    "compute_metrics",
    "drawdown_series",
    "monthly_returns",
    "no_bars_metrics",
    "periods_per_year",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DAYS_PER_YEAR = 365
NS_PER_DAY = 86_400 * 1_000_000_000
NS_PER_YEAR = DAYS_PER_YEAR * NS_PER_DAY
SIGNIFICANT_DIGITS = 10
NAN = float("nan")
MIN_ANNUALISED_DAYS = 30
ANNUALISED = ("cagr", "sharpe", "sortino")
"""The figures that extrapolate a run to a year: shown only for runs of at least a month."""


@dataclass(frozen=True, slots=True)
class Metrics:
    """The headline figures of one equity curve and its closed round trips.

    Fractions are plain fractions (0.05 is 5 %); money is in the run's quote currency.

    * `total_return`: `final_equity / initial_cash - 1`.
    * `cagr`: compound annual growth over the calendar time the run covers, from the open of the
      first bar to the close of the last, `last ts - first ts + bar interval`, in 365-day years.
      Infinite when a very short run extrapolates past float range.
    * `sharpe`: `mean(r) / std(r, ddof=1) * sqrt(periods_per_year)` over per-bar returns `r`.
    * `sortino`: `mean(r) / dd * sqrt(periods_per_year)` with the downside deviation
      `dd = sqrt(mean(min(r, 0) ** 2))` taken over *all* periods (target 0, divisor `n`), as
      empyrical and quantstats do. Infinite when the mean is positive and no bar lost money.
    * `max_drawdown`: the largest fall from a running peak, `1 - equity / peak`, a positive
      fraction (above 1 only if equity went negative).
    * `max_drawdown_duration_ns`: the longest time from a peak until equity regained it, or
      until the last mark if it never did, in nanoseconds of the curve's timestamps.
    * `win_rate`: round trips with `pnl > 0` over closed round trips; NaN with no trades,
      because 0 would claim every trade lost.
    * `profit_factor`: gross profit over gross loss (both net of fees); infinite with wins and
      no losses, NaN with neither.
    * `average_trade_pnl` / `average_trade_return`: mean net P&L and mean `return_fraction` per
      round trip; NaN with no trades.
    * `exposure`: fraction of marks with a position open (`curve.exposure > 0`).
    * `trades`: closed round trips. The buy-and-hold benchmark never closes its position, so it
      reports 0 trades and NaN win rate, profit factor and averages.
    """

    initial_cash: Decimal
    final_equity: float
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_duration_ns: int
    win_rate: float
    profit_factor: float
    average_trade_pnl: float
    average_trade_return: float
    exposure: float
    trades: int
    fees_paid: Decimal
    bars: int
    periods_per_year: float

    @property
    def covered_days(self) -> float:
        """Return how many days of bars the metrics cover."""
        return self.bars * DAYS_PER_YEAR / self.periods_per_year

    @property
    def annualised_meaningful(self) -> bool:
        """Return whether CAGR, Sharpe and Sortino say something about this run.

        Each extrapolates to a year; from fewer than `MIN_ANNUALISED_DAYS` days of bars (a
        sandbox session of an afternoon) that measures noise, so displays leave them out.
        """
        return self.covered_days >= MIN_ANNUALISED_DAYS

    @property
    def max_drawdown_duration(self) -> timedelta:
        """Return the longest drawdown as a timedelta (microsecond resolution)."""
        return timedelta(microseconds=self.max_drawdown_duration_ns // 1000)

    def to_dict(self) -> dict[str, float | int | None]:
        """Return the metrics as JSON-safe plain values, stable from run to run.

        Floats and decimals become floats rounded to `SIGNIFICANT_DIGITS` significant digits;
        NaN and infinity become `None`. `max_drawdown_duration_days` is added for reading.
        """
        out: dict[str, float | int | None] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            out[spec.name] = value if isinstance(value, int) else _json_float(value)
        out["max_drawdown_duration_days"] = _json_float(self.max_drawdown_duration_ns / NS_PER_DAY)
        return out


class MonthlyReturn(NamedTuple):
    """The return of one calendar month (UTC), from month-end equity to month-end equity."""

    year: int
    month: int
    ret: float


def periods_per_year(bar_interval_ns: int) -> float:
    """Return the annualisation factor: how many bars of this length fit in a 365-day year."""
    if bar_interval_ns <= 0:
        msg = f"bar interval must be a positive number of nanoseconds, got {bar_interval_ns}"
        raise ValueError(msg)
    return NS_PER_YEAR / bar_interval_ns


def compute_metrics(
    curve: EquityCurve,
    trades: Iterable[RoundTrip],
    *,
    fees_paid: Decimal,
    initial_cash: Decimal,
    bar_interval_ns: int,
) -> Metrics:
    """Compute the `Metrics` of an equity curve and its closed round trips.

    See the module and `Metrics` docstrings for every convention. Raise `ValueError` for an
    empty curve, a non-positive `initial_cash` or a non-positive bar interval.
    """
    if len(curve.ts) == 0:
        msg = "cannot compute metrics of an empty equity curve: expected at least one mark"
        raise ValueError(msg)
    if initial_cash <= 0:
        msg = f"initial cash must be positive, got {initial_cash}"
        raise ValueError(msg)
    factor = periods_per_year(bar_interval_ns)
    ts, equity = _with_opening(curve, float(initial_cash), bar_interval_ns)
    returns = equity[1:] / equity[:-1] - 1.0
    drawdown = drawdown_series(equity)
    closed = tuple(trades)
    final = float(curve.equity[-1])
    growth = final / float(initial_cash)
    trade_stats = _trade_stats(closed)
    return Metrics(
        initial_cash=initial_cash,
        final_equity=final,
        total_return=growth - 1.0,
        cagr=_cagr(growth, int(ts[-1] - ts[0])),
        sharpe=_sharpe(returns, factor),
        sortino=_sortino(returns, factor),
        max_drawdown=float(drawdown.max()),
        max_drawdown_duration_ns=_max_drawdown_duration(ts, drawdown),
        win_rate=trade_stats[0],
        profit_factor=trade_stats[1],
        average_trade_pnl=trade_stats[2],
        average_trade_return=trade_stats[3],
        exposure=float(np.mean(curve.exposure > 0)),
        trades=len(closed),
        fees_paid=fees_paid,
        bars=len(curve.ts),
        periods_per_year=factor,
    )


def no_bars_metrics(
    *, initial_cash: Decimal, final_equity: Decimal, fees_paid: Decimal, bar_interval_ns: int
) -> Metrics:
    """Return the metrics of a run that stepped no bar (a session stopped before its first).

    There is no curve to measure: the return is what the ledger holds (a resumed session's
    earlier fills), every ratio is undefined and nothing was drawn down.
    """
    return Metrics(
        initial_cash=initial_cash,
        final_equity=float(final_equity),
        total_return=float(final_equity / initial_cash) - 1.0,
        cagr=NAN,
        sharpe=NAN,
        sortino=NAN,
        max_drawdown=0.0,
        max_drawdown_duration_ns=0,
        win_rate=NAN,
        profit_factor=NAN,
        average_trade_pnl=NAN,
        average_trade_return=NAN,
        exposure=0.0,
        trades=0,
        fees_paid=fees_paid,
        bars=0,
        periods_per_year=periods_per_year(bar_interval_ns),
    )


def drawdown_series(equity: FloatArray) -> FloatArray:
    """Return `1 - equity / running peak` at every point: 0 at a peak, positive below one."""
    peak = np.maximum.accumulate(equity)
    return np.asarray(1.0 - equity / peak, dtype=np.float64)


def _with_opening(
    curve: EquityCurve, initial_cash: float, bar_interval_ns: int
) -> tuple[IntArray, FloatArray]:
    # The opening cash sits one bar before the first mark: the curve marks each bar's close.
    ts = np.concatenate(([curve.ts[0] - bar_interval_ns], curve.ts)).astype(np.int64)
    equity = np.concatenate(([initial_cash], curve.equity)).astype(np.float64)
    return ts, equity


def _cagr(growth: float, span_ns: int) -> float:
    if span_ns <= 0:
        return NAN
    if growth <= 0:
        return -1.0
    years = span_ns / NS_PER_YEAR
    with np.errstate(over="ignore"):
        return float(np.expm1(math.log(growth) / years))


def _sharpe(returns: FloatArray, factor: float) -> float:
    if len(returns) < 2:
        return NAN
    std = float(np.std(returns, ddof=1))
    if std == 0 or not math.isfinite(std):
        return NAN
    return float(np.mean(returns)) / std * math.sqrt(factor)


def _sortino(returns: FloatArray, factor: float) -> float:
    if len(returns) < 2:
        return NAN
    mean = float(np.mean(returns))
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0:
        return math.inf if mean > 0 else NAN
    return mean / downside * math.sqrt(factor)


def _max_drawdown_duration(ts: IntArray, drawdown: FloatArray) -> int:
    # Each stretch runs from a peak to the next peak (the recovery), or to the last mark when
    # equity never got back; a stretch is a drawdown only if some point inside it is below.
    at_peak = drawdown <= 0
    starts = np.flatnonzero(at_peak)
    last = len(ts) - 1
    ends = np.append(starts[1:], last)
    below = (ends - starts > 1) | ((ends - starts == 1) & ~at_peak[ends])
    if not below.any():
        return 0
    return int((ts[ends] - ts[starts])[below].max())


def _trade_stats(trades: tuple[RoundTrip, ...]) -> tuple[float, float, float, float]:
    """Return win rate, profit factor, mean P&L and mean return of the round trips."""
    if not trades:
        return NAN, NAN, NAN, NAN
    pnl = np.array([float(t.pnl) for t in trades], dtype=np.float64)
    returns = np.array([t.return_fraction for t in trades], dtype=np.float64)
    win_rate = float(np.count_nonzero(pnl > 0)) / len(trades)
    profit_factor = _profit_factor(float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum()))
    return win_rate, profit_factor, float(pnl.mean()), float(returns.mean())


def _profit_factor(gross_win: float, gross_loss: float) -> float:
    if gross_loss > 0:
        return gross_win / gross_loss
    return math.inf if gross_win > 0 else NAN


def _json_float(value: float | Decimal) -> float | None:
    number = float(value)
    if not math.isfinite(number):
        return None
    rounded = float(f"{number:.{SIGNIFICANT_DIGITS}g}")
    # -0.0 and 0.0 print differently in JSON; one zero keeps the output stable.
    return rounded + 0.0


# --- buy and hold -------------------------------------------------------------------------


def buy_and_hold_curve(
    market: Mapping[str, BarSeries],
    timeline_ts: npt.ArrayLike,
    *,
    initial_cash: Decimal,
    fee_rate: Decimal,
) -> EquityCurve:
    """Return the equity of buying every instrument with an equal share of cash and holding.

    Each instrument gets `initial_cash / len(market)`. It is bought at the open of its first
    bar on or after the timeline's start, spending the whole share including the fee
    (`quantity = share / (open * (1 + fee_rate))`), and is marked at each timeline timestamp
    at the close of its latest bar at or before it, so a missing bar carries the last close.
    Until an instrument's first bar its share is held as cash. `exposure` is the invested
    value over equity. The benchmark never sells, so it has no round trips.
    """
    ts = np.asarray(timeline_ts, dtype=np.int64)
    cash_share = float(initial_cash) / len(market) if market else 0.0
    equity = np.full(len(ts), float(initial_cash) if not market else 0.0, dtype=np.float64)
    invested = np.zeros(len(ts), dtype=np.float64)
    for series in market.values():
        value, held = _held_value(series, ts, cash_share, float(fee_rate))
        equity += value
        invested += np.where(held, value, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = np.where(equity > 0, invested / equity, 0.0)
    return EquityCurve(ts=ts, equity=equity, exposure=exposure.astype(np.float64))


def _held_value(
    series: BarSeries, ts: IntArray, cash_share: float, fee_rate: float
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Return one instrument's value at each timestamp and whether it is held by then."""
    first = _entry_index(series, ts)
    if first is None:
        return np.full(len(ts), cash_share, dtype=np.float64), np.zeros(len(ts), np.bool_)
    quantity = cash_share / (float(series.open[first]) * (1.0 + fee_rate))
    latest = np.searchsorted(series.ts, ts, side="right") - 1
    held = latest >= first
    marks = series.close[np.clip(latest, first, None)]
    return np.where(held, quantity * marks, cash_share), held


def _entry_index(series: BarSeries, ts: IntArray) -> int | None:
    """Return the index of the bar the benchmark buys at, or None if none falls in the run."""
    if len(ts) == 0:
        return None
    first = int(np.searchsorted(series.ts, ts[0], side="left"))
    if first >= len(series) or series.ts[first] > ts[-1]:
        return None
    return first


def buy_and_hold_fees(
    market: Mapping[str, BarSeries],
    timeline_ts: npt.ArrayLike,
    *,
    initial_cash: Decimal,
    fee_rate: Decimal,
) -> Decimal:
    """Return the entry fees `buy_and_hold_curve` pays: `share * fee_rate / (1 + fee_rate)` each."""
    ts = np.asarray(timeline_ts, dtype=np.int64)
    if not market:
        return Decimal(0)
    share = initial_cash / len(market)
    bought = sum(1 for s in market.values() if _entry_index(s, ts) is not None)
    return share * fee_rate / (1 + fee_rate) * bought


def buy_and_hold_benchmark(
    result: BacktestResult, *, fee_rate: Decimal
) -> tuple[EquityCurve, Metrics]:
    """Return the buy-and-hold curve over the run's market and timeline, and its metrics."""
    curve = buy_and_hold_curve(
        result.market, result.curve.ts, initial_cash=result.initial_cash, fee_rate=fee_rate
    )
    fees = buy_and_hold_fees(
        result.market, result.curve.ts, initial_cash=result.initial_cash, fee_rate=fee_rate
    )
    metrics = compute_metrics(
        curve,
        (),
        fees_paid=fees,
        initial_cash=result.initial_cash,
        bar_interval_ns=result.bar_interval_ns,
    )
    return curve, metrics


# --- monthly returns ----------------------------------------------------------------------


def monthly_returns(
    curve: EquityCurve, *, start_equity: float | None = None
) -> list[MonthlyReturn]:
    """Return each calendar month's return (UTC) from month-end equity to month-end equity.

    The first month is measured from `start_equity` when given (pass the run's initial cash),
    otherwise from the curve's first mark. A month with no marks is left out, and the next
    month's return then spans the gap.
    """
    if len(curve.ts) == 0:
        return []
    months = curve.ts.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    month_end = np.flatnonzero(np.append(np.diff(months) != 0, True))
    closes = curve.equity[month_end]
    base = float(curve.equity[0]) if start_equity is None else float(start_equity)
    previous = np.concatenate(([base], closes[:-1]))
    out: list[MonthlyReturn] = []
    for month_index, close, prior in zip(months[month_end], closes, previous, strict=True):
        year, month = divmod(int(month_index), 12)
        out.append(MonthlyReturn(1970 + year, month + 1, float(close / prior - 1.0)))
    return out
