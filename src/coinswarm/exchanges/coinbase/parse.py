"""Turn Coinbase's schema objects into domain objects, checking every number on the way.

Each function takes the route the data came from, so a bad value is reported as
"route: field 'orders.0.status': ..." and never silently defaulted.
"""

from __future__ import annotations

import re
from calendar import timegm
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from coinswarm.domain.errors import CoinswarmError, InvalidOrderError
from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.money import to_decimal
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.domain.order import TimeInForce as Tif
from coinswarm.exchanges.coinbase import schemas as s
from coinswarm.exchanges.coinbase.errors import ExchangeDataError

__all__ = ["balances", "decimal", "fill", "instrument", "order", "timestamp_ns"]

ZERO = Decimal(0)

_STATUS = {
    "PENDING": OrderStatus.NEW,
    "QUEUED": OrderStatus.NEW,
    "OPEN": OrderStatus.OPEN,
    # A cancel or an edit in progress: the order can still fill until the exchange says otherwise.
    "CANCEL_QUEUED": OrderStatus.OPEN,
    "EDIT_QUEUED": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELLED,
    "EXPIRED": OrderStatus.EXPIRED,
    "FAILED": OrderStatus.REJECTED,
}

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def decimal(text: str, *, route: str, field: str, positive: bool = False) -> Decimal:
    """Return a finite decimal (not negative; strictly positive if asked) or raise."""
    try:
        value = to_decimal(text, what=field)
    except CoinswarmError:
        raise ExchangeDataError(
            route, field, f"expected a decimal string, found {text!r}"
        ) from None
    if value < 0 or (positive and value == 0):
        wanted = "a positive" if positive else "a non-negative"
        raise ExchangeDataError(route, field, f"expected {wanted} number, found {text!r}")
    return value


def timestamp_ns(text: str, *, route: str, field: str) -> int:
    """Return an RFC 3339 timestamp as UTC nanoseconds, keeping every fractional digit."""
    match = _RFC3339.match(text)
    if match is None:
        problem = f"expected an RFC 3339 time like 2024-01-01T00:00:00Z, found {text!r}"
        raise ExchangeDataError(route, field, problem)
    whole, fraction, zone = match.groups()
    offset = "+00:00" if zone == "Z" else zone
    moment = datetime.fromisoformat(whole + offset)
    seconds = timegm(moment.utctimetuple())
    return seconds * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def instrument(product: s.Product, *, route: str, where: str) -> Instrument:
    """Return a product as an instrument with its increments and minimums."""
    tick = product.price_increment or product.quote_increment

    def number(text: str, name: str, *, positive: bool) -> Decimal:
        return decimal(text, route=route, field=f"{where}.{name}", positive=positive)

    return Instrument(
        symbol=product.product_id,
        base=product.base_currency_id,
        quote=product.quote_currency_id,
        price_increment=number(tick, "price_increment", positive=True),
        size_increment=number(product.base_increment, "base_increment", positive=True),
        min_size=number(product.base_min_size, "base_min_size", positive=False),
        min_notional=number(product.quote_min_size, "quote_min_size", positive=False),
    )


def _request(record: s.OrderRecord, *, route: str, where: str) -> OrderRequest:
    config = record.order_configuration
    market, limit = config.market_market_ioc, config.limit_limit_gtc
    field = f"{where}.order_configuration"

    def number(text: str, name: str) -> Decimal:
        return decimal(text, route=route, field=f"{field}.{name}", positive=True)

    cid, product, side = record.client_order_id, record.product_id, OrderSide(record.side)
    try:
        if limit is not None and market is None and not config.other_types():
            return OrderRequest(
                client_order_id=cid,
                instrument=product,
                side=side,
                type=OrderType.LIMIT,
                quantity=number(limit.base_size, "limit_limit_gtc.base_size"),
                limit_price=number(limit.limit_price, "limit_limit_gtc.limit_price"),
                time_in_force=Tif.GTC,
            )
        if market is not None and limit is None and not config.other_types():
            base, quote = market.base_size, market.quote_size
            return OrderRequest(
                client_order_id=cid,
                instrument=product,
                side=side,
                type=OrderType.MARKET,
                quantity=number(base, "market_market_ioc.base_size") if base else None,
                quote_quantity=number(quote, "market_market_ioc.quote_size") if quote else None,
                time_in_force=Tif.IOC,
            )
    except InvalidOrderError as error:
        raise ExchangeDataError(route, field, str(error)) from None
    found = sorted(config.model_dump(exclude_none=True))
    problem = f"expected one of market_market_ioc and limit_limit_gtc, found {found}"
    raise ExchangeDataError(route, field, problem)


