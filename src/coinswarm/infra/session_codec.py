"""Domain objects as plain JSON values for the session journal, and back.

Decimals travel as strings (never floats), so what was recorded is what is read back, digit for
digit; bar prices are floats in the engine and are written with Python's round-trip repr. A
field that is missing or unusable is refused by `field` with its name, so that the journal
reader can say which line and field are wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from coinswarm.domain.bar import Bar
from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.ledger import Deposit
from coinswarm.domain.order import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

__all__ = [
    "FieldError",
    "bar_from_json",
    "bar_to_json",
    "decimal_or_none",
    "deposit_from_json",
    "deposit_to_json",
    "fill_from_json",
    "fill_to_json",
    "instrument_from_json",
    "instrument_to_json",
    "order_from_json",
    "order_to_json",
    "request_from_json",
    "request_to_json",
]

T = TypeVar("T")
JsonObject = Mapping[str, Any]


class FieldError(CoinswarmError, ValueError):
    """A recorded value that is missing or cannot be read back: names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"field '{field}': {problem}")


def field(data: JsonObject, name: str, parse: Callable[[Any], T]) -> T:
    """Return `data[name]` parsed by `parse`, or raise a `FieldError` naming `name`."""
    if name not in data:
        raise FieldError(name, "missing")
    try:
        return parse(data[name])
    except FieldError as inner:
        raise FieldError(f"{name}.{inner.field}", inner.problem) from None
    except (ValueError, TypeError, KeyError, InvalidOperation, CoinswarmError) as error:
        raise FieldError(name, f"cannot read {data[name]!r}: {error}") from None


def _decimal(value: Any) -> Decimal:
    if not isinstance(value, str):
        msg = f"expected a decimal as a string, found {type(value).__name__}"
        raise TypeError(msg)
    return Decimal(value)


def decimal_or_none(value: Any) -> Decimal | None:
    """Return a Decimal from its recorded string, or None."""
    return None if value is None else _decimal(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        msg = f"expected a string, found {type(value).__name__}"
        raise TypeError(msg)
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"expected an integer, found {type(value).__name__}"
        raise TypeError(msg)
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"expected a number, found {type(value).__name__}"
        raise TypeError(msg)
    return float(value)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _text(value)


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def request_to_json(request: OrderRequest) -> dict[str, Any]:
    """Return an order request as plain values."""
    return {
        "client_order_id": request.client_order_id,
        "instrument": request.instrument,
        "side": str(request.side),
        "type": str(request.type),
        "quantity": _plain(request.quantity),
        "quote_quantity": _plain(request.quote_quantity),
        "limit_price": _plain(request.limit_price),
        "stop_price": _plain(request.stop_price),
        "time_in_force": str(request.time_in_force),
        "expire_ts": request.expire_ts,
    }


def request_from_json(data: JsonObject) -> OrderRequest:
    """Rebuild an order request written by `request_to_json`."""
    expire = data.get("expire_ts")
    return OrderRequest(
        client_order_id=field(data, "client_order_id", _text),
        instrument=field(data, "instrument", _text),
        side=field(data, "side", OrderSide),
        type=field(data, "type", OrderType),
        quantity=field(data, "quantity", decimal_or_none),
        quote_quantity=field(data, "quote_quantity", decimal_or_none),
        limit_price=field(data, "limit_price", decimal_or_none),
        stop_price=field(data, "stop_price", decimal_or_none),
        time_in_force=field(data, "time_in_force", TimeInForce),
        expire_ts=None if expire is None else field(data, "expire_ts", _integer),
    )


def order_to_json(order: Order) -> dict[str, Any]:
    """Return an order snapshot as plain values: the request and everything it became."""
    return {
        "order_id": order.order_id,
        "request": request_to_json(order.request),
        "created_ts": order.created_ts,
        "updated_ts": order.updated_ts,
        "status": str(order.status),
        "filled_quantity": str(order.filled_quantity),
        "filled_quote": str(order.filled_quote),
        "average_fill_price": str(order.average_fill_price),
        "fees": str(order.fees),
        "reject_reason": order.reject_reason,
        "triggered": order.triggered,
    }


def order_from_json(data: JsonObject) -> Order:
    """Rebuild an order snapshot written by `order_to_json`."""
    order = Order(
        field(data, "order_id", _text),
        field(data, "request", request_from_json),
        field(data, "created_ts", _integer),
    )
    order.updated_ts = field(data, "updated_ts", _integer)
    order.status = field(data, "status", OrderStatus)
    order.filled_quantity = field(data, "filled_quantity", _decimal)
    order.filled_quote = field(data, "filled_quote", _decimal)
    order.average_fill_price = field(data, "average_fill_price", _decimal)
    order.fees = field(data, "fees", _decimal)
    order.reject_reason = field(data, "reject_reason", _text_or_none)
    order.triggered = field(data, "triggered", bool)
    return order


def fill_to_json(fill: Fill) -> dict[str, Any]:
    """Return a fill as plain values."""
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "instrument": fill.instrument,
        "side": str(fill.side),
        "quantity": str(fill.quantity),
        "price": str(fill.price),
        "fee": str(fill.fee),
        "fee_currency": fill.fee_currency,
        "ts": fill.ts,
        "liquidity": str(fill.liquidity),
    }


