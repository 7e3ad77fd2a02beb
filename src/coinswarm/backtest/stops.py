"""Each stop and reset of a run, with the drawdown the account had really reached by then.

The kill switch measures its total-loss drawdown from a peak that a reset re-bases, so a
"10% drawdown" profile whose stops a simulated operator keeps resetting can lose far more
than 10% over a run. This table puts each stop and reset beside the drawdown since the run's
first peak, which no reset re-bases, so that a reader sees what the limit did and did not do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinswarm.backtest.result import EquityCurve
from coinswarm.data.timefmt import format_timestamp
from coinswarm.risk.events import RiskEvent

__all__ = ["StopRow", "stop_rows", "stops_section", "whole_run_drawdown"]


@dataclass(frozen=True, slots=True)
class StopRow:
    """One stop or reset: when, what, who, and the account at that moment."""

    ts: int
    kind: str
    by: str
    reason: str
    equity: float
    drawdown_since_first_peak: float

    def cells(self) -> list[str]:
        """Return the row as the report's table shows it."""
        return [
            format_timestamp(self.ts),
            self.kind,
            self.by,
            f"{self.equity:,.2f}",
            f"{self.drawdown_since_first_peak:.2%}",
            self.reason,
        ]


def whole_run_drawdown(curve: EquityCurve, initial_cash: float) -> npt.NDArray[np.float64]:
    """Return, at each point of `curve`, the fall from the highest equity so far (0 to 1)."""
    equity = np.concatenate(([initial_cash], curve.equity)).astype(np.float64)
    peak = np.maximum.accumulate(equity)
    return (1.0 - equity / peak)[1:]


def stop_rows(
    events: Sequence[RiskEvent], curve: EquityCurve, initial_cash: float
) -> list[StopRow]:
    """Return a row for every risk event (each stop, trip and reset), valued at the last close
    before it."""
    drawdown = whole_run_drawdown(curve, initial_cash)
    rows = []
    for event in events:
        at = int(np.searchsorted(curve.ts, event.ts, side="right")) - 1
        equity = float(curve.equity[at]) if at >= 0 else initial_cash
        fallen = float(drawdown[at]) if at >= 0 else 0.0
        rows.append(
            StopRow(event.ts, str(event.kind), event.by or "", event.reason, equity, fallen)
        )
    return rows


def stops_section(rows: Sequence[StopRow], total_loss_limit: float | None) -> list[str]:
    """Return the lines above the table: the worst drawdown at a stop, and what the limit
    measures, so that nobody reads a per-episode limit as a cap on the whole run."""
    resets = sum(1 for r in rows if r.kind == "RESET")
    worst = max((r.drawdown_since_first_peak for r in rows), default=0.0)
    lines = [
        f"{len(rows)} risk events, {resets} of them resets; the largest drawdown since the "
        f"run's first peak at any of them: {worst:.2%}."
    ]
    if total_loss_limit is not None:
        lines.append(
            f"The profile's total-loss limit ({total_loss_limit:.0%}) is measured from a peak "
            "that each reset re-bases: with resets, the whole run can fall further than it."
        )
    return lines
