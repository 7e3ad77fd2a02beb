"""Walk-forward windows: discover on the past, score on the next unseen window, never the reverse.

A run's span of time is cut once, at its start:

    | IS 1 ........ |purge| OOS 1 |embargo|
    | IS 2 (anchored: from the start) ................. |purge| OOS 2 |embargo|
    ...                                                                      |purge| holdout |

Phase k of the loop selects on IS k only, so OOS k has never been seen when it is scored; the
next phase may learn from it (it is then the past). The purge keeps a trade decided at the end
of IS k from living into OOS k; the embargo keeps the bars just after an OOS window (whose
features still carry it) out of what follows. The holdout, the last share of the span, is
scored once, at the end of a run, only for the patterns the run calls proven.

Windows are in time (UTC nanoseconds, half-open), so they hold for every instrument and
timeframe of a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from coinswarm.domain.errors import DataError

__all__ = ["Fold", "Window", "WindowPlan", "plan_windows"]


@dataclass(frozen=True, slots=True)
class Window:
    """Half-open `[start_ns, end_ns)`."""

    start_ns: int
    end_ns: int

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            msg = (
                f"expected a window that ends after it starts, found {self.start_ns}..{self.end_ns}"
            )
            raise DataError(msg)

    def contains(self, ts: int) -> bool:
        return self.start_ns <= ts < self.end_ns


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward step: select on `in_sample`, then score on `out_of_sample`."""

    index: int
    in_sample: Window
    out_of_sample: Window


@dataclass(frozen=True, slots=True)
class WindowPlan:
    folds: tuple[Fold, ...]
    holdout: Window
    purge_ns: int
    embargo_ns: int


def plan_windows(
    start_ns: int,
    end_ns: int,
    *,
    bar_ns: int,
    folds: int = 3,
    holdout_share: float = 0.2,
    purge_bars: int = 48,
    embargo_bars: int = 24,
    min_in_sample_bars: int = 500,
    min_out_of_sample_bars: int = 200,
) -> WindowPlan:
    """Cut `[start_ns, end_ns)` into anchored walk-forward folds and a final holdout.

    The research part (before the holdout) is split into `folds + 1` equal segments: fold k
    selects on segments 0..k-1 and is scored on segment k, less the purge before it and the
    embargo after it. Raise DataError when a window would be shorter than its minimum.
    """
    if folds < 1:
        raise DataError(f"expected at least 1 walk-forward fold, found {folds}")
    if not 0.0 < holdout_share < 0.5:
        raise DataError(f"expected a holdout share in (0, 0.5), found {holdout_share}")
    if purge_bars < 1 or embargo_bars < 0:
        msg = f"expected purge >= 1 and embargo >= 0 bars, found {purge_bars} and {embargo_bars}"
        raise DataError(msg)
    purge, embargo = purge_bars * bar_ns, embargo_bars * bar_ns
    span = end_ns - start_ns
    holdout_start = end_ns - int(span * holdout_share)
    research_end = holdout_start - purge - embargo
    segment = (research_end - start_ns) // (folds + 1)
    plan: list[Fold] = []
    for k in range(1, folds + 1):
        in_sample = Window(start_ns, start_ns + k * segment)
        oos_start = in_sample.end_ns + purge
        oos_end = start_ns + (k + 1) * segment - (embargo if k < folds else 0)
        _check_length(
            "in-sample", k, in_sample.end_ns - in_sample.start_ns, min_in_sample_bars, bar_ns
        )
        _check_length("out-of-sample", k, oos_end - oos_start, min_out_of_sample_bars, bar_ns)
        plan.append(Fold(k, in_sample, Window(oos_start, oos_end)))
    holdout = Window(holdout_start, end_ns)
    _check_length("holdout", 0, end_ns - holdout_start, min_out_of_sample_bars, bar_ns)
    return WindowPlan(tuple(plan), holdout, purge, embargo)


def _check_length(name: str, fold: int, length_ns: int, minimum_bars: int, bar_ns: int) -> None:
    bars = max(0, length_ns) // bar_ns
    if bars < minimum_bars:
        where = "the holdout" if fold == 0 else f"fold {fold}'s {name} window"
        msg = (
            f"{where} has {bars} bars after the purge and embargo; expected at least "
            f"{minimum_bars}: give more data, fewer folds, or a shorter purge"
        )
        raise DataError(msg)
