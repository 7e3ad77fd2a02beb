"""Why did it trade? One order's explanation, from the store and the run's folder.

The store holds what every run leaves, finished or not: the order and its history, its fills,
the risk layer's decision on it and the committee's verdict (with every vote) on the bar it
was decided on. A finished run's folder adds what only the engine saw (`backtest.explain`):
the bar itself and the strategy's own words, rendered as `coinswarm explain` prints them.
The folder's explanations are gzipped JSON lines, one per order; only the line that names the
order is parsed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from coinswarm.api.errors import NotFoundError
from coinswarm.api.reads.models import (
    Bar,
    OrderExplanation,
    OrderItem,
    RiskDecision,
    StateChangeItem,
    VerdictItem,
    VoteItem,
)
from coinswarm.api.reads.trades import (
    ACTIONS,
    FILL_COLUMNS,
    ORDER_COLUMNS,
    VERDICT_COLUMNS,
    fill_item,
    order_item,
    verdict_items,
)
from coinswarm.backtest.runs import EXPLANATIONS, RunNotFoundError, read_explanations
from coinswarm.data.timefmt import format_timestamp
from coinswarm.infra.storage import Store
from coinswarm.infra.storage.models import FillRow, OrderRow, RiskEventRow, VerdictRow

__all__ = ["explain_order", "kept_explanation"]

_OVERSIGHT = "oversight"


def kept_explanation(runs_dir: Path, run_id: str, order_id: str) -> dict[str, Any] | None:
    """Return the explanation the run's folder keeps of `order_id` (exchange or client id)."""
    path = runs_dir / run_id / EXPLANATIONS
    if not path.is_file():
        try:  # a folder written before the gzipped lines
            kept = read_explanations(runs_dir, run_id)
        except (RunNotFoundError, OSError, ValueError):
            return None
        return kept.get(order_id) or next(
            (r for r in kept.values() if r.get("client_order_id") == order_id), None
        )
    needle = json.dumps(order_id)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                if needle in line:
                    record: dict[str, Any] = json.loads(line)
                    if order_id in (record.get("order_id"), record.get("client_order_id")):
                        return record
    except (OSError, ValueError, EOFError):
        return None
    return None


def _find_order(store: Store, run_id: str, order_id: str) -> OrderItem:
    query = (
        select(*ORDER_COLUMNS)
        .where(
            OrderRow.run_id == run_id,
            or_(OrderRow.order_id == order_id, OrderRow.client_order_id == order_id),
        )
        .order_by(OrderRow.order_id != order_id, OrderRow.id)  # an exchange id wins
        .limit(1)
    )
    with store.transaction() as session:
        row = session.execute(query).first()
    if row is None:
        raise NotFoundError(f"run {run_id} has no order {order_id!r}")
    return order_item(row)


def _risk(store: Store, run_id: str, client_order_id: str) -> RiskDecision | None:
    query = (
        select(RiskEventRow)
        .where(
            RiskEventRow.run_id == run_id,
            RiskEventRow.client_order_id == client_order_id,
            RiskEventRow.source == _OVERSIGHT,
        )
        .order_by(RiskEventRow.id.desc())
        .limit(1)
    )
    with store.transaction() as session:
        row = session.scalars(query).one_or_none()
    if row is None:
        return None
    return RiskDecision(action=row.kind, reason=row.reason, requested=row.requested, sent=row.sent)


def _verdict(store: Store, run_id: str, order: OrderItem) -> VerdictItem | None:
    query = (
        select(*VERDICT_COLUMNS)
        .where(
            VerdictRow.run_id == run_id,
            VerdictRow.ts == order.created_ts,
            VerdictRow.instrument == order.instrument,
        )
        .order_by(VerdictRow.id.desc())
        .limit(1)
    )
    with store.transaction() as session:
        items = verdict_items(session, list(session.execute(query)))
    return items[0] if items else None


