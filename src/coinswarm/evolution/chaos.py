"""The chaos agent: seeded random trades on history, each remembering what the market looked like.

Discovery needs raw material that carries no one's prior: trades taken at random (instrument,
bar, side, holding time), each recording the features at the bar that decided it and what it
earned after fees. Extraction (`evolution.extract`) then looks for the features that separate
the winners from the losers.

Chaos trades are never placed with money. `chaos_trades` takes a `Dataset` (bars already
recorded) and nothing that reaches an exchange, a broker or the bus, so there is no path by
which it could place an order; it is a pure function of the bars and the seeded generator.

A trade follows the evaluator's semantics (docs/ISSUE13_PLAN.md): decided on the close of its
signal bar s, filled at the open of s+1, held `hold` bars, left at the open of s+1+hold; fees
per side at `fee_rate`. The fill and the exit both lie inside the window, so a batch drawn on
an in-sample window never reads a price after it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from coinswarm.data.features import DEFAULT_FEATURES
from coinswarm.domain.errors import DataError
from coinswarm.evolution.dataset import Dataset, Market
from coinswarm.evolution.evaluate import DEFAULT_FEE_RATE
from coinswarm.evolution.windows import Window

__all__ = ["DEFAULT_CHAOS_TRADES", "DEFAULT_HOLDS", "ChaosBatch", "chaos_trades", "net_return"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]

DEFAULT_CHAOS_TRADES = 50
DEFAULT_HOLDS = (6, 12, 24, 48, 96)
"""Holding times in bars: from a quarter of a day to four days on hourly bars."""

_FIELDS = frozenset(
    (
        "timeframe",
        "fee_rate",
        "features",
        "instrument",
        "signal_ns",
        "side",
        "hold",
        "net",
        "values",
    )
)


@dataclass(frozen=True, slots=True, eq=False)
class ChaosBatch:
    """Chaos trades as columns: trade i is row i of every array.

    `values[i, j]` is feature `features[j]` at trade i's signal bar (NaN while warming up);
    `side` is +1 (long) or -1 (short); `net_return` is after fees at `fee_rate`. Every trade of
    a batch is on `timeframe`.
    """

    timeframe: str
    fee_rate: float
    features: tuple[str, ...]
    instrument: StrArray
    signal_ns: IntArray  # open time of the signal bar
    side: IntArray
    hold: IntArray
    net_return: FloatArray
    values: FloatArray  # shape (trades, features)

    def __post_init__(self) -> None:
        n = len(self.net_return)
        columns = (self.instrument, self.signal_ns, self.side, self.hold)
        if any(len(column) != n for column in columns) or self.values.shape != (
            n,
            len(self.features),
        ):
            msg = (
                f"chaos batch: expected {n} rows of {len(self.features)} features in every "
                f"column, found values of shape {self.values.shape}"
            )
            raise DataError(msg)
        if n and not np.all(np.abs(self.side) == 1):
            raise DataError("chaos batch: expected every side to be +1 (long) or -1 (short)")
        for column in (*columns, self.net_return, self.values):
            column.flags.writeable = False

    def __len__(self) -> int:
        return len(self.net_return)

    def column(self, feature: str) -> FloatArray:
        """Return one feature's values at every trade's signal bar."""
        try:
            j = self.features.index(feature)
        except ValueError:
            raise DataError(f"chaos batch has no feature {feature!r}") from None
        values: FloatArray = self.values[:, j]
        return values

    @classmethod
    def concatenate(cls, batches: Sequence[ChaosBatch]) -> ChaosBatch:
        """Join batches of one timeframe, fee rate and feature list, in order."""
        if not batches:
            raise DataError("expected at least one chaos batch to concatenate")
        first = batches[0]
        for batch in batches[1:]:
            same = (batch.timeframe, batch.fee_rate, batch.features)
            if same != (first.timeframe, first.fee_rate, first.features):
                msg = (
                    "chaos batches: expected one timeframe, fee rate and feature list, found "
                    f"{first.timeframe}/{first.fee_rate} and {batch.timeframe}/{batch.fee_rate}"
                )
                raise DataError(msg)
        return cls(
            timeframe=first.timeframe,
            fee_rate=first.fee_rate,
            features=first.features,
            instrument=np.concatenate([b.instrument for b in batches]),
            signal_ns=np.concatenate([b.signal_ns for b in batches]),
            side=np.concatenate([b.side for b in batches]),
            hold=np.concatenate([b.hold for b in batches]),
            net_return=np.concatenate([b.net_return for b in batches]),
            values=np.concatenate([b.values for b in batches]),
        )

    def to_json(self) -> str:
        """Return the batch as compact JSON; floats by repr, so they read back exactly."""
        data = {
            "timeframe": self.timeframe,
            "fee_rate": self.fee_rate,
            "features": list(self.features),
            "instrument": self.instrument.tolist(),
            "signal_ns": self.signal_ns.tolist(),
            "side": self.side.tolist(),
            "hold": self.hold.tolist(),
            "net": self.net_return.tolist(),
            # JSON has no NaN: a feature still warming up is null.
            "values": [[None if math.isnan(v) else v for v in row] for row in self.values.tolist()],
        }
        return json.dumps(data, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> ChaosBatch:
        """Read a batch `to_json` wrote; refuse unknown or missing fields."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"chaos batch: not JSON: {exc.msg} at {exc.pos}") from None
        if not isinstance(data, Mapping) or set(data) != _FIELDS:
            found = sorted(data) if isinstance(data, Mapping) else type(data).__name__
            raise DataError(f"chaos batch: expected fields {sorted(_FIELDS)}, found {found}")
        return cls._from_fields(data)

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any]) -> ChaosBatch:
        features = tuple(str(name) for name in data["features"])
        rows = [[math.nan if v is None else float(v) for v in row] for row in data["values"]]
        values = np.array(rows, dtype=np.float64).reshape(len(rows), len(features))
        return cls(
            timeframe=str(data["timeframe"]),
            fee_rate=float(data["fee_rate"]),
            features=features,
            instrument=np.array(data["instrument"], dtype=np.str_),
            signal_ns=np.array(data["signal_ns"], dtype=np.int64),
            side=np.array(data["side"], dtype=np.int64),
            hold=np.array(data["hold"], dtype=np.int64),
            net_return=np.array(data["net"], dtype=np.float64),
            values=values,
        )


