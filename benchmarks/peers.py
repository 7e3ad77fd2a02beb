"""The reference strategy `sma-cross` written in each peer library, to compare answers and speed.

The spec (see tests/reference_sma_cross.py): long only; on the close of bar t, a cross of the
fast SMA above the slow one (fast_t > slow_t and fast_{t-1} <= slow_{t-1}) while flat buys with
all cash at the open of t+1, quantity = cash / (open * (1 + fee)); a cross below (fast_t < slow_t
and fast_{t-1} >= slow_{t-1}) while long sells everything at the next open, proceeds =
quantity * open * (1 - fee); an open position at the end is marked at the last close with no
exit fee; a signal on the last bar never fills.

Each peer has conventions of its own that differ from the spec; every place where one needs
bending is commented where it happens. Each `run_*` returns a `PeerResult`, and imports its
library lazily so that a missing peer costs one printed line, not the whole benchmark.

Each peer runs in its best configuration that we know of, named in `SETUPS` beside what it
computes; the benchmarks print both next to its figures. The one that matters most: every peer
gets a tz-naive index holding UTC times. A tz-aware one costs vectorbt about 20x per backtest:
its shape checks turn the index into a numpy array, which pandas builds for a tz-aware index
one `Timestamp` object at a time.
"""

# Peer libraries are imported inside the functions that use them, so that one missing peer
# skips one runner instead of breaking the import of this module.
# ruff: noqa: PLC0415

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEE = 0.001
INITIAL_CASH = 10_000.0
FAST, SLOW = 20, 50


@dataclass(frozen=True)
class PeerResult:
    name: str
    final_equity: float
    round_trips: int
    bars: int


@dataclass(frozen=True)
class Bars:
    """The columns every peer needs, as numpy arrays, plus bar open times in UTC nanoseconds."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    tz_aware: bool = False  # the index peers get; see `frame`

    def __len__(self) -> int:
        return len(self.ts)

    def frame(self):
        """Return a pandas frame indexed by bar time, with the column names peers expect.

        The index holds UTC times without a time zone (datetime64[ns]) unless `tz_aware`: all
        three peers are at least as fast on it, vectorbt about 20x faster.
        """
        import pandas as pd

        index = pd.to_datetime(self.ts, utc=True)
        return pd.DataFrame(
            {
                "Open": self.open,
                "High": self.high,
                "Low": self.low,
                "Close": self.close,
                "Volume": self.volume,
            },
            index=index if self.tz_aware else index.tz_convert(None),
        )


def load_bars(path: Path) -> Bars:
    """Read a Binance-style gzipped OHLCV CSV (timestamp,open,high,low,close,volume)."""
    with gzip.open(path, "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ts = np.array([np.datetime64(row["timestamp"].rstrip("Z"), "ns") for row in rows])
    columns = {
        name: np.array([float(row[name]) for row in rows])
        for name in ("open", "high", "low", "close", "volume")
    }
    return Bars(ts=ts.astype(np.int64), **columns)


def spec_signals(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the spec's cross-above and cross-below on each close, from two averages."""
    gap = fast - slow
    previous = np.concatenate(([np.nan], gap[:-1]))
    # NaN compares false, so bars before both averages exist on t-1 and t never signal.
    return (gap > 0) & (previous <= 0), (gap < 0) & (previous >= 0)


# --- backtesting.py -------------------------------------------------------------------------


