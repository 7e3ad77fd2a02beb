"""What a backtest run produces: the equity curve, the trades, the fills and their metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from coinswarm.domain.bar import BarSeries
from coinswarm.domain.costs import FillModel
from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order
from coinswarm.domain.position import RoundTrip
from coinswarm.risk.events import RiskEvent, RiskNote
from coinswarm.strategies.base import Rationale

__all__ = ["BacktestResult", "EquityCurve"]


@dataclass(frozen=True, slots=True, eq=False)
class EquityCurve:
    """Account equity marked at the close of every timestamp of the run, in the quote currency.

    `exposure` is the gross value of open positions divided by equity at the same close
    (0 when flat, 1 when all-in).
    """

    ts: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """Everything a report or a check needs to know about one run.

    `costs` are the fees, slippage and volume cap the simulated fills assumed; every report
    states them.
    """

    strategy: str
    parameters: dict[str, str]
    initial_cash: Decimal
    final_equity: Decimal
    quote_currency: str
    bar_interval_ns: int
    curve: EquityCurve
    trades: tuple[RoundTrip, ...]
    fills: tuple[Fill, ...]
    fees_paid: Decimal
    costs: FillModel
    market: dict[str, BarSeries] = field(default_factory=dict)
    orders: tuple[Order, ...] = ()
    rationales: dict[str, Rationale] = field(default_factory=dict)
    risk_notes: dict[str, RiskNote] = field(default_factory=dict)
    risk_events: tuple[RiskEvent, ...] = ()
