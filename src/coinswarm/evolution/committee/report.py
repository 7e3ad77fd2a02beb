"""The figures of the committee walk-forward: what each strategy did over each traded period.

A leg is one strategy over one period, kept as what its figures come from: the equity curve,
the notional it traded and the fees it paid. The figures of one leg, or of several periods
chained (each period starts from the same cash; their per-bar returns are compounded, as if
the equity carried over), are:

* return, annualised Sharpe and max drawdown: `backtest.metrics.compute_metrics` on the
  (chained) curve, the conventions every backtest report uses;
* turnover: traded notional over the leg's average equity, per 365-day year (time-weighted
  over chained periods): 12 means the book was traded through a dozen times a year;
* fees: what the fills paid, in the quote currency (summed over periods), and as a share of
  average equity per year, the drag on return that fees alone cause;
* fills, closed round trips, and orders the risk layer refused.

Buy-and-hold buys every instrument with an equal share at each period's first open, paying
the fee on the way in, and holds (as `backtest.metrics.buy_and_hold_curve`): its turnover is
one purchase of the book per period.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from coinswarm.backtest.metrics import (
    buy_and_hold_fees,
    compute_metrics,
    periods_per_year,
)
from coinswarm.backtest.result import BacktestResult, EquityCurve
from coinswarm.data.timefmt import to_ns
from coinswarm.domain.bar import BarSeries

__all__ = [
    "COLUMNS",
    "HOLD",
    "Figures",
    "Leg",
    "Period",
    "calendar_years",
    "chained_curve",
    "committee_leg",
    "figure_cells",
    "figures",
    "history_before",
    "hold_leg",
    "reason_kind",
    "render_table",
]

IntArray = npt.NDArray[np.int64]
HOLD = "buy-and-hold"


@dataclass(frozen=True, slots=True)
class Period:
    """A traded period `[start_ns, end_ns)`, named for the tables."""

    label: str
    start_ns: int
    end_ns: int

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            msg = f"period {self.label}: expected its end after its start"
            raise ValueError(msg)


def calendar_years(years: Sequence[int]) -> tuple[Period, ...]:
    """Return one period per calendar year (UTC), in order; refuse a repeated or unsorted
    year, since the walk-forward trades each period once, after the one before."""
    if not years or list(years) != sorted(set(years)):
        msg = f"expected increasing distinct years, found {list(years)}"
        raise ValueError(msg)
    return tuple(
        Period(
            str(year),
            to_ns(datetime(year, 1, 1, tzinfo=UTC)),
            to_ns(datetime(year + 1, 1, 1, tzinfo=UTC)),
        )
        for year in years
    )


def history_before(
    market: Sequence[BarSeries], period: Period, *, min_bars: int = 2
) -> list[BarSeries]:
    """Return each series' bars that open before `period` starts: all a discovery for that
    period may see. An instrument with fewer than `min_bars` of them is left out."""
    cut = [series.between(None, period.start_ns) for series in market]
    return [series for series in cut if len(series) >= min_bars]


@dataclass(frozen=True, slots=True, eq=False)
class Leg:
    """One strategy traded over one period: its curve, and what it traded and paid."""

    strategy: str
    period: str
    curve: EquityCurve
    initial_cash: Decimal
    bar_interval_ns: int
    traded_notional: float
    fees: Decimal
    fills: int
    round_trips: int
    refused: int

    @property
    def years(self) -> float:
        return len(self.curve.ts) / periods_per_year(self.bar_interval_ns)

    @property
    def average_equity(self) -> float:
        return float(np.mean(self.curve.equity))


def committee_leg(strategy: str, period: str, result: BacktestResult, *, refused: int) -> Leg:
    """Return the leg of a backtest: its curve, and the notional and fees of its fills."""
    return Leg(
        strategy=strategy,
        period=period,
        curve=result.curve,
        initial_cash=result.initial_cash,
        bar_interval_ns=result.bar_interval_ns,
        traded_notional=float(sum((fill.notional for fill in result.fills), Decimal(0))),
        fees=result.fees_paid,
        fills=len(result.fills),
        round_trips=len(result.trades),
        refused=refused,
    )


def hold_leg(period: str, result: BacktestResult, curve: EquityCurve, fee_rate: Decimal) -> Leg:
    """Return buy-and-hold's leg over a backtest's market and timeline (`curve` is its
    `buy_and_hold_curve`): one purchase per instrument, each of an equal share net of fee."""
    fees = buy_and_hold_fees(
        result.market, curve.ts, initial_cash=result.initial_cash, fee_rate=fee_rate
    )
    bought = sum(1 for series in result.market.values() if _bought(series, curve.ts))
    share = result.initial_cash / len(result.market)
    return Leg(
        strategy=HOLD,
        period=period,
        curve=curve,
        initial_cash=result.initial_cash,
        bar_interval_ns=result.bar_interval_ns,
        traded_notional=float(share / (1 + fee_rate) * bought),
        fees=fees,
        fills=bought,
        round_trips=0,
        refused=0,
    )


def _bought(series: BarSeries, ts: IntArray) -> bool:
    """Whether buy-and-hold buys `series` over the timeline `ts` (it has a bar inside it)."""
    first = int(np.searchsorted(series.ts, ts[0]))
    return first < len(series) and int(series.ts[first]) <= int(ts[-1])


@dataclass(frozen=True, slots=True)
class Figures:
    """The report's columns for one leg or for chained legs (see the module docstring)."""

    total_return: float
    sharpe: float
    max_drawdown: float
    turnover: float  # traded notional / average equity, per year
    fees: Decimal
    fee_drag: float  # fees / average equity, per year
    fills: int
    round_trips: int
    refused: int
    years: float