def run_backtesting_py(
    bars: Bars, fast: int = FAST, slow: int = SLOW, fee: float = FEE
) -> PeerResult:
    """Run the spec in backtesting.py and return its final equity and closed trades."""
    import pandas as pd
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest

    class SmaCross(Strategy):
        n_fast = fast
        n_slow = slow

        def init(self):
            close = pd.Series(self.data.Close)
            self.fast = self.I(lambda: close.rolling(self.n_fast).mean(), name="fast")
            self.slow = self.I(lambda: close.rolling(self.n_slow).mean(), name="slow")

        def next(self):
            # backtesting.lib.crossover asks for a strict `<` on the previous bar; the spec
            # allows a tie there, so the condition is written out.
            gap, previous = self.fast[-1] - self.slow[-1], self.fast[-2] - self.slow[-2]
            if gap > 0 and previous <= 0 and not self.position:
                # A fraction below 1 means "this share of available cash", sized at the fill
                # price with the commission included: units = cash // (open * (1 + fee)),
                # which is the spec's quantity. 1 itself would mean one unit, hence 1 - 1e-12.
                self.buy(size=1 - 1e-12)
            elif gap < 0 and previous >= 0 and self.position:
                self.position.close()

    # backtesting.py trades whole units only, and a BTC costs more than the starting cash.
    # FractionalBacktest rescales prices so that one unit is `fractional_unit` BTC; at 1e-12
    # the flooring to whole units moves equity by about 1e-12 relative, far below a cent.
    # trade_on_close=False: market orders fill at the next bar's open, as the spec does.
    # finalize_trades=False: a trade open at the end is not closed (no exit fee) and is not
    # counted among the closed trades; the final equity marks it at the last close.
    backtest = FractionalBacktest(
        bars.frame(),
        SmaCross,
        cash=INITIAL_CASH,
        commission=fee,
        trade_on_close=False,
        exclusive_orders=True,
        finalize_trades=False,
        fractional_unit=1e-12,
    )
    stats = backtest.run()
    return PeerResult(
        "backtesting.py", float(stats["Equity Final [$]"]), int(stats["# Trades"]), len(bars)
    )


# --- backtrader -----------------------------------------------------------------------------


def run_backtrader(bars: Bars, fast: int = FAST, slow: int = SLOW, fee: float = FEE) -> PeerResult:
    """Run the spec in backtrader and return its final equity and closed trades."""
    import backtrader as bt

    class SmaCross(bt.Strategy):
        def __init__(self):
            # backtrader's SMA is math.fsum over the window divided by the period: the same
            # definition as the reference, so ties are decided the same way.
            self.fast = bt.ind.SMA(self.data.close, period=fast)
            self.slow = bt.ind.SMA(self.data.close, period=slow)
            self.closed_trades = 0

        def notify_trade(self, trade):
            if trade.isclosed:
                self.closed_trades += 1

        def next(self):
            if len(self.data) == self.data.buflen():
                return  # a signal on the last bar has no next open to fill at
            gap = self.fast[0] - self.slow[0]
            previous = self.fast[-1] - self.slow[-1]
            if gap > 0 and previous <= 0 and not self.position:
                # Orders are sized when submitted, on the close, but fill at the next open;
                # the spec sizes on the fill price. The next open is read from the preloaded
                # buffer for sizing only (the decision used bars up to t). The 1e-12 shave
                # keeps rounding from making cost exceed cash, which backtrader would reject.
                next_open = self.data.open[1]
                cash = self.broker.getcash()
                self.buy(size=cash / (next_open * (1 + fee)) * (1 - 1e-12))
            elif gap < 0 and previous >= 0 and self.position:
                self.close()

    # The documented fast path: no observers (stdstats), data preloaded and indicators computed
    # in one vectorised pass (preload, runonce; both defaults, spelled out). exactbars would
    # save memory at the cost of both.
    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=bars.frame()))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(INITIAL_CASH)
    # Percentage commission on traded value, charged on entry and exit, as in the spec.
    cerebro.broker.setcommission(commission=fee)
    # Submission checks cash against the current close; the order fills at the next open,
    # so the check would wrongly refuse an all-in buy whenever the open is above the close.
    cerebro.broker.set_checksubmit(False)
    cerebro.broker.set_coo(False)  # cheat-on-open off: fills happen at the next open
    strategy = cerebro.run()[0]
    # getvalue marks the open position at the last close, with no exit fee.
    return PeerResult(
        "backtrader", float(cerebro.broker.getvalue()), strategy.closed_trades, len(bars)
    )


# --- vectorbt -------------------------------------------------------------------------------


