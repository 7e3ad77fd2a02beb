"""Why did it trade? One explanation per order: the bar, the votes, the verdict, what the risk
layer changed, and the fills."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from coinswarm.backtest.result import BacktestResult
from coinswarm.data.timefmt import format_timestamp
from coinswarm.domain.bar import Bar
from coinswarm.domain.fill import Fill
from coinswarm.domain.money import display_amount
from coinswarm.domain.order import Order
from coinswarm.risk.events import RiskNote
from coinswarm.strategies.base import Rationale, VoteRecord

__all__ = ["Explanation", "explanations"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything behind one order, from the bar that prompted it to its fills."""

    client_order_id: str
    order_id: str
    instrument: str
    decided_ts: int
    bar: Bar | None
    rationale: Rationale | None
    risk: RiskNote | None
    status: str
    reject_reason: str | None
    fills: tuple[Fill, ...]

    def render(self) -> list[str]:
        """Return the explanation as lines a person reads top to bottom."""
        lines = [
            f"order {self.order_id} ({self.client_order_id}) on {self.instrument}: {self.status}",
            f"decided at the close of the bar opening {format_timestamp(self.decided_ts)}",
        ]
        if self.bar is not None:
            b = self.bar
            lines.append(
                f"  bar: open {b.open} high {b.high} low {b.low} close {b.close} volume {b.volume}"
            )
        lines.extend(_rationale_lines(self.rationale))
        if self.risk is not None:
            lines.append(f"risk: {self.risk.action}: {self.risk.reason}")
            lines.append(f"  requested: {self.risk.requested}")
            if self.risk.sent is not None and self.risk.sent != self.risk.requested:
                lines.append(f"  sent:      {self.risk.sent}")
        if self.reject_reason:
            lines.append(f"rejected: {self.reject_reason}")
        lines.extend(
            f"fill {f.trade_id} at {format_timestamp(f.ts)}: {f.side} {f.quantity} @ {f.price}, "
            f"fee {display_amount(f.fee)} {f.fee_currency} ({f.liquidity})"
            for f in self.fills
        )
        if not self.fills:
            lines.append("no fills")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (Decimals as strings) that `from_dict` reads back."""
        data = asdict(self)
        data["fills"] = [
            {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(f).items()}
            for f in self.fills
        ]
        return data


def _rationale_lines(rationale: Rationale | None) -> list[str]:
    if rationale is None:
        return ["why: no rationale was recorded"]
    lines = [f"why: {rationale.summary}"]
    lines.extend(f"  {line}" for line in rationale.details)
    lines.extend(_vote_line(v) for v in rationale.votes)
    return lines


def _vote_line(vote: VoteRecord) -> str:
    direction = {1: "BUY", 0: "HOLD", -1: "SELL"}.get(vote.direction, str(vote.direction))
    veto = " VETO" if vote.veto else ""
    return (
        f"  vote {vote.agent}: {direction}{veto} confidence {vote.confidence:.2f} "
        f"size {vote.size_hint:.2f} weight {vote.weight:.3f}: {vote.reason}"
    )


def _bar_at(result: BacktestResult, instrument: str, ts: int) -> Bar | None:
    series = result.market.get(instrument)
    if series is None:
        return None
    row = int(np.searchsorted(series.ts, ts))
    return series.bar(row) if row < len(series) and series.ts[row] == ts else None


def explanations(
    result: BacktestResult,
    rationales: Mapping[str, Rationale],
    risk_notes: Mapping[str, RiskNote],
) -> list[Explanation]:
    """Return one explanation per order of the run, in the order they were asked for."""
    fills: dict[str, list[Fill]] = {}
    for fill in result.fills:
        fills.setdefault(fill.client_order_id, []).append(fill)
    return [
        _explain(order, result, rationales, risk_notes, fills.get(order.client_order_id, []))
        for order in result.orders
    ]


def _explain(
    order: Order,
    result: BacktestResult,
    rationales: Mapping[str, Rationale],
    risk_notes: Mapping[str, RiskNote],
    fills: Sequence[Fill],
) -> Explanation:
    cid = order.client_order_id
    return Explanation(
        client_order_id=cid,
        order_id=order.order_id,
        instrument=order.instrument,
        decided_ts=order.created_ts,
        bar=_bar_at(result, order.instrument, order.created_ts),
        rationale=rationales.get(cid),
        risk=risk_notes.get(cid),
        status=str(order.status),
        reject_reason=order.reject_reason,
        fills=tuple(fills),
    )
