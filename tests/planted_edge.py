"""Markets with a known answer: one with an edge planted in it, one with none at all.

Discovery's tests ask two questions of any search: does it find an edge that is there, and
does it refrain from promising one that is not?

`planted_edge_market(seed, bars)` plants exactly this, on top of `synthetic_market(seed=seed)`:

    Let theta be the 10th percentile of ret:24 (the 24-bar log return of the close, as the
    feature catalogue computes it) over the unmodified synthetic market. On the published
    bars, every bar t whose ret:24 is below theta is followed by a drift: each of the bars
    t+1 .. t+24 has log(1.03) / 24 added to its log return. Drift windows that overlap do not
    stack: a bar drifts once, however many dips precede it.

So a long position filled at the open of t+1 (the close of t) and left 24 bars later at the
open of t+25 earns about +3% more than the market would have given it (more when a later
dip extends the drift), less 1.2% of round-trip fees at 60 bps a side. The trigger is read
on the published bars, so it is exactly what a pattern `ret:24 < theta` sees; the
threshold is fixed beforehand from the unmodified market (about -3.5% for these seeds).
Roughly 6% of bars trigger and a quarter of all bars drift. Opens stay equal to the previous
close, and every bar keeps low <= open, close <= high.

`random_walk_market(seed, bars)` is a martingale with no structure: independent Gaussian log
returns N(-s^2/2, s^2) with s = 1% an hour, so the expected price change of every bar is
zero; opens equal the previous close, wicks and volumes are independent noise.
"""

from __future__ import annotations

import math

import numpy as np

from coinswarm.data.synthetic import DEFAULT_START, synthetic_market
from coinswarm.data.timefmt import to_ns
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries

__all__ = [
    "DIP_BARS",
    "DIP_DRIFT",
    "DIP_PERCENTILE",
    "balanced_drift_bars",
    "balanced_edge_market",
    "dip_threshold",
    "planted_edge_market",
    "random_walk_market",
]

DIP_BARS = 24
DIP_PERCENTILE = 10.0
DIP_DRIFT = math.log(1.03)  # over the DIP_BARS bars after a dip


def dip_threshold(seed: int, bars: int) -> float:
    """Return theta of `planted_edge_market(seed, bars)`: the ret:24 below which a dip drifts."""
    return _threshold(synthetic_market(bars=bars, seed=seed).close)


def _threshold(close: np.ndarray) -> float:
    log_close = np.log(close)
    return float(np.percentile(log_close[DIP_BARS:] - log_close[:-DIP_BARS], DIP_PERCENTILE))


def planted_edge_market(seed: int, bars: int, *, instrument: str = "EDGE-USD") -> BarSeries:
    """Return `synthetic_market(seed=seed)` with the dip-then-drift edge above planted in it."""
    base = synthetic_market(instrument=instrument, bars=bars, seed=seed)
    theta = _threshold(base.close)
    log_close = np.log(base.close)
    step = DIP_DRIFT / DIP_BARS
    drift = np.zeros(bars)  # cumulative drift added to the log close, bar by bar
    total, drifting_until = 0.0, -1
    for t in range(bars):
        if t <= drifting_until:
            total += step
        drift[t] = total
        if t >= DIP_BARS:
            dip = (log_close[t] + total) - (log_close[t - DIP_BARS] + drift[t - DIP_BARS])
            if dip < theta:
                drifting_until = t + DIP_BARS
    lift = np.exp(drift)
    lift_before = np.concatenate(([1.0], lift[:-1]))  # the open is the previous close
    # The drift only rises, so scaling highs by this bar's lift and lows by the previous
    # bar's keeps every bar's open and close between its low and high.
    return BarSeries(
        instrument,
        base.interval_ns,
        base.ts.copy(),
        base.open * lift_before,
        base.high * lift,
        base.low * lift_before,
        base.close * lift,
        base.volume.copy(),
    )


def random_walk_market(seed: int, bars: int, *, instrument: str = "WALK-USD") -> BarSeries:
    """Return hourly bars of a driftless Gaussian random walk in price (a martingale)."""
    rng = np.random.default_rng(seed)
    sigma = 0.01
    returns = rng.normal(-(sigma**2) / 2, sigma, bars)
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, sigma / 2, bars)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, sigma / 2, bars)))
    volume = np.exp(rng.normal(6.0, 0.5, bars))
    ts = to_ns(DEFAULT_START) + np.arange(bars, dtype=np.int64) * NS_PER_HOUR
    return BarSeries(instrument, NS_PER_HOUR, ts, open_, high, low, close, volume)


def balanced_edge_market(
    seed: int, bars: int, *, drift: float = DIP_DRIFT, instrument: str = "EDGE-USD"
) -> BarSeries:
    """Return a random walk with the dip-then-drift edge planted and its drift paid back.

    The edge is the one above (a ret:24 below its 10th percentile, then +3% over 24 bars), on
    `random_walk_market(seed, bars)`; every bar that does not drift gives back a fixed share
    (set from a first pass) so that the market as a whole goes about nowhere and buy-and-hold
    earns nothing on average. Only the timing of the dips pays, as a real edge against holding
    would. The trigger is read on the published bars, pay-back included.
    """
    return _balanced(seed, bars, drift, instrument)[0]


def balanced_drift_bars(seed: int, bars: int, *, drift: float = DIP_DRIFT) -> np.ndarray:
    """Return which bars of `balanced_edge_market(seed, bars, drift=drift)` drift (a bool mask).

    Bar t drifts when its log return carries the planted `drift / DIP_BARS`: one of the
    DIP_BARS bars after a dip. A trade that earns the edge holds these bars.
    """
    return _balanced(seed, bars, drift, "EDGE-USD")[1]


def _balanced(seed: int, bars: int, drift: float, instrument: str) -> tuple[BarSeries, np.ndarray]:
    base = random_walk_market(seed, bars, instrument=instrument)
    theta = _threshold(base.close)
    log_close = np.log(base.close)
    payback = 0.0
    for _ in range(8):  # each pass measures the drift the last pass planted, to pay it back
        added, drifting = _planted(log_close, theta, payback, drift)
        calm = max(1, int(np.sum(~drifting)))
        payback = float(np.sum(added[drifting])) / calm
    shift = np.cumsum(added)
    before = np.concatenate(([0.0], shift[:-1]))
    series = BarSeries(
        instrument,
        base.interval_ns,
        base.ts.copy(),
        base.open * np.exp(before),
        base.high * np.exp(np.maximum(shift, before)),
        base.low * np.exp(np.minimum(shift, before)),
        base.close * np.exp(shift),
        base.volume.copy(),
    )
    return series, drifting


def _planted(
    log_close: np.ndarray, theta: float, payback: float, drift: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the log return added to each bar, and which bars drift after a dip."""
    bars = len(log_close)
    step = drift / DIP_BARS
    added = np.zeros(bars)
    shift = np.zeros(bars)  # cumulative
    drifting = np.zeros(bars, dtype=bool)
    total, until = 0.0, -1
    for t in range(bars):
        drifting[t] = t <= until
        added[t] = step if drifting[t] else -payback
        total += added[t]
        shift[t] = total
        if (
            t >= DIP_BARS
            and (log_close[t] + total) - (log_close[t - DIP_BARS] + shift[t - DIP_BARS]) < theta
        ):
            until = t + DIP_BARS
    return added, drifting
