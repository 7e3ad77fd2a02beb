"""What a feature family is: a named, integer-parameterised computation in two equal forms.

A condition in a pattern names a feature as text, `family:p1:p2` (`rsi:14`, `sma_gap:10:50`,
`hour`). The family computes it over a whole series at once for research, and as a stream that
takes one closed bar at a time for trading. Both give the value at bar t from bars 0..t only
(NaN while warming up), and tests hold them to the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from coinswarm.domain.bar import Bar, BarSeries

__all__ = ["Family", "FeatureStream", "FloatArray"]

FloatArray = npt.NDArray[np.float64]


class FeatureStream(Protocol):
    """One feature of one instrument, updated once per closed bar in O(1)."""

    def update(self, bar: Bar) -> float:
        """Take the next closed bar and return the feature's value at it (NaN while warming)."""
        ...


@dataclass(frozen=True, slots=True)
class Family:
    """A feature family: its parameters (positive integers, in order) and its two forms."""

    name: str
    params: tuple[str, ...]
    vectorised: Callable[[BarSeries, tuple[int, ...]], FloatArray]
    stream: Callable[[tuple[int, ...]], FeatureStream]
    doc: str
    # Optional check of a parameter tuple beyond "positive integers" (e.g. fast < slow);
    # returns a problem to report, or None.
    check: Callable[[tuple[int, ...]], str | None] | None = None