def _kept_votes(kept: dict[str, Any] | None) -> list[VoteItem] | None:
    rationale = (kept or {}).get("rationale") or {}
    votes = rationale.get("votes")
    if not votes:
        return None
    return [
        VoteItem(
            agent=str(v["agent"]),
            action=ACTIONS.get(int(v["direction"]), str(v["direction"])),
            direction=int(v["direction"]),
            confidence=float(v["confidence"]),
            size_hint=float(v["size_hint"]),
            weight=float(v["weight"]),
            veto=bool(v["veto"]),
            reason=str(v["reason"]),
        )
        for v in votes
    ]


def _kept_risk(kept: dict[str, Any] | None) -> RiskDecision | None:
    risk = (kept or {}).get("risk")
    if not isinstance(risk, dict):
        return None
    return RiskDecision(
        action=str(risk["action"]),
        reason=str(risk["reason"]),
        requested=risk.get("requested"),
        sent=risk.get("sent"),
    )


def _bar(kept: dict[str, Any] | None) -> Bar | None:
    bar = (kept or {}).get("bar")
    if not isinstance(bar, dict):
        return None
    return Bar(**{k: bar[k] for k in ("ts", "open", "high", "low", "close", "volume")})


def _lines(order: OrderItem, explanation: OrderExplanation) -> list[str]:
    """Render an explanation built from the store alone, as `coinswarm explain` would."""
    lines = [
        f"order {order.order_id} ({order.client_order_id}) on {order.instrument}: {order.status}",
        f"decided at the close of the bar opening {format_timestamp(order.created_ts)}",
    ]
    if explanation.verdict is not None:
        v = explanation.verdict
        lines.append(f"why: committee verdict {v.action}: {v.reason}")
    lines += [
        f"  vote {v.agent}: {v.action}{' VETO' if v.veto else ''} confidence "
        f"{v.confidence:.2f} size {v.size_hint:.2f} weight {v.weight:.3f}: {v.reason}"
        for v in explanation.votes
    ]
    if explanation.risk is not None:
        lines.append(f"risk: {explanation.risk.action}: {explanation.risk.reason}")
    if order.reject_reason:
        lines.append(f"rejected: {order.reject_reason}")
    lines += [
        f"fill {f.trade_id} at {format_timestamp(f.ts)}: {f.side} {f.quantity} @ {f.price}, "
        f"fee {f.fee} {f.fee_currency} ({f.liquidity})"
        for f in explanation.fills
    ]
    return lines if explanation.fills else [*lines, "no fills"]


def explain_order(store: Store, runs_dir: Path, run_id: str, order_id: str) -> OrderExplanation:
    """Return why order `order_id` (exchange or client id) of run `run_id` was placed."""
    order = _find_order(store, run_id, order_id)
    with store.transaction() as session:
        fill_rows = session.execute(
            select(*FILL_COLUMNS).where(FillRow.order_pk == order.seq).order_by(FillRow.ledger_seq)
        )
        fills = [fill_item(f) for f in fill_rows]
    history = [
        StateChangeItem(
            seq=c.seq,
            ts=c.ts,
            from_status=c.from_status,
            to_status=c.to_status,
            filled_quantity=str(c.filled_quantity),
        )
        for c in store.order_history(run_id, order.client_order_id)
    ]
    kept = kept_explanation(runs_dir, run_id, order.order_id)
    verdict = _verdict(store, run_id, order)
    rationale = (kept or {}).get("rationale") or {}
    explanation = OrderExplanation(
        run=run_id,
        order=order,
        decided_ts=order.created_ts,
        bar=_bar(kept),
        summary=rationale.get("summary"),
        details=[str(d) for d in rationale.get("details", ())],
        verdict=verdict,
        votes=_kept_votes(kept) or ([] if verdict is None else verdict.votes),
        risk=_risk(store, run_id, order.client_order_id) or _kept_risk(kept),
        fills=fills,
        history=history,
        lines=[],
    )
    lines = list(kept["lines"]) if kept and kept.get("lines") else _lines(order, explanation)
    return explanation.model_copy(update={"lines": lines})
