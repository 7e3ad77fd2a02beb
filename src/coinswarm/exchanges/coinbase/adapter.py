"""`CoinbaseAdapter`: the exchange port over Coinbase Advanced Trade REST.

Order creation is the one request that must never be repeated blindly. A lost answer (timeout,
dropped connection, 5xx, unreadable body) leaves the order possibly placed; the adapter then
looks it up by client order id, and if it is not there sends it again under the SAME id, which
Coinbase answers with the existing order if there is one. Only a definite refusal (HTTP 200
with `success: false`, or a 4xx) makes an order REJECTED.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
from coinswarm.exchanges.coinbase.health import (
    CancelAllResult,
    CancelOutcome,
    DataFault,
    DataHealth,
)
from coinswarm.exchanges.coinbase.orders import body_for, prepare
from coinswarm.exchanges.coinbase.paging import after_has_next, pages
from coinswarm.exchanges.coinbase.rest import AmbiguousRequestError, Reply, RestClient
from coinswarm.exchanges.coinbase.skew import SKEW_TOLERANCE_S, explain_refusal, rfc3339

__all__ = ["CoinbaseAdapter", "KeyScopes"]

PAGE_SIZE = 250
"""Items asked per page of a listing: few requests for a normal day, small answers each."""
BATCH_CANCEL_MAX = 100
"""Coinbase takes at most 100 order ids in one `POST /orders/batch_cancel`."""

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
    `OrderOutcomeUnknownError`. Every listing follows its cursor to the end, each page one
    request through the rate limit.

    `clock` stamps the orders the adapter makes (a replay's historical clock, say); `wall`
    (by default `clock`) is compared with the exchange's `GET /time` when a key is refused.
    An answer that cannot be trusted raises `ExchangeDataError` and is kept in `health`, whose
    `trading_paused` is the engine's signal to stop trading until reconciliation.
    """

    def __init__(
        self,
        rest: RestClient,
        *,
        clock: Clock,
        wall: Clock | None = None,
        name: str = "coinbase",
        resends: int = 1,
        skew_tolerance_s: float = SKEW_TOLERANCE_S,
    ) -> None:
        self.name = name
        self._rest = rest
        self._clock = clock
        self._wall = wall or clock
        self._resends = resends
        self._skew_tolerance_s = skew_tolerance_s
        self._instruments: dict[str, Instrument] = {}
        self._client_ids: dict[str, str] = {}  # order id -> client order id; never changes
        self.health = DataHealth()

    @property
    def rest(self) -> RestClient:
        """Return the signed, rate-limited client, for reads beside trading (candle history)."""
        return self._rest

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
        with self._watch():
            reply = _ok(self._get("/products"))
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
        with self._watch():
            listed = pages(
                lambda query: _ok(self._get("/accounts", query)),
                {"limit": PAGE_SIZE},
                s.ListAccountsResponse,
                after_has_next,
            )
            for reply, page in listed:
                for currency, amount in parse.balances(page.accounts, route=reply.route).items():
                    totals[currency] = totals.get(currency, Decimal(0)) + amount
        return totals

    def check_permissions(self, *, live: bool) -> KeyScopes:
        """Return the key's scopes; refuse, for live trading, a key that can move funds out."""
        with self._watch():
            reply = _ok(self._get("/key_permissions"))
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
        try:
            return self._submit(prepared.request)
        except OrderOutcomeUnknownError as unknown:
            # Not rejected: it may exist. It stays in flight until reconciliation finds it.
            self.health.set_aside(unknown.client_order_id, str(unknown))
            raise

    def cancel_order(self, order_id: str, *, priority: bool = False) -> Order:
        """Ask for a cancel and return the order as it now stands (cancelled or already done).

        `priority` (the kill switch's cancels) sends it ahead of queued ordinary requests.
        """
        self.cancel_orders([order_id], priority=priority)
        return self.get_order(order_id, priority=priority)

    def cancel_orders(
        self, order_ids: Sequence[str], *, priority: bool = False
    ) -> tuple[CancelOutcome, ...]:
        """Cancel orders in batches of at most 100; return each order's outcome."""
        outcomes: list[CancelOutcome] = []
        for start in range(0, len(order_ids), BATCH_CANCEL_MAX):
            chunk = list(order_ids[start : start + BATCH_CANCEL_MAX])
            # Cancelling twice changes nothing, so a lost answer is simply asked again.
            with self._watch():
                reply = _ok(
                    self._post(
                        "/orders/batch_cancel",
                        {"order_ids": chunk},
                        retry_safe=True,
                        priority=priority,
                    )
                )
                results = reply.parse(s.CancelOrdersResponse).results
            outcomes += [CancelOutcome(r.order_id, r.success, r.failure_reason) for r in results]
        return tuple(outcomes)

    def cancel_all(
        self, *, instrument: str | None = None, priority: bool = True, attempts: int = 30
    ) -> CancelAllResult:
        """Cancel every open order, as the kill switch asks, retrying until the exchange answers.

        Each try lists the open orders and cancels them in batches, in the priority lane. An
        unreachable exchange is tried again after a growing, jittered wait, up to `attempts`
        tries; the local block on new orders is the door's job and holds meanwhile.
        """
        failure: ExchangeUnavailableError | None = None
        for attempt in range(1, attempts + 1):
            try:
                live = self.open_orders(instrument, priority=priority)
                outcomes = self.cancel_orders([o.order_id for o in live], priority=priority)
            except ExchangeUnavailableError as error:
                failure = error
                self._rest.wait_before_retry(min(attempt, 6))
                continue
            return CancelAllResult(outcomes, attempt)
        msg = f"cancel-all: the exchange did not answer in {attempts} tries; last: {failure}"
        raise ExchangeUnavailableError(msg)

    def get_order(self, order_id: str, *, priority: bool = False) -> Order:
        """Return one order; raise `OrderNotFoundError` for an id the exchange does not know."""
        with self._watch(order_id):
            reply = self._get(f"/orders/historical/{order_id}", priority=priority)
            if reply.status == 404:
                msg = f"{reply.route}: the exchange knows no order {order_id!r}"
                raise OrderNotFoundError(msg)
            record = _ok(reply).parse(s.GetOrderResponse).order
            return self._order(record, reply.route, "order")

    def open_orders(
        self, instrument: str | None = None, *, priority: bool = False
    ) -> Sequence[Order]:
        """Return the orders that can still fill, for one product or all."""
        params: dict[str, Any] = {"order_status": ["OPEN"]}
        if instrument is not None:
            params["product_ids"] = [instrument]
        with self._watch():
            listed = self._list_orders(params, priority=priority)
            orders = [self._order(r, route, w) for route, w, r in listed]
        return [o for o in orders if o.is_live]

    # -- what could not be trusted --------------------------------------------------------

    @property
    def trading_paused(self) -> bool:
        """Return True while an untrusted answer or an order set aside awaits reconciliation."""
        return self.health.trading_paused

    @property
    def pause_reason(self) -> str:
        """Return why trading should pause, naming each route and field; empty if it need not."""
        return self.health.pause_reason

    @property
    def data_faults(self) -> tuple[DataFault, ...]:
        return self.health.faults

    def mark_reconciled(self) -> None:
        """Forget the faults and set-aside orders once a reconciliation settled them."""
        self.health.clear()

    @contextmanager
    def _watch(self, subject: str = "") -> Iterator[None]:
        """Keep any untrustworthy answer raised inside, with the order it was about."""
        try:
            yield
        except ExchangeDataError as error:
            self.health.record(error, subject)
            raise

    def _get(
        self, path: str, params: dict[str, Any] | None = None, *, priority: bool = False
    ) -> Reply:
        try:
            return self._rest.get(path, params, priority=priority)
        except ExchangeAuthError as refused:
            raise self._explained(refused) from None

    def _post(
        self, path: str, body: dict[str, Any], *, retry_safe: bool, priority: bool = False
    ) -> Reply:
        try:
            return self._rest.post(path, body, retry_safe=retry_safe, priority=priority)
        except ExchangeAuthError as refused:
            raise self._explained(refused) from None

    def _explained(self, refused: ExchangeAuthError) -> ExchangeAuthError:
        return explain_refusal(refused, self._rest, self._wall, tolerance_s=self._skew_tolerance_s)

    def find_order(self, client_order_id: str, instrument: str | None = None) -> Order | None:
        """Return the order placed under `client_order_id`, or None if the listing lacks it.

        Coinbase has no lookup by client order id, so this lists orders and filters.
        """
        params: dict[str, Any] = {"product_ids": [instrument]} if instrument else {}
        with self._watch(client_order_id):
            for route, where, record in self._list_orders(params):
                if record.client_order_id == client_order_id:
                    return self._order(record, route, where)
        return None

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        """Return fills oldest first, each with its `trade_id` and its order's client id."""
        with self._watch():
            records = self._list_fills(since_ts)
            self._learn_client_ids({r.order_id for _, _, r in records})
            fills = [
                parse.fill(
                    record,
                    client_order_id=self._client_ids.get(record.order_id, ""),
                    quote=self._quote_of(record, route, where),
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
            return self._answer(request, self._post("/orders", body, retry_safe=False))
        except (AmbiguousRequestError, ExchangeDataError) as lost:
            return self._resolve(request, body, str(lost))

    def _resolve(self, request: OrderRequest, body: dict[str, Any], detail: str) -> Order:
        """Settle an order whose answer was lost, without ever using a new client order id."""
        for _ in range(self._resends):
            found = self._lookup(request)
            if found is not None:
                return found
            try:
                return self._answer(request, self._post("/orders", body, retry_safe=False))
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
        self._listed(record.product_id, route, f"{where}.product_id")
        order = parse.order(record, route=route, where=where)
        self._client_ids[order.order_id] = order.client_order_id
        return order

    def _listed(self, product_id: str, route: str, field: str) -> Instrument:
        """Return a product still listed by `GET /products`, or raise naming the field."""
        if product_id not in self._instruments:
            self.instruments()  # listed since we last looked?
        known = self._instruments.get(product_id)
        if known is None:
            problem = f"product {product_id!r} is not listed by GET /products"
            raise ExchangeDataError(route, field, problem)
        return known

    def _list_orders(
        self, params: dict[str, Any], *, priority: bool = False
    ) -> list[tuple[str, str, s.OrderRecord]]:
        listed = pages(
            lambda query: _ok(self._get("/orders/historical/batch", query, priority=priority)),
            {**params, "limit": PAGE_SIZE},
            s.ListOrdersResponse,
            after_has_next,
        )
        return [
            (reply.route, f"orders.{i}", record)
            for reply, page in listed
            for i, record in enumerate(page.orders)
        ]

    def _list_fills(self, since_ts: int | None) -> list[tuple[str, str, s.FillRecord]]:
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if since_ts is not None:
            # One microsecond early: Coinbase writes microseconds and says "after" the start,
            # so a fill exactly at `since_ts` must not hinge on whether that is inclusive.
            # `list_fills` drops what is earlier than asked.
            params["start_sequence_timestamp"] = rfc3339(since_ts - 1000)
        listed = pages(
            lambda query: _ok(self._get("/orders/historical/fills", query)),
            params,
            s.ListFillsResponse,
            # Fills carry no `has_next`: the listing ends at an empty cursor or an empty page.
            lambda _, page: page.cursor if page.fills else "",
        )
        return [
            (reply.route, f"fills.{i}", record)
            for reply, page in listed
            for i, record in enumerate(page.fills)
        ]

    def _learn_client_ids(self, order_ids: set[str]) -> None:
        """Fetch the client order ids of orders seen only through their fills."""
        missing = sorted(order_ids - set(self._client_ids))
        for start in range(0, len(missing), 50):
            for _, _, record in self._list_orders({"order_ids": missing[start : start + 50]}):
                self._client_ids[record.order_id] = record.client_order_id

    def _quote_of(self, record: s.FillRecord, route: str, where: str) -> str:
        return self._listed(record.product_id, route, f"{where}.product_id").quote


def _refusal_text(error: s.CreateOrderError | None) -> str:
    if error is None:
        return "refused by the exchange: no reason given"
    code = error.preview_failure_reason or error.new_order_failure_reason or error.error
    return f"refused by the exchange: {code}: {error.message or error.error_details}".strip()
