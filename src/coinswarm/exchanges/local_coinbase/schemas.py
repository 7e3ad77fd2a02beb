"""The JSON of Coinbase Advanced Trade REST, as frozen pydantic models with Coinbase's names.

Prices, sizes and amounts stay strings here, as on the wire, checked by `amounts` (a bad one
is an HTTP 400 naming the field); `convert` turns them into `Decimal` and domain objects.
Request models ignore fields they do not know, as a server must for clients newer than itself;
response models are what this server promises to send.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from coinswarm.exchanges.local_coinbase.amounts import Amount, Identifier

__all__ = [
    "MAX_CANCELS",
    "Account",
    "Balance",
    "CancelOrdersRequest",
    "CancelOrdersResponse",
    "CancelResult",
    "Candle",
    "CandlesResponse",
    "CreateOrderError",
    "CreateOrderRequest",
    "CreateOrderResponse",
    "CreateOrderSuccess",
    "EditOrderRequest",
    "ErrorBody",
    "FeeTier",
    "FillRecord",
    "GetOrderResponse",
    "KeyPermissionsResponse",
    "LimitLimitGtc",
    "ListAccountsResponse",
    "ListFillsResponse",
    "ListOrdersResponse",
    "ListProductsResponse",
    "MarketMarketIoc",
    "OrderConfiguration",
    "OrderRecord",
    "PreviewOrderRequest",
    "Product",
    "ServerTime",
    "TransactionSummary",
]

Side = Literal["BUY", "SELL"]

MAX_CANCELS = 100
"""The most orders one `POST /orders/batch_cancel` may name."""


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- orders: requests -------------------------------------------------------------------------


class MarketMarketIoc(_Request):
    """A market order: `quote_size` to spend (buys) or `base_size` to trade."""

    quote_size: Amount | None = None
    base_size: Amount | None = None


class LimitLimitGtc(_Request):
    """A limit order that rests until filled or cancelled."""

    base_size: Amount
    limit_price: Amount
    post_only: bool = False


class OrderConfiguration(BaseModel):
    """One order type's parameters; other Coinbase types are kept so they can be refused."""

    model_config = ConfigDict(frozen=True, extra="allow")

    market_market_ioc: MarketMarketIoc | None = None
    limit_limit_gtc: LimitLimitGtc | None = None

    def other_types(self) -> list[str]:
        """Return the names of order types this server does not support, as sent."""
        return sorted((self.model_extra or {}).keys())


class CreateOrderRequest(_Request):
    """The body of `POST /orders`."""

    client_order_id: Identifier
    product_id: Identifier
    side: Side
    order_configuration: OrderConfiguration


class PreviewOrderRequest(_Request):
    """The body of `POST /orders/preview`: an order without its client order id."""

    product_id: Identifier
    side: Side
    order_configuration: OrderConfiguration


class EditOrderRequest(_Request):
    """The body of `POST /orders/edit` and `/orders/edit_preview`; a missing field is kept."""

    order_id: Identifier
    size: Amount | None = None
    price: Amount | None = None


class CancelOrdersRequest(_Request):
    """The body of `POST /orders/batch_cancel`: at most `MAX_CANCELS` ids, as on Coinbase."""

    order_ids: list[Identifier] = Field(max_length=MAX_CANCELS)


# -- orders: responses ------------------------------------------------------------------------


class CreateOrderSuccess(_Response):
    order_id: str
    product_id: str
    side: Side
    client_order_id: str


class CreateOrderError(_Response):
    error: str
    message: str
    error_details: str
    preview_failure_reason: str
    new_order_failure_reason: str = "UNKNOWN_FAILURE_REASON"


class CreateOrderResponse(_Response):
    """The answer to `POST /orders`: a business refusal is HTTP 200 with `success` false."""

    success: bool
    success_response: CreateOrderSuccess | None = None
    error_response: CreateOrderError | None = None
    order_configuration: OrderConfiguration | None = None


class CancelResult(_Response):
    success: bool
    failure_reason: str
    order_id: str


class CancelOrdersResponse(_Response):
    results: list[CancelResult]


