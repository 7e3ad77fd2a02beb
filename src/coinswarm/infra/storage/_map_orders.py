"""Map orders, intents, fills and deposits between domain objects and rows, field by field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.ledger import Deposit
from coinswarm.domain.order import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from coinswarm.infra.storage.models import DepositRow, FillRow, OrderRow, OrderStateChangeRow
from coinswarm.infra.storage.records import StateChange
from coinswarm.infra.storage.types import canonical_json, from_json

__all__ = [
    "apply_order",
    "deposit_from_row",
    "deposit_values",
    "fill_from_row",
    "fill_values",
    "order_from_row",
    "order_values",
    "request_from_json",
    "request_to_json",
    "state_change_from_row",
]

_DECIMAL_FIELDS = ("quantity", "quote_quantity", "limit_price", "stop_price")


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _request_values(request: OrderRequest) -> dict[str, Any]:
    """Return an order request's fields: its JSON, and the request's part of an order's row."""
    return {
        "client_order_id": request.client_order_id,
        "instrument": request.instrument,
        "side": request.side.value,
        "type": request.type.value,
        "quantity": request.quantity,
        "quote_quantity": request.quote_quantity,
        "limit_price": request.limit_price,
        "stop_price": request.stop_price,
        "time_in_force": request.time_in_force.value,
        "expire_ts": request.expire_ts,
    }


def request_to_json(request: OrderRequest) -> str:
    """Return an order request as canonical JSON, decimals as exact strings."""
    return canonical_json(_request_values(request))


def request_from_json(text: str) -> OrderRequest:
    """Return the order request `request_to_json` wrote."""
    data: dict[str, Any] = from_json(text)
    return OrderRequest(
        client_order_id=data["client_order_id"],
        instrument=data["instrument"],
        side=OrderSide(data["side"]),
        type=OrderType(data["type"]),
        time_in_force=TimeInForce(data["time_in_force"]),
        expire_ts=data["expire_ts"],
        **{name: _decimal(data[name]) for name in _DECIMAL_FIELDS},
    )


def order_values(order: Order) -> dict[str, Any]:
    """Return the column values of `order`'s row (every column but the row's id and run)."""
    return {
        **_request_values(order.request),
        "order_id": order.order_id,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "filled_quote": order.filled_quote,
        "average_fill_price": order.average_fill_price,
        "fees": order.fees,
        "reject_reason": order.reject_reason,
        "triggered": order.triggered,
        "created_ts": order.created_ts,
        "updated_ts": order.updated_ts,
    }


def apply_order(row: OrderRow, order: Order) -> None:
    """Copy every field of `order` onto `row`."""
    for name, value in order_values(order).items():
        setattr(row, name, value)


def order_from_row(row: OrderRow) -> Order:
    """Return the order a row holds, in the state it was stored in."""
    request = OrderRequest(
        client_order_id=row.client_order_id,
        instrument=row.instrument,
        side=OrderSide(row.side),
        type=OrderType(row.type),
        quantity=row.quantity,
        quote_quantity=row.quote_quantity,
        limit_price=row.limit_price,
        stop_price=row.stop_price,
        time_in_force=TimeInForce(row.time_in_force),
        expire_ts=row.expire_ts,
    )
    order = Order(row.order_id, request, row.created_ts)
    # Restored, not replayed: the stored state was reached through legal transitions already.
    order.status = OrderStatus(row.status)
    order.updated_ts = row.updated_ts
    order.filled_quantity = row.filled_quantity
    order.filled_quote = row.filled_quote
    order.average_fill_price = row.average_fill_price
    order.fees = row.fees
    order.reject_reason = row.reject_reason
    order.triggered = row.triggered
    return order


def state_change_from_row(row: OrderStateChangeRow) -> StateChange:
    """Return one step of an order's stored history."""
    return StateChange(row.seq, row.ts, row.from_status, row.to_status, row.filled_quantity)


def fill_values(
    fill: Fill, *, run_id: str, venue: str, ledger_seq: int, order_pk: int
) -> dict[str, object]:
    """Return the column values of a fill row."""
    return {
        "run_id": run_id,
        "ledger_seq": ledger_seq,
        "order_pk": order_pk,
        "venue": venue,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "instrument": fill.instrument,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "ts": fill.ts,
        "liquidity": fill.liquidity.value,
    }


def fill_from_row(row: FillRow) -> Fill:
    """Return the fill a row holds."""
    return Fill(
        trade_id=row.trade_id,
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        instrument=row.instrument,
        side=OrderSide(row.side),
        quantity=row.quantity,
        price=row.price,
        fee=row.fee,
        fee_currency=row.fee_currency,
        ts=row.ts,
        liquidity=Liquidity(row.liquidity),
    )


def deposit_values(deposit: Deposit, *, run_id: str, ledger_seq: int) -> dict[str, object]:
    """Return the column values of a deposit row."""
    return {
        "run_id": run_id,
        "ledger_seq": ledger_seq,
        "currency": deposit.currency,
        "amount": deposit.amount,
        "ts": deposit.ts,
        "reference": deposit.reference,
    }


def deposit_from_row(row: DepositRow) -> Deposit:
    """Return the deposit a row holds."""
    return Deposit(row.currency, row.amount, row.ts, row.reference)
