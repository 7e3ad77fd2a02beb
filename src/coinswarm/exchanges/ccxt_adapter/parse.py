"""Turn ccxt's unified structures (markets, orders, trades, balances) into domain objects.

Every function names the ccxt call the data came from, so a bad value is reported as
"fetch_order: field 'status': ..." and never silently defaulted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.domain.order import TimeInForce as Tif
from coinswarm.exchanges.ccxt_adapter.errors import CcxtDataError
from coinswarm.exchanges.ccxt_adapter.numbers import increment, number, optional

__all__ = ["Market", "fill", "instrument_symbol", "market", "order", "request_from_order"]

ZERO = Decimal(0)
NS_PER_MS = 1_000_000

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}

_TIF = {"GTC": Tif.GTC, "IOC": Tif.IOC, "FOK": Tif.FOK, "GTD": Tif.GTD}


def instrument_symbol(base: str, quote: str) -> str:
    """Return Coinswarm's name of a pair: BTC-USD, whatever the exchange calls it."""
    return f"{base}-{quote}"


@dataclass(frozen=True, slots=True)
class Market:
    """One spot market: the domain instrument and the ccxt symbol it trades under."""

    instrument: Instrument
    ccxt_symbol: str


def market(raw: Mapping[str, Any], precision_mode: int) -> Market:
    """Return a ccxt market as an instrument with Decimal increments and minimums."""
    call = "load_markets"
    where = f"markets[{raw.get('symbol')!r}]"
    precision = raw.get("precision") or {}
    limits = raw.get("limits") or {}
    price_step = increment(
        precision.get("price"), precision_mode, call=call, field=f"{where}.precision.price"
    )
    size_step = increment(
        precision.get("amount"), precision_mode, call=call, field=f"{where}.precision.amount"
    )
    min_size = optional(
        (limits.get("amount") or {}).get("min"), call=call, field=f"{where}.limits.amount.min"
    )
    min_cost = optional(
        (limits.get("cost") or {}).get("min"), call=call, field=f"{where}.limits.cost.min"
    )
    base, quote = str(raw.get("base")), str(raw.get("quote"))
    instrument = Instrument(
        symbol=instrument_symbol(base, quote),
        base=base,
        quote=quote,
        price_increment=price_step,
        size_increment=size_step,
        min_size=min_size if min_size is not None else size_step,
        min_notional=min_cost if min_cost is not None else ZERO,
    )
    return Market(instrument, str(raw.get("symbol")))


def _side(raw: Mapping[str, Any], call: str) -> OrderSide:
    side = str(raw.get("side") or "").upper()
    if side not in ("BUY", "SELL"):
        raise CcxtDataError(call, "side", f"expected buy or sell, found {raw.get('side')!r}")
    return OrderSide(side)


def request_from_order(raw: Mapping[str, Any], instrument: Instrument, call: str) -> OrderRequest:
    """Rebuild the request of an order this process did not place (found on the exchange)."""
    kind = str(raw.get("type") or "").lower()
    size = optional(raw.get("amount"), call=call, field="amount", step=instrument.size_increment)
    price = optional(raw.get("price"), call=call, field="price", step=instrument.price_increment)
    cost = optional(raw.get("cost"), call=call, field="cost")
    try:
        if kind == "limit":
            return OrderRequest(
                client_order_id=str(raw.get("clientOrderId") or raw.get("id")),
                instrument=instrument.symbol,
                side=_side(raw, call),
                type=OrderType.LIMIT,
                quantity=size,
                limit_price=price,
                time_in_force=_TIF.get(str(raw.get("timeInForce")), Tif.GTC),
            )
        if kind == "market":
            return OrderRequest(
                client_order_id=str(raw.get("clientOrderId") or raw.get("id")),
                instrument=instrument.symbol,
                side=_side(raw, call),
                type=OrderType.MARKET,
                quantity=size,
                quote_quantity=cost if size is None else None,
                time_in_force=Tif.IOC,
            )
    except InvalidOrderError as error:
        raise CcxtDataError(call, "amount", str(error)) from None
    raise CcxtDataError(call, "type", f"expected limit or market, found {raw.get('type')!r}")


def _status(raw: Mapping[str, Any], filled: Decimal, call: str) -> OrderStatus:
    text = raw.get("status")
    if text is None:
        return OrderStatus.NEW
    status = _STATUS.get(str(text))
    if status is None:
        raise CcxtDataError(call, "status", f"expected one of {sorted(_STATUS)}, found {text!r}")
    if status is OrderStatus.OPEN and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def order(
    raw: Mapping[str, Any], request: OrderRequest, instrument: Instrument, call: str
) -> Order:
    """Return a ccxt order as a domain snapshot: status, filled size, average price and fees."""
    order_id = raw.get("id")
    if not order_id:
        raise CcxtDataError(call, "id", "expected the exchange's order id, found nothing")
    stamp = raw.get("timestamp")
    created = int(stamp) * NS_PER_MS if isinstance(stamp, int) else 0
    result = Order(str(order_id), request, created)
    filled = optional(raw.get("filled"), call=call, field="filled", step=instrument.size_increment)
    result.filled_quantity = filled or ZERO
    average = optional(raw.get("average"), call=call, field="average")
    result.average_fill_price = average if average is not None and filled else ZERO
    fee = raw.get("fee") or {}
    result.fees = optional(fee.get("cost"), call=call, field="fee.cost") or ZERO
    notional = result.filled_quantity * result.average_fill_price
    result.filled_quote = notional + result.fees * request.side.sign
    result.status = _status(raw, result.filled_quantity, call)
    if result.status is OrderStatus.REJECTED:
        result.reject_reason = str((raw.get("info") or {}).get("reject_message") or "rejected")
    return result


def fill(
    raw: Mapping[str, Any], *, client_order_id: str, instrument: Instrument, call: str
) -> Fill:
    """Return a ccxt trade of ours as a domain fill; the fee is charged in its own currency."""
    trade_id, order_id = raw.get("id"), raw.get("order")
    if not trade_id or not order_id:
        raise CcxtDataError(call, "id", "expected a trade id and an order id")
    size = number(raw.get("amount"), call=call, field="amount")
    price = number(raw.get("price"), call=call, field="price")
    if size <= 0 or price <= 0:
        raise CcxtDataError(call, "amount", f"expected positive size and price: {size} @ {price}")
    fee = raw.get("fee") or {}
    stamp = raw.get("timestamp")
    if not isinstance(stamp, int):
        raise CcxtDataError(call, "timestamp", f"expected milliseconds, found {stamp!r}")
    return Fill(
        trade_id=str(trade_id),
        order_id=str(order_id),
        client_order_id=client_order_id,
        instrument=instrument.symbol,
        side=_side(raw, call),
        quantity=size,
        price=price,
        fee=optional(fee.get("cost"), call=call, field="fee.cost") or ZERO,
        fee_currency=str(fee.get("currency") or instrument.quote),
        ts=stamp * NS_PER_MS,
        liquidity=Liquidity.MAKER if raw.get("takerOrMaker") == "maker" else Liquidity.TAKER,
    )
