"""Order routes beyond placing and cancelling: edit, edit preview and order preview.

Each answers HTTP 200 with its own success or error fields, as Coinbase does for business
outcomes; a malformed body is a 400 like everywhere else.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from coinswarm.exchanges.local_coinbase import previews
from coinswarm.exchanges.local_coinbase import schemas as s
from coinswarm.exchanges.local_coinbase.deps import KeyName, Svc
from coinswarm.exchanges.local_coinbase.editing import EditRefusalError
from coinswarm.exchanges.local_coinbase.errors import ApiError
from coinswarm.exchanges.local_coinbase.routes import PREFIX

__all__ = ["router"]

router = APIRouter(prefix=PREFIX)


def _require_trade(svc: Svc, key_name: str) -> None:
    if not svc.keys.permissions(key_name).can_trade:
        raise ApiError(403, "PERMISSION_DENIED", "Missing required scopes")


@router.post("/orders/edit")
async def edit_order(body: s.EditOrderRequest, svc: Svc, key: KeyName) -> dict[str, Any]:
    """Change a resting GTC limit order's size or price; it keeps its id and its fills."""
    _require_trade(svc, key)
    try:
        svc.venue.edit(body.order_id, body.size, body.price, commit=True)
    except EditRefusalError as refusal:
        return {"success": False, "errors": refusal.errors()}
    return {"success": True, "errors": []}


@router.post("/orders/edit_preview")
async def edit_order_preview(body: s.EditOrderRequest, svc: Svc, key: KeyName) -> dict[str, Any]:
    """Say what an edit would do, changing nothing."""
    _require_trade(svc, key)
    return previews.edit_preview(svc.venue, body)


@router.post("/orders/preview")
async def preview_order(body: s.PreviewOrderRequest, svc: Svc, key: KeyName) -> dict[str, Any]:
    """Say what an order would cost and whether it would be refused, placing nothing."""
    _require_trade(svc, key)
    return previews.order_preview(svc.venue, body)
