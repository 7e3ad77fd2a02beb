"""The brokerage routes under /api/v3/brokerage, each a thin shell over the venue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from coinswarm.domain.bar import NS_PER_SECOND, BarSeries
from coinswarm.exchanges.local_coinbase import convert
from coinswarm.exchanges.local_coinbase import schemas as s
from coinswarm.exchanges.local_coinbase.deps import Address, KeyName, Svc
from coinswarm.exchanges.local_coinbase.errors import ApiError
from coinswarm.exchanges.local_coinbase.listing import FillFilter, OrderFilter, PageRequest, chosen

__all__ = ["GRANULARITY_S", "PREFIX", "router"]

PREFIX = "/api/v3/brokerage"

GRANULARITY_S = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
MAX_CANDLES = 350

router = APIRouter(prefix=PREFIX)

Many = Annotated[list[str] | None, Query()]


def _json(model: BaseModel) -> dict[str, Any]:
    # A plain dict, not a Response, so FastAPI adds the rate-limit headers the gate set.
    body: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return body


def _require_trade(svc: Svc, key_name: str) -> None:
    if not svc.keys.permissions(key_name).can_trade:
        raise ApiError(403, "PERMISSION_DENIED", "Missing required scopes")


# -- orders -----------------------------------------------------------------------------------


@router.post("/orders")
async def create_order(body: s.CreateOrderRequest, svc: Svc, key: KeyName) -> dict[str, Any]:
    """Place an order; a business refusal is HTTP 200 with `success: false`."""
    _require_trade(svc, key)
    return _json(svc.venue.place(body))


@router.post("/orders/batch_cancel")
async def cancel_orders(body: s.CancelOrdersRequest, svc: Svc, key: KeyName) -> dict[str, Any]:
    """Cancel orders and report each one's outcome."""
    _require_trade(svc, key)
    results = [
        s.CancelResult(success=o.success, failure_reason=o.failure_reason, order_id=o.order_id)
        for o in svc.venue.cancel(body.order_ids)
    ]
    return _json(s.CancelOrdersResponse(results=results))


@router.get("/orders/historical/batch")
async def list_orders(
    *,
    svc: Svc,
    _key: KeyName,
    product_ids: Many = None,
    product_id: str | None = None,
    order_status: Many = None,
    order_ids: Many = None,
    order_side: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    sort_by: str | None = None,
) -> dict[str, Any]:
    """List orders newest first, a page at a time, filtered as Coinbase filters them.

    `start_date` (inclusive) and `end_date` (exclusive) bound the creation time.
    """
    _newest_first_only(sort_by, accepted=())
    request = PageRequest.parse(cursor, limit)
    filters = OrderFilter(
        order_ids=chosen(order_ids),
        product_ids=chosen(product_ids, product_id),
        statuses=chosen(order_status),
        side=order_side or None,
        start_date=start_date,
        end_date=end_date,
    )
    page = svc.venue.order_page(filters.predicate(convert.coinbase_status), request)
    return _json(
        s.ListOrdersResponse(orders=page.items, has_next=page.has_next, cursor=page.cursor)
    )


@router.get("/orders/historical/fills")
async def list_fills(
    *,
    svc: Svc,
    _key: KeyName,
    order_ids: Many = None,
    order_id: str | None = None,
    trade_ids: Many = None,
    product_ids: Many = None,
    product_id: str | None = None,
    start_sequence_timestamp: str | None = None,
    end_sequence_timestamp: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    sort_by: str | None = None,
) -> dict[str, Any]:
    """List fills newest first, a page at a time; each carries its unique `trade_id`.

    The sequence-timestamp span is inclusive at its start and exclusive at its end.
    """
    _newest_first_only(sort_by, accepted=("TRADE_TIME",))
    request = PageRequest.parse(cursor, limit)
    filters = FillFilter(
        order_ids=chosen(order_ids, order_id),
        trade_ids=chosen(trade_ids),
        product_ids=chosen(product_ids, product_id),
        start_sequence_timestamp=start_sequence_timestamp,
        end_sequence_timestamp=end_sequence_timestamp,
    )
    page = svc.venue.fill_page(filters.predicate(), request)
    fills = [convert.fill_record(f) for f in page.items]
    return _json(s.ListFillsResponse(fills=fills, cursor=page.cursor))


def _newest_first_only(sort_by: str | None, *, accepted: Sequence[str]) -> None:
    # Another order would change what a cursor means; refusing beats quietly ignoring it.
    if sort_by and sort_by not in accepted:
        msg = f"sort_by: this exchange lists newest first only; found {sort_by!r}"
        raise ApiError(400, "INVALID_ARGUMENT", msg)


@router.get("/orders/historical/{order_id}")
async def get_order(order_id: str, svc: Svc, _key: KeyName) -> dict[str, Any]:
    """Return one order, or 404 for an id this exchange never accepted."""
    record = svc.venue.order(order_id)
    if record is None:
        raise ApiError(404, "NOT_FOUND", f"order {order_id} not found")
    return _json(s.GetOrderResponse(order=record))


# -- accounts and permissions -----------------------------------------------------------------


@router.get("/accounts")
async def list_accounts(svc: Svc, _key: KeyName) -> dict[str, Any]:
    """List one account per currency, available balance net of holds."""
    created = svc.venue.now_ns
    accounts = [
        convert.account(currency, total, hold, created_ns=created)
        for currency, (total, hold) in svc.venue.balances().items()
    ]
    return _json(s.ListAccountsResponse(accounts=accounts, size=len(accounts)))