def vectorbt_signals(close, fast_windows, slow_windows):
    """Return entries and exits per column, shifted to the bar whose open fills them."""
    import pandas as pd
    import vectorbt as vbt

    fast = vbt.MA.run(close, window=list(fast_windows)).ma.to_numpy()
    slow = vbt.MA.run(close, window=list(slow_windows)).ma.to_numpy()
    if fast.ndim == 1:
        fast, slow = fast[:, None], slow[:, None]
    gap = fast - slow
    previous = np.vstack([np.full((1, gap.shape[1]), np.nan), gap[:-1]])
    # vectorbt's own ma_crossed_above wants fast strictly below slow at some earlier bar and
    # lets ties in between pass; the spec looks at bar t-1 only, so the test is written out.
    up, down = (gap > 0) & (previous <= 0), (gap < 0) & (previous >= 0)
    # Shifting one bar moves each signal onto the bar that fills it; price=open then makes the
    # fill happen at that bar's open. A last-bar signal falls off the end, as in the spec.
    entries = np.vstack([np.zeros((1, up.shape[1]), bool), up[:-1]])
    exits = np.vstack([np.zeros((1, down.shape[1]), bool), down[:-1]])
    columns = pd.MultiIndex.from_arrays(
        [list(fast_windows), list(slow_windows)], names=["fast", "slow"]
    )
    return (
        pd.DataFrame(entries, index=close.index, columns=columns),
        pd.DataFrame(exits, index=close.index, columns=columns),
    )


def vectorbt_portfolio(frame, fast_windows, slow_windows, fee: float = FEE):
    """Return one vectorbt portfolio with a column per (fast, slow) pair."""
    import vectorbt as vbt

    entries, exits = vectorbt_signals(frame["Close"], fast_windows, slow_windows)
    # size=inf (the default) buys with all cash; vectorbt then solves
    # size * price * (1 + fees) = cash, the spec's quantity. The portfolio's value at the end
    # marks an open position at the last close with no exit fee.
    return vbt.Portfolio.from_signals(
        frame["Close"],
        entries=entries,
        exits=exits,
        price=frame["Open"].to_numpy()[:, None],
        fees=fee,
        init_cash=INITIAL_CASH,
        size=np.inf,
        direction="longonly",
        freq="1h",
    )


def run_vectorbt(bars: Bars, fast: int = FAST, slow: int = SLOW, fee: float = FEE) -> PeerResult:
    """Run the spec in vectorbt and return its final equity and closed trades."""
    portfolio = vectorbt_portfolio(bars.frame(), [fast], [slow], fee)
    equity = float(np.asarray(portfolio.final_value()).ravel()[0])
    closed = int(np.asarray(portfolio.trades.closed.count()).ravel()[0])
    return PeerResult("vectorbt", equity, closed, len(bars))


PEERS = {
    "backtesting.py": run_backtesting_py,
    "backtrader": run_backtrader,
    "vectorbt": run_vectorbt,
}


@dataclass(frozen=True)
class Setup:
    """How a runner is configured for speed, and what one run of it computes."""

    configuration: str
    computes: str


SETUPS = {
    "coinswarm": Setup(
        "event-driven engine, one bar at a time through the door (no risk limits), simulated"
        " exchange; costs pinned: 10 bps maker and taker, no slippage, no volume cap",
        "every order, fill and round trip in a Decimal ledger, the equity curve, fees",
    ),
    "backtesting.py": Setup(
        "FractionalBacktest, SMAs precomputed by pandas in init()",
        "trades, the equity curve and its ~30 statistics (Backtest.run always computes them)",
    ),
    "backtrader": Setup(
        "Cerebro(stdstats=False, preload=True, runonce=True), no analyzers",
        "orders, fills and trades in its broker; final value (no equity curve kept)",
    ),
    "vectorbt": Setup(
        "Portfolio.from_signals, freq='1h'; numba kernels compiled in the untimed warm-up"
        " (the cold time shows the compilation)",
        "order records and the final value; trades derived from the records",
    ),
}