def chained_curve(legs: Sequence[Leg]) -> EquityCurve:
    """Return the legs' curves end to end, each rescaled so that it starts where the one
    before ended: per-bar returns compounded over the periods."""
    if not legs or any(len(leg.curve.ts) == 0 for leg in legs):
        raise ValueError("expected at least one leg, each with an equity curve")
    scale, parts = 1.0, []
    for leg in legs:
        parts.append(leg.curve.equity * scale)
        scale *= float(leg.curve.equity[-1]) / float(leg.initial_cash)
    return EquityCurve(
        ts=np.concatenate([leg.curve.ts for leg in legs]).astype(np.int64),
        equity=np.concatenate(parts).astype(np.float64),
        exposure=np.concatenate([leg.curve.exposure for leg in legs]).astype(np.float64),
    )


def figures(legs: Sequence[Leg]) -> Figures:
    """Return the figures of one leg, or of several periods of one strategy chained in order."""
    if (
        len({leg.bar_interval_ns for leg in legs}) > 1
        or len({leg.initial_cash for leg in legs}) > 1
    ):
        raise ValueError("expected legs on one bar interval, each starting from the same cash")
    curve = chained_curve(legs)
    first = legs[0]
    metrics = compute_metrics(
        curve,
        (),
        fees_paid=Decimal(0),
        initial_cash=first.initial_cash,
        bar_interval_ns=first.bar_interval_ns,
    )
    years = sum(leg.years for leg in legs)
    return Figures(
        total_return=metrics.total_return,
        sharpe=metrics.sharpe,
        max_drawdown=metrics.max_drawdown,
        turnover=sum(leg.traded_notional / leg.average_equity for leg in legs) / years,
        fees=sum((leg.fees for leg in legs), Decimal(0)),
        fee_drag=sum(float(leg.fees) / leg.average_equity for leg in legs) / years,
        fills=sum(leg.fills for leg in legs),
        round_trips=sum(leg.round_trips for leg in legs),
        refused=sum(leg.refused for leg in legs),
        years=years,
    )


COLUMNS = (
    "period",
    "bars",
    "strategy",
    "return",
    "Sharpe",
    "max DD",
    "turnover/yr",
    "fees USDT",
    "fees/yr",
    "fills",
    "round trips",
    "refused",
)


def figure_cells(period: str, timeframe: str, strategy: str, row: Figures) -> list[str]:
    """Return one table row's cells, in `COLUMNS` order."""
    sharpe = "-" if np.isnan(row.sharpe) else f"{row.sharpe:.2f}"
    return [
        period,
        timeframe,
        strategy,
        f"{row.total_return:+.1%}",
        sharpe,
        f"{row.max_drawdown:.1%}",
        f"{row.turnover:.1f}x",
        f"{row.fees:,.0f}",
        f"{row.fee_drag:.1%}",
        str(row.fills),
        str(row.round_trips),
        str(row.refused),
    ]


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a plain text table: the first three columns left-aligned, the rest right."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i < 3 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


_FIRST_FIGURE = re.compile(r"-?\d[\d,.]*%? ")


def reason_kind(reason: str) -> str:
    """Return one failed check of a verdict without its measured figure, so that the same
    check failed by many patterns counts as one reason ("deflated Sharpe < 0.95 for 2815
    trials" for "deflated Sharpe 0.41 < 0.95 for 2815 trials")."""
    return _FIRST_FIGURE.sub("", reason, count=1)
