"""`CoinbaseAdapter`: the exchange port over Coinbase Advanced Trade REST.

Order creation is the one request that must never be repeated blindly. A lost answer (timeout,
dropped connection, 5xx, unreadable body) leaves the order possibly placed; the adapter then
looks it up by client order id, and if it is not there sends it again under the SAME id, which
Coinbase answers with the existing order if there is one. Only a definite refusal (HTTP 200
with `success: false`, or a 4xx) makes an order REJECTED.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from coinswarm.domain.clock import Clock
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest
from coinswarm.exchanges.coinbase import parse
from coinswarm.exchanges.coinbase import schemas as s
from coinswarm.exchanges.coinbase.errors import (
    ExchangeAuthError,
    ExchangeDataError,
    ExchangeRequestError,
    ExchangeUnavailableError,
    OrderNotFoundError,
    OrderOutcomeUnknownError,
    UnsafeKeyError,
)
from coinswarm.exchanges.coinbase.orders import body_for, prepare
from coinswarm.exchanges.coinbase.rest import AmbiguousRequestError, Reply, RestClient

__all__ = ["CoinbaseAdapter", "KeyScopes"]

PAGE_SIZE = 250

_STILL_UNKNOWN = (
    AmbiguousRequestError,
    ExchangeAuthError,
    ExchangeDataError,
    ExchangeRequestError,
    ExchangeUnavailableError,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyScopes:
    """What the key in use may do, as `GET /key_permissions` says."""

    can_view: bool
    can_trade: bool
    can_transfer: bool


def _ok(reply: Reply) -> Reply:
    if reply.status != 200:
        msg = f"{reply.route}: expected HTTP 200, found {reply.error_text()}"
        raise ExchangeRequestError(msg)
    return reply


class CoinbaseAdapter:
    """Place, cancel and look up orders, list fills and read balances on Coinbase.

    Synchronous, like the port. `resends` is how many times an order whose answer was lost is
    sent again under its own client order id before the adapter gives up with
    `OrderOutcomeUnknownError`; `max_pages` bounds every paginated listing.
    """

    def __init__(
        self,
        rest: RestClient,
        *,
        clock: Clock,
        name: str = "coinbase",
        resends: int = 1,
        max_pages: int = 20,
    ) -> None:
        self.name = name
        self._rest = rest
        self._clock = clock
        self._resends = resends
        self._max_pages = max_pages
        self._instruments: dict[str, Instrument] = {}
        self._client_ids: dict[str, str] = {}  # order id -> client order id; never changes

    def close(self) -> None:
        """Release the HTTP connections; the adapter cannot be used afterwards."""
        self._rest.close()

    def __enter__(self) -> CoinbaseAdapter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- products and accounts ------------------------------------------------------------

    def instruments(self) -> Mapping[str, Instrument]:
        """Return every product as an instrument, read fresh from `GET /products`."""
        reply = _ok(self._rest.get("/products"))
        products = reply.parse(s.ListProductsResponse).products
        found = {
            p.product_id: parse.instrument(p, route=reply.route, where=f"products.{i}")
            for i, p in enumerate(products)
        }
        self._instruments = found
        return dict(found)

    def balances(self) -> Mapping[str, Decimal]:
        """Return each currency's total, available plus held, as `GET /accounts` reports it."""
        totals: dict[str, Decimal] = {}
        cursor = ""
        for _ in range(self._max_pages):
            params: dict[str, Any] = {"limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
            reply = _ok(self._rest.get("/accounts", params))
            page = reply.parse(s.ListAccountsResponse)
            for currency, amount in parse.balances(page.accounts, route=reply.route).items():
                totals[currency] = totals.get(currency, Decimal(0)) + amount
            cursor = page.cursor if page.has_next else ""
            if not cursor:
                break
        return totals

    def check_permissions(self, *, live: bool) -> KeyScopes:
        """Return the key's scopes; refuse, for live trading, a key that can move funds out."""
        reply = _ok(self._rest.get("/key_permissions"))
        body = reply.parse(s.KeyPermissionsResponse)
        scopes = KeyScopes(
            can_view=body.can_view, can_trade=body.can_trade, can_transfer=body.can_transfer
        )
        if live and scopes.can_transfer:
            msg = (
                "the Coinbase key can transfer funds; live trading needs a key with view and "
                "trade scopes only, so that a leaked key cannot move money out"
            )
            raise UnsafeKeyError(msg)
        return scopes

    # -- orders -------------------------------------------------------------------------------

    def place_order(self, request: OrderRequest) -> Order:
        """Send `request` rounded to the product's increments, or refuse it locally if too small.

        Raise `OrderOutcomeUnknownError` only when the answer was lost and neither a lookup nor
        a resend under the same client order id could settle it.
        """
        instrument = self._instrument(request.instrument)
        if instrument is None:
            return self._rejected(request, f"unknown product {request.instrument!r}")
        prepared = prepare(request, instrument)
        if prepared.refusal is not None:
            return self._rejected(prepared.request, f"refused before sending: {prepared.refusal}")
        return self._submit(prepared.request)

    def cancel_order(self, order_id: str) -> Order:
        """Ask for a cancel and return the order as it now stands (cancelled or already done)."""
        # Cancelling twice changes nothing, so a lost answer is simply asked again.
        reply = _ok(
            self._rest.post("/orders/batch_cancel", {"order_ids": [order_id]}, retry_safe=True)
        )
        reply.parse(s.CancelOrdersResponse)
        return self.get_order(order_id)

    def get_order(self, order_id: str) -> Order:
        """Return one order; raise `OrderNotFoundError` for an id the exchange does not know."""
        reply = self._rest.get(f"/orders/historical/{order_id}")
        if reply.status == 404:
            msg = f"{reply.route}: the exchange knows no order {order_id!r}"
            raise OrderNotFoundError(msg)
        record = _ok(reply).parse(s.GetOrderResponse).order
        return self._order(record, reply.route, "order")

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]:
        """Return the orders that can still fill, for one product or all."""
        params: dict[str, Any] = {"order_status": ["OPEN"]}
        if instrument is not None:
            params["product_ids"] = [instrument]
        orders = [self._order(r, route, w) for route, w, r in self._list_orders(params)]
        return [o for o in orders if o.is_live]

    def find_order(self, client_order_id: str, instrument: str | None = None) -> Order | None:
        """Return the order placed under `client_order_id`, or None if the listing lacks it.

        Coinbase has no lookup by client order id, so this lists orders and filters.
        """
        params: dict[str, Any] = {"product_ids": [instrument]} if instrument else {}
        for route, where, record in self._list_orders(params):
            if record.client_order_id == client_order_id:
                return self._order(record, route, where)
        return None

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        """Return fills oldest first, each with its `trade_id` and its order's client id."""
        records = self._list_fills(since_ts)
        self._learn_client_ids({r.order_id for _, _, r in records})
        fills = [
            parse.fill(
                record,
                client_order_id=self._client_ids.get(record.order_id, ""),
                quote=self._quote_of(record.product_id),
                route=route,
                where=where,
            )
            for route, where, record in records
        ]
        if since_ts is not None:
            fills = [f for f in fills if f.ts >= since_ts]
        return sorted(fills, key=lambda f: (f.ts, f.trade_id))

    # -- placing --------------------------------------------------------------------------

    def _submit(self, request: OrderRequest) -> Order:
        body = body_for(request)
        try:
            return self._answer(request, self._rest.post("/orders", body, retry_safe=False))
        except (AmbiguousRequestError, ExchangeDataError) as lost:
            return self._resolve(request, body, str(lost))

    def _resolve(self, request: OrderRequest, body: dict[str, Any], detail: str) -> Order:
        """Settle an order whose answer was lost, without ever using a new client order id."""
        for _ in range(self._resends):
            found = self._lookup(request)
            if found is not None:
                return found
            try:
                return self._answer(request, self._rest.post("/orders", body, retry_safe=False))
            except _STILL_UNKNOWN as again:
                # Whatever stops the resend, the first attempt may still have placed the order.
                detail = str(again)
        found = self._lookup(request)
        if found is not None:
            return found
        raise OrderOutcomeUnknownError(request.client_order_id, detail)

    def _lookup(self, request: OrderRequest) -> Order | None:
        try:
            return self.find_order(request.client_order_id, request.instrument)
        except (ExchangeUnavailableError, ExchangeDataError, ExchangeRequestError):
            return None  # the lookup failed too; resending under the same id is still safe

    def _answer(self, request: OrderRequest, reply: Reply) -> Order:
        """Return the order a definite answer to `POST /orders` describes."""
        if reply.status != 200:
            return self._rejected(request, f"refused by the exchange: {reply.error_text()}")
        answer = reply.parse(s.CreateOrderResponse)
        if answer.success and answer.success_response is not None:
            order_id = answer.success_response.order_id
            self._client_ids[order_id] = request.client_order_id
            order = Order(order_id, request, self._clock.now_ns())
            order.accept(order.created_ts)
            return order
        if answer.success:
            raise ExchangeDataError(reply.route, "success_response", "missing on success")
        return self._rejected(request, _refusal_text(answer.error_response))

    def _rejected(self, request: OrderRequest, reason: str) -> Order:
        order = Order(f"REJECTED-{request.client_order_id}", request, self._clock.now_ns())
        order.reject(reason, order.created_ts)
        return order

    def _instrument(self, symbol: str) -> Instrument | None:
        if symbol not in self._instruments:
            self.instruments()
        return self._instruments.get(symbol)

    # -- reading --------------------------------------------------------------------------

    def _order(self, record: s.OrderRecord, route: str, where: str) -> Order:
        order = parse.order(record, route=route, where=where)
        self._client_ids[order.order_id] = order.client_order_id
        return order

    def _list_orders(self, params: dict[str, Any]) -> list[tuple[str, str, s.OrderRecord]]:
        found: list[tuple[str, str, s.OrderRecord]] = []
        cursor = ""
        for _ in range(self._max_pages):
            query = {**params, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
            reply = _ok(self._rest.get("/orders/historical/batch", query))
            page = reply.parse(s.ListOrdersResponse)
            found.extend((reply.route, f"orders.{i}", r) for i, r in enumerate(page.orders))
            cursor = page.cursor if page.has_next else ""
            if not cursor:
                break
        return found

    def _list_fills(self, since_ts: int | None) -> list[tuple[str, str, s.FillRecord]]:
        found: list[tuple[str, str, s.FillRecord]] = []
        cursor = ""
        base: dict[str, Any] = {"limit": PAGE_SIZE}
        if since_ts is not None:
            base["start_sequence_timestamp"] = _rfc3339(since_ts)
        for _ in range(self._max_pages):
            query = {**base, **({"cursor": cursor} if cursor else {})}
            reply = _ok(self._rest.get("/orders/historical/fills", query))
            page = reply.parse(s.ListFillsResponse)
            found.extend((reply.route, f"fills.{i}", r) for i, r in enumerate(page.fills))
            cursor = page.cursor
            if not cursor or not page.fills:
                break
        return found

    def _learn_client_ids(self, order_ids: set[str]) -> None:
        """Fetch the client order ids of orders seen only through their fills."""
        missing = sorted(order_ids - set(self._client_ids))
        for start in range(0, len(missing), 50):
            for _, _, record in self._list_orders({"order_ids": missing[start : start + 50]}):
                self._client_ids[record.order_id] = record.client_order_id

    def _quote_of(self, product_id: str) -> str:
        known = self._instruments.get(product_id)
        return known.quote if known else product_id.partition("-")[2]


def _refusal_text(error: s.CreateOrderError | None) -> str:
    if error is None:
        return "refused by the exchange: no reason given"
    code = error.preview_failure_reason or error.new_order_failure_reason or error.error
    return f"refused by the exchange: {code}: {error.message or error.error_details}".strip()


def _rfc3339(ts_ns: int) -> str:
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