def net_return(entry: FloatArray, exit_: FloatArray, side: IntArray, fee_rate: float) -> FloatArray:
    """Return each trade's net simple return after a fee on both legs (the plan's formulas).

    A long buys at `entry` and sells at `exit_`: `exit*(1-f) / (entry*(1+f)) - 1`; a short
    sells first and buys back: `entry*(1-f) / (exit*(1+f)) - 1`.
    """
    keep = (1.0 - fee_rate) / (1.0 + fee_rate)
    ratio = np.where(side > 0, exit_ / entry, entry / exit_)
    result: FloatArray = ratio * keep - 1.0
    return result


def chaos_trades(
    dataset: Dataset,
    window: Window,
    rng: np.random.Generator,
    *,
    count: int = DEFAULT_CHAOS_TRADES,
    timeframe: str = "1h",
    features: Sequence[str] = DEFAULT_FEATURES,
    holds: Sequence[int] = DEFAULT_HOLDS,
    fee_rate: float = DEFAULT_FEE_RATE,
) -> ChaosBatch:
    """Draw `count` random trades on the recorded bars of `dataset` inside `window`.

    Each trade picks an instrument, a hold from `holds`, a side and a signal bar, in that
    order and uniformly, from `rng` alone; the signal bar, its fill and its exit all lie in
    the window. Only history: the function is given recorded bars and no way to reach a
    market, so chaos never trades real money (see the module docstring).

    An instrument with too few bars in the window for the longest hold (listed late, say) is
    left out; raise DataError when every instrument is.
    """
    if count < 0:
        raise DataError(f"expected a non-negative number of chaos trades, found {count}")
    if not holds or min(holds) < 1:
        raise DataError(f"expected holds of at least 1 bar, found {tuple(holds)}")
    if not 0.0 <= fee_rate < 1.0:
        raise DataError(f"expected a fee rate in [0, 1), found {fee_rate}")
    names = tuple(features)
    hold_choices = np.asarray(holds, dtype=np.int64)
    eligible = _eligible(dataset.markets(timeframe), window, int(hold_choices.max()), timeframe)
    picked = rng.integers(0, len(eligible), size=count)
    hold = hold_choices[rng.integers(0, len(hold_choices), size=count)]
    side = np.where(rng.integers(0, 2, size=count) == 1, 1, -1).astype(np.int64)
    # A signal bar s in [a, b - 2 - hold]: the fill at s+1 and the exit at s+1+hold are < b.
    lows = np.array([bounds[0] for _, bounds in eligible], dtype=np.int64)[picked]
    highs = np.array([bounds[1] for _, bounds in eligible], dtype=np.int64)[picked] - 1 - hold
    signal = rng.integers(lows, highs)
    values = np.empty((count, len(names)))
    entry, exit_ = np.empty(count), np.empty(count)
    signal_ns = np.empty(count, dtype=np.int64)
    for number, (market, _) in enumerate(eligible):
        rows = np.flatnonzero(picked == number)
        bars = signal[rows]
        series = market.series
        entry[rows] = series.open[bars + 1]
        exit_[rows] = series.open[bars + 1 + hold[rows]]
        signal_ns[rows] = series.ts[bars]
        for j, name in enumerate(names):
            values[rows, j] = market.features.values(name)[bars]
    return ChaosBatch(
        timeframe=timeframe,
        fee_rate=fee_rate,
        features=names,
        instrument=np.array([eligible[i][0].series.instrument for i in picked], dtype=np.str_),
        signal_ns=signal_ns,
        side=side,
        hold=hold,
        net_return=net_return(entry, exit_, side, fee_rate),
        values=values,
    )


def _eligible(
    markets: Sequence[Market], window: Window, longest: int, timeframe: str
) -> list[tuple[Market, tuple[int, int]]]:
    """Return the markets with room in `window` for a signal bar, a fill and the longest hold."""
    eligible = []
    for market in markets:
        a, b = market.bounds(window.start_ns, window.end_ns)
        if b - a >= longest + 2:
            eligible.append((market, (a, b)))
    if not eligible:
        most = max(b - a for a, b in (m.bounds(window.start_ns, window.end_ns) for m in markets))
        msg = (
            f"chaos trades: the window has at most {most} {timeframe} bars for any instrument; "
            f"expected at least {longest + 2} (a signal bar, its fill, and the longest hold of "
            f"{longest} bars)"
        )
        raise DataError(msg)
    return eligible