@router.get("/key_permissions")
async def key_permissions(svc: Svc, key: KeyName) -> dict[str, Any]:
    """Say what the calling key may do."""
    permissions = svc.keys.permissions(key)
    return _json(
        s.KeyPermissionsResponse(
            can_view=permissions.can_view,
            can_trade=permissions.can_trade,
            can_transfer=permissions.can_transfer,
            portfolio_uuid=convert.PORTFOLIO_UUID,
            portfolio_type="DEFAULT",
        )
    )


# -- products and market data -----------------------------------------------------------------


def _products(svc: Svc, product_type: str | None) -> dict[str, Any]:
    # Every product here is spot; a client asking for futures (ccxt does) gets none.
    venue = svc.venue
    listed = [] if product_type not in (None, "SPOT") else venue.instruments()
    products = [convert.product(i, venue.last_bar(i.symbol)) for i in listed]
    return _json(s.ListProductsResponse(products=products, num_products=len(products)))


def _product(svc: Svc, product_id: str) -> dict[str, Any]:
    instrument = svc.venue.instrument(product_id)
    if instrument is None:
        raise ApiError(404, "NOT_FOUND", f"product {product_id} not found")
    return _json(convert.product(instrument, svc.venue.last_bar(product_id)))


def _revealed(svc: Svc, product_id: str, granularity: str) -> BarSeries:
    revealed = svc.venue.revealed(product_id)
    if revealed is None:
        raise ApiError(404, "NOT_FOUND", f"product {product_id} not found")
    seconds = GRANULARITY_S.get(granularity)
    if seconds is None or seconds * NS_PER_SECOND != revealed.interval_ns:
        wanted = revealed.interval_ns // NS_PER_SECOND
        msg = f"granularity: this exchange replays {wanted}-second bars, found {granularity!r}"
        raise ApiError(400, "INVALID_ARGUMENT", msg)
    return revealed


def _candles(revealed: BarSeries, start: int | None, end: int | None, limit: int) -> dict[str, Any]:
    lo = None if start is None else start * NS_PER_SECOND
    hi = None if end is None else end * NS_PER_SECOND + 1
    window = revealed.between(lo, hi)
    newest = [window.bar(i) for i in range(len(window) - 1, -1, -1)]
    candles = [convert.candle(bar) for bar in newest[: min(max(limit, 0), MAX_CANDLES)]]
    return _json(s.CandlesResponse(candles=candles))


@router.get("/products")
async def list_products(svc: Svc, _key: KeyName, product_type: str | None = None) -> dict[str, Any]:
    """List every product with its increments and minimum sizes."""
    return _products(svc, product_type)


@router.get("/products/{product_id}")
async def get_product(product_id: str, svc: Svc, _key: KeyName) -> dict[str, Any]:
    """Return one product, or 404."""
    return _product(svc, product_id)


@router.get("/products/{product_id}/candles")
async def get_candles(
    product_id: str,
    *,
    svc: Svc,
    _key: KeyName,
    granularity: str = "ONE_HOUR",
    start: int | None = None,
    end: int | None = None,
    limit: int = MAX_CANDLES,
) -> dict[str, Any]:
    """Return revealed candles in [start, end] (UNIX seconds), newest first."""
    return _candles(_revealed(svc, product_id, granularity), start, end, limit)


# -- public market data (no token; charged to the caller's address) ---------------------------


@router.get("/market/products")
async def list_public_products(
    svc: Svc, _caller: Address, product_type: str | None = None
) -> dict[str, Any]:
    """List every product, as the authenticated route does, without a token."""
    return _products(svc, product_type)


@router.get("/market/products/{product_id}")
async def get_public_product(product_id: str, svc: Svc, _caller: Address) -> dict[str, Any]:
    """Return one product without a token, or 404."""
    return _product(svc, product_id)


@router.get("/market/products/{product_id}/candles")
async def get_public_candles(
    product_id: str,
    *,
    svc: Svc,
    _caller: Address,
    start: int,
    end: int,
    granularity: str,
    limit: int = MAX_CANDLES,
) -> dict[str, Any]:
    """Return revealed candles in [start, end], newest first, at most 350 buckets a request.

    As on Coinbase, `start`, `end` and `granularity` are required and a window wider than
    350 buckets is refused rather than cut, so a client must page.
    """
    revealed = _revealed(svc, product_id, granularity)
    buckets = (end - start) // GRANULARITY_S[granularity] + 1
    if end < start or buckets > MAX_CANDLES or not 0 < limit <= MAX_CANDLES:
        msg = (
            f"start/end/limit: expected start <= end, at most {MAX_CANDLES} candles and "
            f"0 < limit <= {MAX_CANDLES}; found {buckets} candles, limit {limit}"
        )
        raise ApiError(400, "INVALID_ARGUMENT", msg)
    return _candles(revealed, start, end, limit)


@router.get("/transaction_summary")
async def transaction_summary(svc: Svc, _key: KeyName) -> dict[str, Any]:
    """Return the fee tier and the volume and fees of every fill so far."""
    venue = svc.venue
    return _json(convert.transaction_summary(venue.fee_schedule(), venue.fills()))


@router.get("/time")
async def server_time(svc: Svc, _caller: Address) -> dict[str, Any]:
    """Return the server's time; clients compare it with theirs to explain a 401."""
    now_ns = svc.clock.now_ns()
    body: dict[str, Any] = {
        "iso": convert.rfc3339(now_ns),
        "epochSeconds": str(now_ns // NS_PER_SECOND),
        "epochMillis": str(now_ns // 1_000_000),
    }
    return _json(s.ServerTime(**body))
