"""Translate between Coinbase's JSON models and Coinswarm's domain objects, both ways.

Parsing a create-order body either yields an `OrderRequest` or raises `RejectError` with the
reason codes Coinbase would send back in an HTTP 200 with `success: false`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation, localcontext

from coinswarm.domain.bar import NS_PER_SECOND, Bar
from coinswarm.domain.costs import FeeSchedule
from coinswarm.domain.errors import CoinswarmError, InvalidOrderError
from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.domain.order import TimeInForce as Tif
from coinswarm.exchanges.local_coinbase import schemas as s

__all__ = [
    "GRID_PRECISION",
    "PORTFOLIO_UUID",
    "USER_ID",
    "OrderFacts",
    "RejectError",
    "account",
    "candle",
    "coinbase_status",
    "decimal_text",
    "fill_record",
    "order_record",
    "order_request",
    "product",
    "refusal_for_engine_reason",
    "rfc3339",
    "transaction_summary",
]

USER_ID = "local-coinbase-user"
PORTFOLIO_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "coinswarm/local-coinbase/portfolio"))
ZERO = Decimal(0)

GRID_PRECISION = 80
"""Digits for exact work on an amount: a bounded amount (`amounts`) over the finest increment
needs about 40; the default 28 would make `%` raise for a large size on a fine grid."""

_STATUS = {
    OrderStatus.NEW: "PENDING",
    OrderStatus.OPEN: "OPEN",
    OrderStatus.PARTIALLY_FILLED: "OPEN",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELLED: "CANCELLED",
    OrderStatus.REJECTED: "FAILED",
    OrderStatus.EXPIRED: "EXPIRED",
}


class RejectError(CoinswarmError):
    """A definite business refusal of an order, with Coinbase's reason codes."""

    def __init__(self, error: str, preview_reason: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.preview_reason = preview_reason
        self.message = message

    def response(self, configuration: s.OrderConfiguration | None) -> s.CreateOrderResponse:
        """Return the HTTP 200 body that reports this refusal."""
        details = s.CreateOrderError(
            error=self.error,
            message=self.message,
            error_details=self.message,
            preview_failure_reason=self.preview_reason,
        )
        return s.CreateOrderResponse(
            success=False, error_response=details, order_configuration=configuration
        )


# -- text -------------------------------------------------------------------------------------


def decimal_text(value: Decimal) -> str:
    """Return a decimal as plain text without exponent or trailing zeros."""
    if value == 0:
        return "0"
    with localcontext(prec=GRID_PRECISION):  # normalize() would round a long amount to 28 digits
        return format(value.normalize(), "f")


def rfc3339(ts_ns: int) -> str:
    """Return a UTC timestamp as RFC 3339 text with microseconds, as Coinbase writes them."""
    moment = datetime.fromtimestamp(ts_ns // 1000 / 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _float_text(value: float) -> str:
    return decimal_text(Decimal(repr(value)))


# -- requests ---------------------------------------------------------------------------------


def _amount(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RejectError(
            "INVALID_REQUEST",
            "PREVIEW_INVALID_ORDER_CONFIG",
            f"{name}: expected a decimal string, found {text!r}",
        ) from None
    if not value.is_finite() or value <= 0:
        raise RejectError(
            "INVALID_REQUEST",
            "PREVIEW_INVALID_ORDER_CONFIG",
            f"{name}: expected a positive number, found {text!r}",
        )
    return value


def _on_grid(value: Decimal, increment: Decimal) -> bool:
    with localcontext(prec=GRID_PRECISION):
        return value % increment == 0


def _base_size(text: str, instrument: Instrument) -> Decimal:
    size = _amount(text, "base_size")
    if not _on_grid(size, instrument.size_increment):
        raise RejectError(
            "INVALID_SIZE_PRECISION",
            "PREVIEW_INVALID_SIZE_PRECISION",
            f"base_size {text} is not a multiple of {instrument.size_increment}",
        )
    if size < instrument.min_size:
        raise RejectError(
            "UNKNOWN_FAILURE_REASON",
            "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
            f"base_size {text} is below the minimum {instrument.min_size}",
        )
    return size


def _request(
    body: s.CreateOrderRequest,
    kind: OrderType,
    *,
    quantity: Decimal | None = None,
    quote_quantity: Decimal | None = None,
    limit_price: Decimal | None = None,
) -> OrderRequest:
    try:
        return OrderRequest(
            client_order_id=body.client_order_id,
            instrument=body.product_id,
            side=OrderSide(body.side),
            type=kind,
            time_in_force=Tif.IOC if kind is OrderType.MARKET else Tif.GTC,
            quantity=quantity,
            quote_quantity=quote_quantity,
            limit_price=limit_price,
        )
    except InvalidOrderError as error:
        raise RejectError("INVALID_REQUEST", "PREVIEW_INVALID_ORDER_CONFIG", str(error)) from None


def _market(
    config: s.MarketMarketIoc, body: s.CreateOrderRequest, instrument: Instrument
) -> OrderRequest:
    if (config.quote_size is None) == (config.base_size is None):
        raise RejectError(
            "UNSUPPORTED_ORDER_CONFIGURATION",
            "PREVIEW_INVALID_ORDER_CONFIG",
            "market_market_ioc takes exactly one of quote_size and base_size",
        )
    if config.base_size is not None:
        return _request(body, OrderType.MARKET, quantity=_base_size(config.base_size, instrument))
    if body.side == "SELL":
        raise RejectError(
            "UNSUPPORTED_ORDER_CONFIGURATION",
            "PREVIEW_INVALID_ORDER_CONFIG",
            "this exchange takes quote_size on market buys only",
        )
    assert config.quote_size is not None
    quote = _amount(config.quote_size, "quote_size")
    if not _on_grid(quote, instrument.price_increment):
        raise RejectError(
            "INVALID_SIZE_PRECISION",
            "PREVIEW_INVALID_QUOTE_SIZE_PRECISION",
            f"quote_size {config.quote_size} is not a multiple of {instrument.price_increment}",
        )
    return _request(body, OrderType.MARKET, quote_quantity=quote)


def _limit(
    config: s.LimitLimitGtc, body: s.CreateOrderRequest, instrument: Instrument
) -> OrderRequest:
    size = _base_size(config.base_size, instrument)
    price = _amount(config.limit_price, "limit_price")
    if not _on_grid(price, instrument.price_increment):
        raise RejectError(
            "INVALID_PRICE_PRECISION",
            "PREVIEW_INVALID_PRICE_PRECISION",
            f"limit_price {config.limit_price} is not a multiple of {instrument.price_increment}",
        )
    if size * price < instrument.min_notional:
        raise RejectError(
            "UNKNOWN_FAILURE_REASON",
            "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
            f"notional {size * price} is below the minimum {instrument.min_notional}",
        )
    return _request(body, OrderType.LIMIT, quantity=size, limit_price=price)


def order_request(body: s.CreateOrderRequest, instrument: Instrument | None) -> OrderRequest:
    """Return the domain request for a create-order body, or raise `RejectError`."""
    if instrument is None:
        raise RejectError(
            "INVALID_PRODUCT_ID",
            "PREVIEW_INVALID_PRODUCT_ID",
            f"unknown product {body.product_id!r}",
        )
    config = body.order_configuration
    chosen = [c for c in (config.market_market_ioc, config.limit_limit_gtc) if c is not None]
    if config.other_types() or len(chosen) != 1:
        raise RejectError(
            "UNSUPPORTED_ORDER_CONFIGURATION",
            "PREVIEW_INVALID_ORDER_CONFIG",
            "expected exactly one of market_market_ioc and limit_limit_gtc, found "
            f"{sorted(config.model_dump(exclude_none=True))}",
        )
    if config.market_market_ioc is not None:
        return _market(config.market_market_ioc, body, instrument)
    assert config.limit_limit_gtc is not None
    return _limit(config.limit_limit_gtc, body, instrument)


def refusal_for_engine_reason(reason: str) -> RejectError:
    """Return the Coinbase codes for a reason the matching engine gave for a reject."""
    text = reason.lower()
    if "insufficient funds" in text:
        return RejectError("INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND", reason)
    if "no price yet" in text:
        return RejectError("INVALID_NO_LIQUIDITY", "PREVIEW_INVALID_NO_LIQUIDITY", reason)
    if "notional" in text and "below the minimum" in text:
        return RejectError("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL", reason)
    if "below the minimum" in text:
        return RejectError("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL", reason)
    return RejectError("UNKNOWN_FAILURE_REASON", "UNKNOWN_PREVIEW_FAILURE_REASON", reason)


# -- responses --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFacts:
    """What the venue knows of an order beyond the engine's `Order`."""

    configuration: s.OrderConfiguration
    number_of_fills: int
    last_fill_ts: int | None
    hold: Decimal


def _completion(order: Order) -> Decimal:
    request = order.request
    if request.quantity is not None:
        done = order.filled_quantity / request.quantity
    else:
        assert request.quote_quantity is not None
        done = order.filled_quote / request.quote_quantity
    return min(Decimal(100), done * 100).quantize(Decimal("0.01"))


def coinbase_status(order: Order) -> str:
    """Return an order's status as Coinbase names it (an order filling in parts is OPEN)."""
    return _STATUS[order.status]


def order_record(order: Order, facts: OrderFacts) -> s.OrderRecord:
    """Return an engine order as Coinbase's historical order record."""
    filled_value = order.filled_quantity * order.average_fill_price
    after_fees = filled_value + order.fees * order.side.sign
    return s.OrderRecord(
        order_id=order.order_id,
        product_id=order.instrument,
        user_id=USER_ID,
        order_configuration=facts.configuration,
        side=order.side.value,
        client_order_id=order.client_order_id,
        status=coinbase_status(order),
        time_in_force=(
            "IMMEDIATE_OR_CANCEL"
            if order.request.time_in_force is Tif.IOC
            else "GOOD_UNTIL_CANCELLED"
        ),
        created_time=rfc3339(order.created_ts),
        completion_percentage=decimal_text(_completion(order)),
        filled_size=decimal_text(order.filled_quantity),
        average_filled_price=decimal_text(order.average_fill_price),
        fee="",
        number_of_fills=str(facts.number_of_fills),
        filled_value=decimal_text(filled_value),
        pending_cancel=False,
        size_in_quote=order.request.quote_quantity is not None,
        total_fees=decimal_text(order.fees),
        size_inclusive_of_fees=order.request.quote_quantity is not None,
        total_value_after_fees=decimal_text(after_fees),
        trigger_status="INVALID_ORDER_TYPE",
        order_type=order.request.type.value,
        reject_reason="",
        settled=order.status.is_terminal,
        product_type="SPOT",
        reject_message=order.reject_reason or "",
        cancel_message="User requested cancel" if order.status is OrderStatus.CANCELLED else "",
        order_placement_source="RETAIL_ADVANCED",
        outstanding_hold_amount=decimal_text(facts.hold),
        is_liquidation=False,
        last_fill_time=rfc3339(facts.last_fill_ts) if facts.last_fill_ts is not None else None,
        retail_portfolio_id=PORTFOLIO_UUID,
    )


def fill_record(fill: Fill) -> s.FillRecord:
    """Return an engine fill as Coinbase's fill record, keeping its `trade_id`."""
    when = rfc3339(fill.ts)
    return s.FillRecord(
        entry_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinswarm/local-coinbase/{fill.trade_id}")),
        trade_id=fill.trade_id,
        order_id=fill.order_id,
        trade_time=when,
        trade_type="FILL",
        price=decimal_text(fill.price),
        size=decimal_text(fill.quantity),
        commission=decimal_text(fill.fee),
        product_id=fill.instrument,
        sequence_timestamp=when,
        liquidity_indicator="MAKER" if fill.liquidity is Liquidity.MAKER else "TAKER",
        size_in_quote=False,
        user_id=USER_ID,
        side=fill.side.value,
        retail_portfolio_id=PORTFOLIO_UUID,
    )


def account(currency: str, total: Decimal, hold: Decimal, *, created_ns: int) -> s.Account:
    """Return one currency's account with `available_balance` net of holds."""
    when = rfc3339(created_ns)
    return s.Account(
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinswarm/local-coinbase/account/{currency}")),
        name=f"{currency} Wallet",
        currency=currency,
        available_balance=s.Balance(value=decimal_text(total - hold), currency=currency),
        default=True,
        active=True,
        created_at=when,
        updated_at=when,
        deleted_at=None,
        type="ACCOUNT_TYPE_FIAT" if currency in {"USD", "EUR", "GBP"} else "ACCOUNT_TYPE_CRYPTO",
        ready=True,
        hold=s.Balance(value=decimal_text(hold), currency=currency),
        retail_portfolio_id=PORTFOLIO_UUID,
        platform="ACCOUNT_PLATFORM_CONSUMER",
    )


def product(instrument: Instrument, last: Bar | None) -> s.Product:
    """Return an instrument as Coinbase's product, priced at the last revealed close."""
    price = _float_text(last.close) if last else ""
    return s.Product(
        product_id=instrument.symbol,
        price=price,
        price_percentage_change_24h="0",
        volume_24h=_float_text(last.volume) if last else "0",
        volume_percentage_change_24h="0",
        base_increment=decimal_text(instrument.size_increment),
        quote_increment=decimal_text(instrument.price_increment),
        quote_min_size=decimal_text(instrument.min_notional),
        quote_max_size="100000000",
        base_min_size=decimal_text(instrument.min_size),
        base_max_size="100000000",
        base_name=instrument.base,
        quote_name=instrument.quote,
        watched=False,
        is_disabled=False,
        new=False,
        status="online",
        cancel_only=False,
        limit_only=False,
        post_only=False,
        trading_disabled=False,
        auction_mode=False,
        product_type="SPOT",
        quote_currency_id=instrument.quote,
        base_currency_id=instrument.base,
        mid_market_price=price,
        base_display_symbol=instrument.base,
        quote_display_symbol=instrument.quote,
        view_only=False,
        price_increment=decimal_text(instrument.price_increment),
        display_name=f"{instrument.base}/{instrument.quote}",
        product_venue="CBE",
    )


def candle(bar: Bar) -> s.Candle:
    """Return a bar as a Coinbase candle: UNIX seconds and string values."""
    return s.Candle(
        start=str(bar.ts // NS_PER_SECOND),
        low=_float_text(bar.low),
        high=_float_text(bar.high),
        open=_float_text(bar.open),
        close=_float_text(bar.close),
        volume=_float_text(bar.volume),
    )


def transaction_summary(fees: FeeSchedule, fills: Sequence[Fill]) -> s.TransactionSummary:
    """Return the venue's fee tier with the volume and fees of every fill so far.

    Coinbase sends the totals as JSON numbers (not strings); clients such as ccxt read the
    tier's rates to price their fee estimates.
    """
    volume = sum((fill.price * fill.quantity for fill in fills), ZERO)
    paid = sum((fill.fee for fill in fills), ZERO)
    tier = s.FeeTier(
        pricing_tier="Local",
        usd_from="0",
        usd_to="",
        taker_fee_rate=decimal_text(fees.rate(Liquidity.TAKER)),
        maker_fee_rate=decimal_text(fees.rate(Liquidity.MAKER)),
        aop_from="",
        aop_to="",
    )
    return s.TransactionSummary(
        total_volume=float(volume),
        total_fees=float(paid),
        fee_tier=tier,
        advanced_trade_only_volume=float(volume),
        advanced_trade_only_fees=float(paid),
    )
