"""Coinbase Advanced Trade JSON as the client reads it: frozen models with Coinbase's names.

Only the fields the adapter uses are declared, and unknown ones are ignored, because Coinbase
adds fields without notice. Prices, sizes and amounts stay strings here; `parse` makes them
`Decimal` and checks them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Account",
    "Balance",
    "CancelOrdersResponse",
    "CancelResult",
    "CreateOrderError",
    "CreateOrderResponse",
    "CreateOrderSuccess",
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
    "Product",
]

Side = Literal["BUY", "SELL"]


class _Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Product(_Schema):
    product_id: str
    price: str = ""
    base_increment: str
    quote_increment: str
    price_increment: str = ""
    base_min_size: str
    quote_min_size: str
    base_currency_id: str
    quote_currency_id: str
    status: str = ""
    trading_disabled: bool = False


class ListProductsResponse(_Schema):
    products: list[Product]


class MarketMarketIoc(_Schema):
    quote_size: str | None = None
    base_size: str | None = None


class LimitLimitGtc(_Schema):
    base_size: str
    limit_price: str
    post_only: bool = False


class OrderConfiguration(BaseModel):
    """One order type's parameters; other Coinbase types are kept so they can be named."""

    model_config = ConfigDict(frozen=True, extra="allow")

    market_market_ioc: MarketMarketIoc | None = None
    limit_limit_gtc: LimitLimitGtc | None = None

    def other_types(self) -> list[str]:
        """Return the names of the order types the adapter does not read."""
        return sorted((self.model_extra or {}).keys())


class CreateOrderSuccess(_Schema):
    order_id: str
    client_order_id: str = ""


class CreateOrderError(_Schema):
    error: str = ""
    message: str = ""
    error_details: str = ""
    preview_failure_reason: str = ""
    new_order_failure_reason: str = ""


class CreateOrderResponse(_Schema):
    """The answer to `POST /orders`: a business refusal is HTTP 200 with `success` false."""

    success: bool
    success_response: CreateOrderSuccess | None = None
    error_response: CreateOrderError | None = None


class CancelResult(_Schema):
    success: bool
    failure_reason: str = ""
    order_id: str


class CancelOrdersResponse(_Schema):
    results: list[CancelResult]


class OrderRecord(_Schema):
    order_id: str
    product_id: str
    side: Side
    client_order_id: str
    status: str
    created_time: str
    order_configuration: OrderConfiguration
    filled_size: str
    average_filled_price: str
    total_fees: str
    total_value_after_fees: str
    reject_reason: str = ""
    reject_message: str = ""
    last_fill_time: str | None = None


class GetOrderResponse(_Schema):
    order: OrderRecord


class ListOrdersResponse(_Schema):
    orders: list[OrderRecord]
    has_next: bool = False
    cursor: str = ""


class FillRecord(_Schema):
    trade_id: str
    order_id: str
    trade_time: str
    price: str
    size: str
    commission: str
    product_id: str
    liquidity_indicator: str = ""
    size_in_quote: bool = False
    side: Side


class ListFillsResponse(_Schema):
    fills: list[FillRecord]
    cursor: str = ""


class Balance(_Schema):
    value: str
    currency: str


class Account(_Schema):
    currency: str
    available_balance: Balance
    hold: Balance | None = None


class ListAccountsResponse(_Schema):
    accounts: list[Account]
    has_next: bool = False
    cursor: str = ""


class KeyPermissionsResponse(_Schema):
    can_view: bool
    can_trade: bool
    can_transfer: bool