def _status(record: s.OrderRecord, filled: Decimal, *, route: str, where: str) -> OrderStatus:
    status = _STATUS.get(record.status)
    if status is None:
        problem = f"expected one of {sorted(_STATUS)}, found {record.status!r}"
        raise ExchangeDataError(route, f"{where}.status", problem)
    if status is OrderStatus.OPEN and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def order(record: s.OrderRecord, *, route: str, where: str) -> Order:
    """Return an order record as a domain order snapshot, fills and fees included."""

    def number(text: str, name: str) -> Decimal:
        # Coinbase leaves some amounts empty until there is a fill.
        return decimal(text or "0", route=route, field=f"{where}.{name}")

    created = timestamp_ns(record.created_time, route=route, field=f"{where}.created_time")
    result = Order(record.order_id, _request(record, route=route, where=where), created)
    result.filled_quantity = number(record.filled_size, "filled_size")
    result.average_fill_price = number(record.average_filled_price, "average_filled_price")
    result.fees = number(record.total_fees, "total_fees")
    result.filled_quote = number(record.total_value_after_fees, "total_value_after_fees")
    result.status = _status(record, result.filled_quantity, route=route, where=where)
    if result.status is OrderStatus.REJECTED:
        result.reject_reason = record.reject_message or record.reject_reason or "FAILED"
    if record.last_fill_time:
        field = f"{where}.last_fill_time"
        result.updated_ts = timestamp_ns(record.last_fill_time, route=route, field=field)
    return result


def fill(record: s.FillRecord, *, client_order_id: str, quote: str, route: str, where: str) -> Fill:
    """Return a fill record as a domain fill; the fee is in the product's quote currency."""

    def number(text: str, name: str, *, positive: bool) -> Decimal:
        return decimal(text, route=route, field=f"{where}.{name}", positive=positive)

    price = number(record.price, "price", positive=True)
    size = number(record.size, "size", positive=True)
    liquidity = record.liquidity_indicator.upper()
    if liquidity not in ("MAKER", "TAKER"):
        problem = f"expected MAKER or TAKER, found {record.liquidity_indicator!r}"
        raise ExchangeDataError(route, f"{where}.liquidity_indicator", problem)
    return Fill(
        trade_id=record.trade_id,
        order_id=record.order_id,
        client_order_id=client_order_id,
        instrument=record.product_id,
        side=OrderSide(record.side),
        # A quote-sized fill reports its size in quote units; the ledger wants base units.
        quantity=size / price if record.size_in_quote else size,
        price=price,
        fee=number(record.commission, "commission", positive=False),
        fee_currency=quote,
        ts=timestamp_ns(record.trade_time, route=route, field=f"{where}.trade_time"),
        liquidity=Liquidity.MAKER if liquidity == "MAKER" else Liquidity.TAKER,
    )


def balances(accounts: Sequence[s.Account], *, route: str) -> dict[str, Decimal]:
    """Return each currency's total (available plus held), summed over its accounts."""
    totals: dict[str, Decimal] = {}
    for index, account in enumerate(accounts):
        where = f"accounts.{index}"
        available = decimal(
            account.available_balance.value, route=route, field=f"{where}.available_balance.value"
        )
        held = ZERO
        if account.hold is not None:
            held = decimal(account.hold.value, route=route, field=f"{where}.hold.value")
        totals[account.currency] = totals.get(account.currency, ZERO) + available + held
    return totals
