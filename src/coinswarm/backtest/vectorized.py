"""Vectorised `sma-cross` for research: whole parameter grids in one process, no loop over bars.

This is the research twin of the event-driven engine, not a replacement for it: it knows one
strategy, trades one instrument all-in, and does its money in float64. What it must share with
the engine is every decision, bar for bar, so the spec is repeated here:

* long only; fast and slow simple moving averages of close;
* on the close of bar t, a cross above (fast_t > slow_t and fast_{t-1} <= slow_{t-1}) while flat
  buys with all cash at the open of bar t+1, quantity = cash / (open * (1 + fee));
* a cross below (fast_t < slow_t and fast_{t-1} >= slow_{t-1}) while long sells everything at
  the open of bar t+1, proceeds = quantity * open * (1 - fee);
* a position still open at the end is valued at the last close with no exit fee; a signal on
  the last bar never fills;
* with `slippage` (the engine's default model, `SweepSlippage`), every fill moves against us by
  the model's figure on its bar, sized on the quantity the cash buys at the unslipped open, as
  the simulated exchange does; without it there is none (the peers' terms).

Averages come from a float64 prefix sum, which can differ from a correctly rounded window sum in
the last few bits. A crossing decided on those bits would differ from the engine's, so every bar
where the two averages are closer than a proven bound on that error is decided again with
`math.fsum` over the window (the reference definition). On real prices only a handful of bars per
grid need it; everywhere else the prefix-sum sign is provably the exact one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import DataError, NonFiniteValueError
from coinswarm.domain.slippage import SlippageModel

__all__ = [
    "SmaCrossTrades",
    "SweepResult",
    "SweepSlippage",
    "sma_cross_sweep",
    "sma_cross_trades",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2
# Covers the bound's own rounding and the reference's fsum-then-divide (two roundings): being
# generous only sends a few more bars to the exact path, never a wrong sign past it.
_SAFETY = 2.0


@dataclass(frozen=True, slots=True, eq=False)
class SweepSlippage:
    """The slippage model (`domain.slippage.SlippageModel`) in float64 over one series' bars."""

    range_bps: FloatArray  # floor + range part of each bar, before impact and ceiling
    volume: FloatArray
    impact_bps: float
    ceiling_bps: float

    @classmethod
    def of(cls, series: BarSeries, model: SlippageModel | None = None) -> SweepSlippage:
        """Return `model` (by default the engine's default) priced on `series`' bars."""
        model = model or SlippageModel()
        spread = (series.high - series.low) / series.open
        range_bps = float(model.floor_bps) + float(model.range_share) * spread * 10_000
        return cls(range_bps, series.volume, float(model.impact_bps), float(model.ceiling_bps))

    def rate(self, bar: int, quantity: float) -> float:
        """Return the adverse slippage of a fill of `quantity` on `bar`, as a fraction."""
        volume = float(self.volume[bar])
        share = 1.0 if volume <= 0 else min(1.0, quantity / volume)
        bps = float(self.range_bps[bar]) + self.impact_bps * math.sqrt(share)
        return min(bps, self.ceiling_bps) / 10_000


@dataclass(frozen=True, slots=True, eq=False)
class SmaCrossTrades:
    """The fills of one `sma-cross` run, as bar indices into the input and fill prices.

    `entry_*` has one element per entry, `exit_*` one per closed round trip, so a position still
    open at the end is the last entry without a matching exit.
    """

    fast: int
    slow: int
    entry_index: IntArray
    entry_price: FloatArray
    exit_index: IntArray
    exit_price: FloatArray
    final_equity: float

    @property
    def round_trips(self) -> int:
        """Return the number of closed trades; an open position at the end does not count."""
        return len(self.exit_index)

    @property
    def is_open_at_end(self) -> bool:
        """Return whether the run ends long."""
        return len(self.entry_index) > len(self.exit_index)


