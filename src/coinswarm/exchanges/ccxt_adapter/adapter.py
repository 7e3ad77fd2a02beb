"""`CcxtAdapter`: the exchange port over any synchronous ccxt exchange instance.

Orders carry our client order id (ccxt's `clientOrderId`, or the exchange's own parameter
where ccxt ignores the unified one). An answer lost after sending (ccxt's network errors,
timeouts, 5xx, malformed bodies) is resolved by looking the client order id up and, when
absent, sending again under the same id, never a new one. Definite refusals (invalid order,
insufficient funds, bad request) become REJECTED orders; a bad key raises. Fills are listed
page after page where the exchange pages them by a cursor (`listing`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt  # type: ignore[import-untyped]  # ccxt ships no type information

from coinswarm.domain.clock import Clock, WallClock
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest, OrderSide
from coinswarm.exchanges.ccxt_adapter import listing, parse
from coinswarm.exchanges.ccxt_adapter.errors import (
    CcxtExchangeError,
    CcxtOrderOutcomeUnknownError,
    CcxtUnavailableError,
)
from coinswarm.exchanges.ccxt_adapter.numbers import optional
from coinswarm.exchanges.ccxt_adapter.orders import Prepared, prepare
from coinswarm.exchanges.network_errors import describe, host_in

__all__ = ["CLIENT_ID_PARAMS", "CcxtAdapter", "CcxtAdapterConfig"]

CLIENT_ID_PARAMS = {"coinbase": "client_order_id", "coinbaseadvanced": "client_order_id"}
"""Exchanges whose ccxt class drops the unified `clientOrderId` and takes the native name."""

# Refusals that settle an order: the exchange read it and said no.
_DEFINITE = (ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.BadRequest)
# Refusals of the caller, not of the order: a wrong key or an unsupported call.
_CALLER = (ccxt.AuthenticationError, ccxt.NotSupported, ccxt.ArgumentsRequired)


class _LostAnswerError(Exception):
    """An answer to create_order that says nothing: treated like a timeout."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CcxtAdapterConfig:
    """How hard to try before an order's outcome is declared unknown, and how to list fills.

    `client_id_param` and `fills_cursor` override what `CLIENT_ID_PARAMS` and
    `listing.FILL_CURSORS` say of the exchange; `fills_page_size` is how many trades a page
    of the fill listing asks for.
    """

    attempts: int = 3
    backoff_s: float = 0.5
    client_id_param: str | None = None
    fills_cursor: str | None = None
    fills_page_size: int = listing.DEFAULT_PAGE_SIZE


