"""Rebuild the equity curve after a run from the fills and the closes, in one vectorised pass.

The ledger holds the exact Decimal account; marking it to market on every bar in Decimal would
dominate a backtest's run time. Cash and positions only change at fills, so the curve is cash
plus position times close, with both stepping at fill times: float64 is ample for metrics and
charts, and the final equity of the run still comes from the Decimal ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from coinswarm.backtest.result import EquityCurve
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.fill import Fill

__all__ = ["equity_curve", "timeline"]


def timeline(market: Mapping[str, BarSeries]) -> npt.NDArray[np.int64]:
    """Return every bar time of every instrument, once each, in order."""
    return np.unique(np.concatenate([s.ts for s in market.values()]))


def _marks(series: BarSeries, times: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Return the latest close at or before each time (0 before the first bar, and for an
    instrument a live session held without ever seeing its bar)."""
    if not len(series):
        return np.zeros(len(times))
    index = np.searchsorted(series.ts, times, side="right") - 1
    marks = series.close[np.clip(index, 0, None)].astype(np.float64)
    marks[index < 0] = 0.0
    return marks


def equity_curve(
    market: Mapping[str, BarSeries],
    fills: Sequence[Fill],
    *,
    initial_cash: Decimal,
    quote_currency: str,
) -> EquityCurve:
    """Return equity and gross exposure at the close of every time on the run's timeline."""
    times = timeline(market)
    at = np.searchsorted(times, np.array([f.ts for f in fills], dtype=np.int64))
    # A live session books fills the exchange made after the last bar its feed closed: they
    # count at that last bar, the latest point of the curve.
    at = np.minimum(at, max(len(times) - 1, 0))
    cash_moves = np.zeros(len(times))
    holdings = {symbol: np.zeros(len(times)) for symbol in market}
    for fill, where in zip(fills, at.tolist(), strict=True):
        signed = float(fill.quantity) * fill.side.sign
        cash_moves[where] -= signed * float(fill.price)
        if fill.fee_currency == quote_currency:
            cash_moves[where] -= float(fill.fee)
        else:  # charged in the base currency: the exchange kept some of the coins
            signed -= float(fill.fee)
        holdings[fill.instrument][where] += signed
    cash = float(initial_cash) + np.cumsum(cash_moves)
    gross = np.zeros(len(times))
    equity = cash.copy()
    for symbol, moves in holdings.items():
        value = np.cumsum(moves) * _marks(market[symbol], times)
        equity += value
        gross += np.abs(value)
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = np.where(equity > 0, gross / equity, 0.0)
    return EquityCurve(ts=times, equity=equity, exposure=exposure)
