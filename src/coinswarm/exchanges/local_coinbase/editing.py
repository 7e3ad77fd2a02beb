"""Editing a resting order (`POST /orders/edit`, `/orders/edit_preview`) as Coinbase allows it.

Only an open GTC limit order may be edited, to a new size, a new price or both; the size must
stay above what has filled. A refusal is a business answer (HTTP 200) carrying Coinbase's
`edit_failure_reason` and `preview_failure_reason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderType, TimeInForce
from coinswarm.exchanges.local_coinbase import schemas as s
from coinswarm.exchanges.local_coinbase.convert import GRID_PRECISION, decimal_text

__all__ = [
    "EditRefusalError",
    "EditTerms",
    "edited_configuration",
    "edited_terms",
    "engine_refusal",
]

UNKNOWN_PREVIEW = "UNKNOWN_PREVIEW_FAILURE_REASON"


class EditRefusalError(Exception):
    """An edit Coinbase would refuse, with its two reason codes."""

    def __init__(self, edit_reason: str, preview_reason: str, message: str) -> None:
        super().__init__(message)
        self.edit_reason = edit_reason
        self.preview_reason = preview_reason

    def errors(self) -> list[dict[str, str]]:
        """Return the `errors` list of the edit answers."""
        return [
            {
                "edit_failure_reason": self.edit_reason,
                "preview_failure_reason": self.preview_reason,
            }
        ]


@dataclass(frozen=True, slots=True)
class EditTerms:
    """The size and price an edit asks for, both checked against the product's grid."""

    size: Decimal
    price: Decimal


def _off_grid(value: Decimal, increment: Decimal) -> bool:
    with localcontext(prec=GRID_PRECISION):
        return value % increment != 0


def _check_order(order: Order) -> None:
    request = order.request
    if request.type is not OrderType.LIMIT or request.time_in_force is not TimeInForce.GTC:
        raise EditRefusalError(
            "ONLY_LIMIT_ORDER_EDITS_SUPPORTED", UNKNOWN_PREVIEW, "only GTC limit orders edit"
        )
    if not order.is_live:
        raise EditRefusalError(
            "ONLY_OPEN_ORDERS_CAN_BE_EDITED", UNKNOWN_PREVIEW, f"order is {order.status.value}"
        )


def _check_size(size: Decimal, order: Order, instrument: Instrument) -> None:
    if size <= 0 or _off_grid(size, instrument.size_increment):
        reason = "PREVIEW_INVALID_SIZE_PRECISION" if size > 0 else UNKNOWN_PREVIEW
        msg = f"size {size} is not a positive multiple of {instrument.size_increment}"
        raise EditRefusalError("INVALID_EDITED_SIZE", reason, msg)
    if size <= order.filled_quantity:
        msg = f"size {size} is not above the filled size {order.filled_quantity}"
        raise EditRefusalError("CANNOT_EDIT_TO_BELOW_FILLED_SIZE", UNKNOWN_PREVIEW, msg)


def _check_price(price: Decimal, instrument: Instrument) -> None:
    if price <= 0 or _off_grid(price, instrument.price_increment):
        reason = "PREVIEW_INVALID_PRICE_PRECISION" if price > 0 else UNKNOWN_PREVIEW
        msg = f"price {price} is not a positive multiple of {instrument.price_increment}"
        raise EditRefusalError("INVALID_EDITED_PRICE", reason, msg)


def edited_terms(
    order: Order, instrument: Instrument, size: str | None, price: str | None
) -> EditTerms:
    """Return the checked terms of an edit (a missing one keeps the order's), or refuse it."""
    _check_order(order)
    current_size, current_price = order.request.quantity, order.request.limit_price
    assert current_size is not None  # a limit order has a size and a price
    assert current_price is not None
    terms = EditTerms(
        Decimal(size) if size is not None else current_size,
        Decimal(price) if price is not None else current_price,
    )
    _check_size(terms.size, order, instrument)
    _check_price(terms.price, instrument)
    if (terms.size, terms.price) == (current_size, current_price):
        raise EditRefusalError(
            "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST", UNKNOWN_PREVIEW, "nothing would change"
        )
    return terms


def engine_refusal(reason: str) -> EditRefusalError:
    """Return the refusal for a reason the matching engine gave for not amending."""
    if "insufficient funds" in reason:
        return EditRefusalError(
            "COMMANDER_REJECTED_EDIT_ORDER", "PREVIEW_INSUFFICIENT_FUND", reason
        )
    if "notional" in reason:
        preview = "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"
        return EditRefusalError("INVALID_EDITED_SIZE", preview, reason)
    if "below the minimum" in reason:
        preview = "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"
        return EditRefusalError("INVALID_EDITED_SIZE", preview, reason)
    return EditRefusalError("UNKNOWN_EDIT_ORDER_FAILURE_REASON", UNKNOWN_PREVIEW, reason)


def edited_configuration(
    configuration: s.OrderConfiguration, terms: EditTerms
) -> s.OrderConfiguration:
    """Return the order's configuration as sent, with the edited size and price."""
    limit = configuration.limit_limit_gtc
    post_only = limit.post_only if limit is not None else False
    edited = s.LimitLimitGtc(
        base_size=decimal_text(terms.size),
        limit_price=decimal_text(terms.price),
        post_only=post_only,
    )
    return s.OrderConfiguration(limit_limit_gtc=edited)