@dataclass(frozen=True, slots=True, eq=False)
class SweepResult:
    """One row per valid (fast, slow) combination, in the order the grid was walked."""

    fast: IntArray
    slow: IntArray
    final_equity: FloatArray
    round_trips: IntArray
    initial_cash: float
    fee_rate: float

    def __len__(self) -> int:
        return len(self.fast)

    def row(self, fast: int, slow: int) -> int:
        """Return the row index of one combination, or raise KeyError if it was not swept."""
        hits = np.flatnonzero((self.fast == fast) & (self.slow == slow))
        if len(hits) == 0:
            msg = f"combination fast={fast}, slow={slow} is not in this sweep"
            raise KeyError(msg)
        return int(hits[0])


def sma_cross_trades(
    open_: npt.ArrayLike,
    close: npt.ArrayLike,
    fast: int,
    slow: int,
    fee_rate: float,
    *,
    initial_cash: float = 10_000.0,
    slippage: SweepSlippage | None = None,
) -> SmaCrossTrades:
    """Run `sma-cross` for one combination and return its fills and final equity."""
    opens, closes = _validated_prices(open_, close)
    _check_money(fee_rate, initial_cash)
    _check_windows(fast, slow)
    _check_slippage(slippage, opens)
    cache = _SmaCache(closes)
    entries, exits = _fill_bars(cache, fast, slow)
    if slippage is not None:
        run = _Slipped(opens, closes, fee_rate, slippage)
        equity = run.final_equity(entries, exits, initial_cash)
        return SmaCrossTrades(
            fast, slow, entries, run.entry_prices(), exits, run.exit_prices(), equity
        )
    equity = _final_equity(
        opens,
        closes,
        entries,
        exits,
        fee_rate=fee_rate,
        initial_cash=initial_cash,
    )
    return SmaCrossTrades(
        fast,
        slow,
        entries,
        opens[entries],
        exits,
        opens[exits],
        equity,
    )


def sma_cross_sweep(
    open_: npt.ArrayLike,
    close: npt.ArrayLike,
    fast_windows: Iterable[int],
    slow_windows: Iterable[int],
    *,
    fee_rate: float,
    initial_cash: float = 10_000.0,
    slippage: SweepSlippage | None = None,
) -> SweepResult:
    """Run `sma-cross` for every combination with fast < slow and return one row for each.

    Each distinct window's average is computed once and shared by every combination using it.
    With `slippage`, each combination's round trips are compounded one by one (a fill's impact
    depends on the cash it spends), which is slower than the product without it.
    """
    opens, closes = _validated_prices(open_, close)
    _check_money(fee_rate, initial_cash)
    _check_slippage(slippage, opens)
    fasts, slows = list(fast_windows), list(slow_windows)  # either may be a one-shot iterator
    combos = [(f, s) for s in slows for f in fasts if f < s]
    for fast, slow in combos:
        _check_windows(fast, slow)
    cache = _SmaCache(closes)
    equity = np.empty(len(combos), dtype=np.float64)
    trips = np.empty(len(combos), dtype=np.int64)
    for row, (fast, slow) in enumerate(combos):
        entries, exits = _fill_bars(cache, fast, slow)
        if slippage is not None:
            run = _Slipped(opens, closes, fee_rate, slippage)
            equity[row] = run.final_equity(entries, exits, initial_cash)
        else:
            equity[row] = _final_equity(
                opens,
                closes,
                entries,
                exits,
                fee_rate=fee_rate,
                initial_cash=initial_cash,
            )
        trips[row] = len(exits)
    return SweepResult(
        np.array([f for f, _ in combos], dtype=np.int64),
        np.array([s for _, s in combos], dtype=np.int64),
        equity,
        trips,
        initial_cash,
        fee_rate,
    )


