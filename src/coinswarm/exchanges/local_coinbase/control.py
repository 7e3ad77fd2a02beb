"""The test-only control API: move the replay, plan faults, read the exchange's own record.

It is mounted only when the app is built with `control_api=True`, takes no token and is never
rate limited or faulted: it is the test's hand on the exchange, not part of what is tested.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order
from coinswarm.exchanges.local_coinbase import convert
from coinswarm.exchanges.local_coinbase.deps import Svc
from coinswarm.exchanges.local_coinbase.faults import Fault

__all__ = ["CONTROL_PREFIX", "router"]

CONTROL_PREFIX = "/_control"

router = APIRouter(prefix=CONTROL_PREFIX)


class Advance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bars: int = Field(default=1, ge=1, le=100_000)


class FaultList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    faults: list[Fault]


def _order(order: Order) -> dict[str, Any]:
    text = convert.decimal_text
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "product_id": order.instrument,
        "side": order.side.value,
        "type": order.request.type.value,
        "status": order.status.value,
        "filled_size": text(order.filled_quantity),
        "fees": text(order.fees),
        "reject_reason": order.reject_reason,
    }


def _fill(fill: Fill) -> dict[str, Any]:
    text = convert.decimal_text
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "product_id": fill.instrument,
        "side": fill.side.value,
        "price": text(fill.price),
        "size": text(fill.quantity),
        "fee": text(fill.fee),
        "ts": fill.ts,
    }


@router.post("/advance")
async def advance(body: Advance, svc: Svc) -> dict[str, Any]:
    """Reveal the next bars to the matching engine; return the trade ids they filled."""
    fills = svc.venue.advance(body.bars)
    return {"now": convert.rfc3339(svc.venue.now_ns), "trade_ids": [f.trade_id for f in fills]}


@router.put("/faults")
async def set_faults(body: FaultList, svc: Svc) -> dict[str, int]:
    """Replace the fault plan."""
    svc.faults.set(body.faults)
    return {"faults": len(body.faults)}


@router.delete("/faults")
async def clear_faults(svc: Svc) -> dict[str, int]:
    """Remove every fault."""
    svc.faults.clear()
    return {"faults": 0}


@router.get("/record")
async def record(svc: Svc) -> dict[str, Any]:
    """Return the exchange's own orders (refused ones too), fills and balances."""
    venue = svc.venue
    return {
        "orders": [_order(o) for o in venue.engine_orders()],
        "fills": [_fill(f) for f in venue.fills()],
        "balances": {c: convert.decimal_text(t) for c, (t, _) in venue.balances().items()},
    }