class OrderRecord(_Response):
    """One order as `GET /orders/historical/...` shows it."""

    order_id: str
    product_id: str
    user_id: str
    order_configuration: OrderConfiguration
    side: Side
    client_order_id: str
    status: str
    time_in_force: str
    created_time: str
    completion_percentage: str
    filled_size: str
    average_filled_price: str
    fee: str
    number_of_fills: str
    filled_value: str
    pending_cancel: bool
    size_in_quote: bool
    total_fees: str
    size_inclusive_of_fees: bool
    total_value_after_fees: str
    trigger_status: str
    order_type: str
    reject_reason: str
    settled: bool
    product_type: str
    reject_message: str
    cancel_message: str
    order_placement_source: str
    outstanding_hold_amount: str
    is_liquidation: bool
    last_fill_time: str | None
    retail_portfolio_id: str


class GetOrderResponse(_Response):
    order: OrderRecord


class ListOrdersResponse(_Response):
    orders: list[OrderRecord]
    sequence: str = "0"
    has_next: bool = False
    cursor: str = ""


class FillRecord(_Response):
    """One execution as `GET /orders/historical/fills` shows it; `trade_id` is unique."""

    entry_id: str
    trade_id: str
    order_id: str
    trade_time: str
    trade_type: str
    price: str
    size: str
    commission: str
    product_id: str
    sequence_timestamp: str
    liquidity_indicator: str
    size_in_quote: bool
    user_id: str
    side: Side
    retail_portfolio_id: str


class ListFillsResponse(_Response):
    fills: list[FillRecord]
    cursor: str = ""


# -- accounts, products, market data ---------------------------------------------------------


class Balance(_Response):
    value: str
    currency: str


class Account(_Response):
    uuid: str
    name: str
    currency: str
    available_balance: Balance
    default: bool
    active: bool
    created_at: str
    updated_at: str
    deleted_at: str | None
    type: str
    ready: bool
    hold: Balance
    retail_portfolio_id: str
    platform: str


class ListAccountsResponse(_Response):
    accounts: list[Account]
    has_next: bool = False
    cursor: str = ""
    size: int


class Product(_Response):
    product_id: str
    price: str
    price_percentage_change_24h: str
    volume_24h: str
    volume_percentage_change_24h: str
    base_increment: str
    quote_increment: str
    quote_min_size: str
    quote_max_size: str
    base_min_size: str
    base_max_size: str
    base_name: str
    quote_name: str
    watched: bool
    is_disabled: bool
    new: bool
    status: str
    cancel_only: bool
    limit_only: bool
    post_only: bool
    trading_disabled: bool
    auction_mode: bool
    product_type: str
    quote_currency_id: str
    base_currency_id: str
    mid_market_price: str
    base_display_symbol: str
    quote_display_symbol: str
    view_only: bool
    price_increment: str
    display_name: str
    product_venue: str


class ListProductsResponse(_Response):
    products: list[Product]
    num_products: int


class Candle(_Response):
    """One candle; `start` is the open time in UNIX seconds, every value a string."""

    start: str
    low: str
    high: str
    open: str
    close: str
    volume: str


class CandlesResponse(_Response):
    candles: list[Candle]


class ServerTime(_Response):
    iso: str
    epochSeconds: str  # noqa: N815 - Coinbase's own field name
    epochMillis: str  # noqa: N815 - Coinbase's own field name


class KeyPermissionsResponse(_Response):
    can_view: bool
    can_trade: bool
    can_transfer: bool
    portfolio_uuid: str
    portfolio_type: str


class FeeTier(_Response):
    """The account's fee tier: rates are fractions of the notional, as text."""

    pricing_tier: str
    usd_from: str
    usd_to: str
    taker_fee_rate: str
    maker_fee_rate: str
    aop_from: str
    aop_to: str


class TransactionSummary(_Response):
    """The answer to `GET /transaction_summary`: volume, fees paid and the fee tier."""

    total_volume: float
    total_fees: float
    fee_tier: FeeTier
    margin_rate: None = None
    goods_and_services_tax: None = None
    advanced_trade_only_volume: float
    advanced_trade_only_fees: float
    coinbase_pro_volume: float = 0
    coinbase_pro_fees: float = 0
    total_balance: str = ""
    has_promo_fee: bool = False


class ErrorBody(_Response):
    """The body of a non-200 answer, in the gateway's error shape."""

    error: str
    message: str
    error_details: str = ""