class CcxtAdapter:
    """Place, cancel and look up orders, list fills and read balances through ccxt."""

    def __init__(
        self,
        exchange: Any,
        *,
        config: CcxtAdapterConfig | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name: str = str(exchange.id)
        # ccxt turns the exchange's decimal text into floats unless told to keep it as text
        # (its `number = str`); its own arithmetic is on strings either way. Kept as text, a
        # fee or size of more than 15 digits reaches `Decimal` exactly.
        exchange.number = str
        self._exchange = exchange
        self._config = config or CcxtAdapterConfig()
        self._client_id_param = self._config.client_id_param or CLIENT_ID_PARAMS.get(
            self.name, "clientOrderId"
        )
        self._fills_cursor = self._config.fills_cursor or listing.FILL_CURSORS.get(self.name)
        # ccxt's own flag: a market buy's amount is turned into a cost (amount x price).
        options = getattr(exchange, "options", None) or {}
        self._market_buys_by_quote = bool(options.get("createMarketBuyOrderRequiresPrice"))
        self._clock = clock or WallClock()
        self._sleep = sleep
        self._markets: dict[str, parse.Market] | None = None
        self._requests: dict[str, OrderRequest] = {}
        self._last_status = 0
        session = getattr(exchange, "session", None)
        if session is not None:  # ccxt's sync classes talk through one requests.Session
            session.hooks["response"].append(self._saw)

    def _saw(self, response: Any, *args: Any, **kwargs: Any) -> None:
        # Some ccxt classes (coinbase among them) turn a 5xx with a JSON error body into a
        # plain ExchangeError; the status tells a server failure from a refusal.
        self._last_status = int(getattr(response, "status_code", 0))

    # -- markets ------------------------------------------------------------------------------

    def _all_markets(self) -> dict[str, parse.Market]:
        if self._markets is None:
            raw = self._read("load_markets", self._exchange.load_markets)
            mode = int(self._exchange.precisionMode)
            found = [parse.market(m, mode) for m in raw.values() if m.get("spot")]
            self._markets = {m.instrument.symbol: m for m in found}
        return self._markets

    def _by_ccxt_symbol(self, symbol: object, call: str) -> parse.Market:
        for found in self._all_markets().values():
            if found.ccxt_symbol == symbol:
                return found
        raise CcxtExchangeError(f"{call}: unknown market {symbol!r}")

    def instruments(self) -> Mapping[str, Instrument]:
        """Return every spot market as an instrument, keyed BTC-USD style."""
        return {name: m.instrument for name, m in self._all_markets().items()}

    # -- reads --------------------------------------------------------------------------------

    def _read(self, call: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ccxt.OperationFailed as error:
            raise CcxtUnavailableError(f"{call}: {_why(error)}") from None
        except ccxt.BaseError as error:
            raise CcxtExchangeError(f"{call}: {type(error).__name__}: {error}") from None

    def _order(self, raw: Mapping[str, Any], call: str, known: OrderRequest | None = None) -> Order:
        market = self._by_ccxt_symbol(raw.get("symbol"), call)
        request = known or self._requests.get(str(raw.get("id")))
        if request is None:
            request = parse.request_from_order(raw, market.instrument, call)
        return parse.order(raw, request, market.instrument, call)

    def get_order(self, order_id: str) -> Order:
        """Return the exchange's current view of one order."""
        symbol = self._symbol_of(order_id)
        raw = self._read("fetch_order", self._exchange.fetch_order, order_id, symbol)
        return self._order(raw, "fetch_order")

    def _symbol_of(self, order_id: str) -> str | None:
        request = self._requests.get(order_id)
        if request is None:
            return None
        return self._all_markets()[request.instrument].ccxt_symbol

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]:
        """Return the orders still live, for one instrument or all."""
        symbol = self._all_markets()[instrument].ccxt_symbol if instrument else None
        raws = self._read("fetch_open_orders", self._exchange.fetch_open_orders, symbol)
        return [self._order(raw, "fetch_open_orders") for raw in raws]

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        """Return our fills, oldest first, from `since_ts` (UTC nanoseconds) on, every page."""
        since_ms = None if since_ts is None else since_ts // parse.NS_PER_MS
        raws = listing.my_trades(
            self._trades_page,
            since_ms=since_ms,
            cursor_key=self._fills_cursor,
            page_size=self._config.fills_page_size,
        )
        fills: dict[str, Fill] = {}
        for raw in raws:
            market = self._by_ccxt_symbol(raw.get("symbol"), "fetch_my_trades")
            cid = self._client_id(str(raw.get("order")))
            found = parse.fill(
                raw, client_order_id=cid, instrument=market.instrument, call="fetch_my_trades"
            )
            fills[found.trade_id] = found  # a trade listed on two pages is one fill
        return sorted(fills.values(), key=lambda f: (f.ts, f.trade_id))

    def _trades_page(
        self, since_ms: int | None, limit: int | None, params: dict[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        fetch = self._exchange.fetch_my_trades
        result: Sequence[Mapping[str, Any]] = self._read(
            "fetch_my_trades", fetch, None, since_ms, limit, params
        )
        return result

    def _client_id(self, order_id: str) -> str:
        request = self._requests.get(order_id)
        if request is None:
            request = self.get_order(order_id).request
            self._requests[order_id] = request
        return request.client_order_id

    def balances(self) -> Mapping[str, Decimal]:
        """Return each currency's total balance (free plus held)."""
        raw = self._read("fetch_balance", self._exchange.fetch_balance)
        totals = raw.get("total") or {}
        result = {}
        for currency, value in totals.items():
            amount = optional(value, call="fetch_balance", field=f"total.{currency}")
            if amount is not None:
                result[str(currency)] = amount
        return result

    # -- cancel -------------------------------------------------------------------------------

    def cancel_order(self, order_id: str) -> Order:
        """Cancel an order and return its state; cancelling a finished order changes nothing."""
        symbol = self._symbol_of(order_id)
        refusal: ccxt.BaseError | None = None
        try:
            self._exchange.cancel_order(order_id, symbol)
        except ccxt.OperationFailed as error:
            raise CcxtUnavailableError(f"cancel_order {order_id}: {error}") from None
        except _CALLER as error:
            raise CcxtExchangeError(f"cancel_order {order_id}: {error}") from None
        except ccxt.ExchangeError as error:
            refusal = error  # often "already done": the order's own state decides below
        order = self.get_order(order_id)
        if refusal is not None and order.is_live:
            raise CcxtExchangeError(f"cancel_order {order_id}: {refusal}")
        return order

    # -- place --------------------------------------------------------------------------------

    def _rejected(self, request: OrderRequest, reason: str) -> Order:
        order = Order(f"rejected-{request.client_order_id}", request, self._clock.now_ns())
        order.reject(reason, self._clock.now_ns())
        return order

    def _create(self, prepared: Prepared, market: parse.Market) -> Any:
        request = prepared.request
        params = {self._client_id_param: request.client_order_id}
        symbol, side = market.ccxt_symbol, request.side.value.lower()
        if prepared.cost is not None:
            return self._exchange.create_market_buy_order_with_cost(symbol, prepared.cost, params)
        kind = request.type.value.lower()
        return self._exchange.create_order(
            symbol, kind, side, prepared.amount, prepared.price, params
        )

    def _lookup(self, request: OrderRequest, market: parse.Market) -> Order | None:
        """Return the order the exchange holds under our client order id, or None."""
        try:
            raws = self._exchange.fetch_orders(market.ccxt_symbol)
        except ccxt.BaseError:
            return None  # the lookup failed too: the caller resends under the same id
        for raw in raws:
            if raw.get("clientOrderId") == request.client_order_id:
                self._requests[str(raw.get("id"))] = request
                return self._order(raw, "fetch_orders", request)
        return None

    def _settle(self, raw: Mapping[str, Any], request: OrderRequest) -> Order:
        if not raw.get("id"):
            # ccxt hands back an empty order when the body would not parse: an answer lost.
            raise _LostAnswerError("create_order returned no order id")
        order_id = str(raw.get("id"))
        self._requests[order_id] = request
        if raw.get("status") is not None and raw.get("symbol") is not None:
            return self._order(raw, "create_order", request)
        try:
            return self.get_order(order_id)
        except CcxtUnavailableError:
            # Placed for sure (it has an id), state unknown for now: report it as new.
            return Order(order_id, request, self._clock.now_ns())

    def place_order(self, request: OrderRequest) -> Order:
        """Send an order once; resolve a lost answer by its client order id, never a new id."""
        market = self._all_markets().get(request.instrument)
        if market is None:
            return self._rejected(request, f"unknown instrument {request.instrument}")
        if request.quote_quantity is not None and request.side is OrderSide.SELL:
            return self._rejected(request, "quote-sized orders are market buys only")
        prepared = prepare(
            request, market.instrument, market_buys_by_quote=self._market_buys_by_quote
        )
        if isinstance(prepared, str):
            return self._rejected(request, prepared)
        request = prepared.request  # rounded to the market's increments: what the exchange holds
        problem = "no attempt"
        for attempt in range(max(self._config.attempts, 1)):
            self._last_status = 0
            try:
                return self._settle(self._create(prepared, market), request)
            except (ccxt.OperationFailed, _LostAnswerError) as error:
                problem = f"{type(error).__name__}: {error}"
            except _CALLER as error:
                raise CcxtExchangeError(f"create_order: {error}") from None
            except ccxt.ExchangeError as error:
                if self._last_status < 500:
                    return self._refused(request, market, error, after_doubt=attempt > 0)
                problem = f"HTTP {self._last_status}: {error}"
            found = self._lookup(request, market)
            if found is not None:
                return found
            self._sleep(self._config.backoff_s * 2**attempt)
        detail = f"{self._config.attempts} attempts, last {problem}"
        raise CcxtOrderOutcomeUnknownError(request.client_order_id, detail)

    def _refused(
        self, request: OrderRequest, market: parse.Market, error: Exception, *, after_doubt: bool
    ) -> Order:
        # A refusal after a lost answer may be "duplicate id": the first send got through. And
        # ccxt reports some 5xx bodies as plain exchange errors. Believe either only after a
        # lookup finds nothing.
        if after_doubt or not isinstance(error, _DEFINITE):
            found = self._lookup(request, market)
            if found is not None:
                return found
        return self._rejected(request, f"{type(error).__name__}: {error}")


def _why(error: BaseException) -> str:
    """Return a failure to reach the exchange with its cause (DNS, refused, TLS)."""
    told = describe(error, host_in(str(error), "the exchange"))
    return told or f"{type(error).__name__}: {error}"