def _validated_prices(open_: npt.ArrayLike, close: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    opens = np.ascontiguousarray(open_, dtype=np.float64)
    closes = np.ascontiguousarray(close, dtype=np.float64)
    if opens.ndim != 1 or opens.shape != closes.shape:
        msg = f"expected open and close as 1-D arrays of one length, found {opens.shape} and "
        msg += f"{closes.shape}"
        raise DataError(msg)
    for name, column in (("open", opens), ("close", closes)):
        if not np.isfinite(column).all():
            msg = f"expected finite {name} prices, found NaN or infinity at bar "
            msg += f"{int(np.flatnonzero(~np.isfinite(column))[0])}"
            raise NonFiniteValueError(msg)
        # The error bound on the averages assumes positive terms; real prices always are.
        if (column <= 0).any():
            msg = f"expected positive {name} prices, found {column.min()}"
            raise DataError(msg, field=name)
    return opens, closes


def _check_money(fee_rate: float, initial_cash: float) -> None:
    if not 0.0 <= fee_rate < 1.0:
        msg = f"expected a fee rate in [0, 1), found {fee_rate}"
        raise ValueError(msg)
    if not (math.isfinite(initial_cash) and initial_cash > 0):
        msg = f"expected positive finite initial cash, found {initial_cash}"
        raise ValueError(msg)


def _check_slippage(slippage: SweepSlippage | None, opens: FloatArray) -> None:
    if slippage is not None and slippage.range_bps.shape != opens.shape:
        msg = f"expected slippage over the {len(opens)} bars, found {slippage.range_bps.shape}"
        raise DataError(msg)


def _check_windows(fast: int, slow: int) -> None:
    if not 1 <= fast < slow:
        msg = f"expected windows with 1 <= fast < slow, found fast={fast}, slow={slow}"
        raise ValueError(msg)


class _SmaCache:
    """Moving averages of one close series, each window computed once, with error bounds."""

    def __init__(self, close: FloatArray) -> None:
        self.close = close
        self._prefix = np.concatenate(([0.0], np.cumsum(close)))
        # Any order of summing j positive terms errs by at most (j-1)u * (exact sum); the 1.01
        # absorbs the difference between the exact sum and the computed one used here.
        terms = np.arange(len(self._prefix), dtype=np.float64)
        self._prefix_error = 1.01 * _UNIT_ROUNDOFF * terms * self._prefix
        self._entries: dict[int, tuple[FloatArray, FloatArray]] = {}
        # Reused by every combination: fresh full-length float temporaries are large enough to
        # be mapped and unmapped by the allocator each time, and the page faults that follow
        # more than doubled the time of a sweep over the BTC file.
        self.gap_buffer = np.empty(len(close))
        self.tolerance_buffer = np.empty(len(close))

    def get(self, window: int) -> tuple[FloatArray, FloatArray]:
        """Return the average over `window` bars and a bound on its distance to the reference.

        Both arrays are aligned with the input: element t is the average of bars t-window+1..t,
        and the first `window - 1` elements are NaN.
        """
        if window not in self._entries:
            self._entries[window] = self._compute(window)
        return self._entries[window]

    def _compute(self, window: int) -> tuple[FloatArray, FloatArray]:
        n = len(self.close)
        sma = np.full(n, np.nan)
        bound = np.full(n, np.nan)
        if window <= n:
            top, bottom = self._prefix[window:], self._prefix[: n + 1 - window]
            sma[window - 1 :] = (top - bottom) / window
            # Prefix-sum errors, then the subtraction, the division and the reference's own
            # two roundings, each at most u times the average.
            carried = (self._prefix_error[window:] + self._prefix_error[: n + 1 - window]) / window
            bound[window - 1 :] = _SAFETY * (carried + 4.1 * _UNIT_ROUNDOFF * sma[window - 1 :])
        return sma, bound

    def exact(self, window: int, t: int) -> float:
        """Return the reference average at bar `t`: a correctly rounded window sum, divided."""
        return math.fsum(self.close[t - window + 1 : t + 1].tolist()) / window


def _above_below(cache: _SmaCache, fast: int, slow: int) -> tuple[BoolArray, BoolArray]:
    """Return fast > slow and fast < slow for bars slow-1 .. n-1, exact at every bar."""
    fast_sma, fast_bound = cache.get(fast)
    slow_sma, slow_bound = cache.get(slow)
    start = slow - 1
    size = max(len(cache.close) - start, 0)
    gap = np.subtract(fast_sma[start:], slow_sma[start:], out=cache.gap_buffer[:size])
    above, below = gap > 0, gap < 0
    tolerance = np.add(fast_bound[start:], slow_bound[start:], out=cache.tolerance_buffer[:size])
    # The signs are taken, so the gap's buffer can hold its magnitude.
    unsure = np.flatnonzero(np.abs(gap, out=gap) <= tolerance)
    # A Python loop, but only over bars whose sign the bound cannot prove: a few per grid.
    for j in unsure.tolist():
        exact_gap = cache.exact(fast, start + j) - cache.exact(slow, start + j)
        above[j], below[j] = exact_gap > 0, exact_gap < 0
    return above, below


def _fill_bars(cache: _SmaCache, fast: int, slow: int) -> tuple[IntArray, IntArray]:
    """Return the bar indices where entries and exits fill (the open after each signal)."""
    above, below = _above_below(cache, fast, slow)
    # Element i of these is the signal on the close of bar slow+i; the last bar is left out
    # because its signal has no next open to fill at.
    cross_up = above[1:-1] & ~above[:-2]
    cross_down = below[1:-1] & ~below[:-2]
    signal_at = np.flatnonzero(cross_up | cross_down)
    is_up = cross_up[signal_at]
    # Starting flat, a cross acts only when it differs from the previous one: a second cross
    # above while long (possible after a tie) or a cross below while flat is ignored.
    previous = np.concatenate(([False], is_up[:-1]))
    acts = is_up != previous
    fills = signal_at[acts].astype(np.int64) + slow + 1
    return fills[is_up[acts]], fills[~is_up[acts]]


def _final_equity(
    opens: FloatArray,
    closes: FloatArray,
    entries: IntArray,
    exits: IntArray,
    *,
    fee_rate: float,
    initial_cash: float,
) -> float:
    """Compound all-in round trips: each multiplies cash by exit value over entry cost."""
    closed = len(exits)
    growth = (opens[exits] * (1 - fee_rate)) / (opens[entries[:closed]] * (1 + fee_rate))
    equity = initial_cash * float(np.prod(growth))
    if len(entries) > closed:
        equity *= float(closes[-1]) / (float(opens[entries[-1]]) * (1 + fee_rate))
    return equity


class _Slipped:
    """All-in round trips compounded one by one, each fill slipped by the model on its bar."""

    def __init__(
        self, opens: FloatArray, closes: FloatArray, fee_rate: float, slippage: SweepSlippage
    ) -> None:
        self._opens, self._closes, self._fee, self._slippage = opens, closes, fee_rate, slippage
        self._entry_prices: list[float] = []
        self._exit_prices: list[float] = []

    def entry_prices(self) -> FloatArray:
        return np.array(self._entry_prices, dtype=np.float64)

    def exit_prices(self) -> FloatArray:
        return np.array(self._exit_prices, dtype=np.float64)

    def final_equity(self, entries: IntArray, exits: IntArray, initial_cash: float) -> float:
        """Return the equity at the end; an open position is valued at the last close."""
        cash, quantity = initial_cash, 0.0
        for k, entry in enumerate(entries.tolist()):
            quantity = self._buy(entry, cash)
            if k < len(exits):
                cash = self._sell(int(exits[k]), quantity)
                quantity = 0.0
        return cash if quantity == 0.0 else quantity * float(self._closes[-1])

    def _buy(self, bar: int, cash: float) -> float:
        # Sized, as the simulated exchange does, on what the cash buys at the unslipped open.
        opened = float(self._opens[bar])
        wanted = cash / (opened * (1 + self._fee))
        price = opened * (1 + self._slippage.rate(bar, wanted))
        self._entry_prices.append(price)
        return cash / (price * (1 + self._fee))

    def _sell(self, bar: int, quantity: float) -> float:
        price = float(self._opens[bar]) * (1 - self._slippage.rate(bar, quantity))
        self._exit_prices.append(price)
        return quantity * price * (1 - self._fee)