def fill_from_json(data: JsonObject) -> Fill:
    """Rebuild a fill written by `fill_to_json`."""
    return Fill(
        trade_id=field(data, "trade_id", _text),
        order_id=field(data, "order_id", _text),
        client_order_id=field(data, "client_order_id", _text),
        instrument=field(data, "instrument", _text),
        side=field(data, "side", OrderSide),
        quantity=field(data, "quantity", _decimal),
        price=field(data, "price", _decimal),
        fee=field(data, "fee", _decimal),
        fee_currency=field(data, "fee_currency", _text),
        ts=field(data, "ts", _integer),
        liquidity=field(data, "liquidity", Liquidity),
    )


def deposit_to_json(deposit: Deposit) -> dict[str, Any]:
    """Return a deposit as plain values; the amount as its exact decimal text."""
    return {
        "currency": deposit.currency,
        "amount": str(deposit.amount),
        "ts": deposit.ts,
        "reference": deposit.reference,
    }


def deposit_from_json(data: JsonObject) -> Deposit:
    """Rebuild a deposit written by `deposit_to_json`."""
    return Deposit(
        field(data, "currency", _text),
        field(data, "amount", _decimal),
        field(data, "ts", _integer),
        field(data, "reference", _text),
    )


def bar_to_json(bar: Bar) -> dict[str, Any]:
    """Return a bar as plain values (floats keep their exact round-trip text)."""
    return {
        "instrument": bar.instrument,
        "ts": bar.ts,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
    }


def bar_from_json(data: JsonObject) -> Bar:
    """Rebuild a bar written by `bar_to_json`."""
    return Bar(
        field(data, "instrument", _text),
        field(data, "ts", _integer),
        field(data, "open", _number),
        field(data, "high", _number),
        field(data, "low", _number),
        field(data, "close", _number),
        field(data, "volume", _number),
    )


def instrument_to_json(instrument: Instrument) -> dict[str, Any]:
    """Return an instrument and its increments as plain values."""
    return {
        "symbol": instrument.symbol,
        "base": instrument.base,
        "quote": instrument.quote,
        "price_increment": str(instrument.price_increment),
        "size_increment": str(instrument.size_increment),
        "min_size": str(instrument.min_size),
        "min_notional": str(instrument.min_notional),
    }


def instrument_from_json(data: JsonObject) -> Instrument:
    """Rebuild an instrument written by `instrument_to_json`."""
    return Instrument(
        symbol=field(data, "symbol", _text),
        base=field(data, "base", _text),
        quote=field(data, "quote", _text),
        price_increment=field(data, "price_increment", _decimal),
        size_increment=field(data, "size_increment", _decimal),
        min_size=field(data, "min_size", _decimal),
        min_notional=field(data, "min_notional", _decimal),
    )
