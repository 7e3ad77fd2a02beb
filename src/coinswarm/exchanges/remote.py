"""A remote exchange driven bar by bar: its fills are fetched, never simulated here.

`RemoteVenue` puts any `ExchangeAdapter` (Coinbase, CCXT, the local Coinbase-compatible
exchange) behind the engine's `Venue` port. It keeps the orders it saw placed that can still
fill; on each bar it asks the exchange for the fills it has not booked yet (by `trade_id`, so a
fill listed twice is booked once) and refreshes those orders. An optional `driver` is called
first with the bar: a replay against a local exchange uses it to reveal the same bar there, so
that the exchange and the engine step in lockstep.

An exchange that answers badly never ends the run. An order whose placing answer was lost
stays in flight under its client order id (a placeholder order in status NEW); an order whose
cancel or read failed keeps its last known state; an unreadable or inconsistent answer is
refused with an error that names the call or route and the field. Each is set aside
(`remote_doubts`), trading pauses (new orders come back REJECTED, naming what is set aside),
and every bar's catch-up pass reads the set-aside subjects again by order id or client order
id until it can prove what happened; then trading resumes. Fills are booked only once their
order could be read, so none is lost or counted twice whatever the exchange does.

With a `fills` source (the exchange's user channel), a bar costs no fill listing unless the
channel says something happened: the venue books the fills it pushed and reads the orders it
says changed. Whenever the channel cannot vouch for the time since the last bar (not live, a
reconnect, a lost message, a fetch that failed), the venue lists fills by REST as above. What
the channel says that contradicts an order's state machine is set aside like any
inconsistent answer, so trading pauses until the order is read again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol, TypeVar, runtime_checkable

from coinswarm.domain.bar import Bar
from coinswarm.domain.clock import Clock
from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import Order, OrderRequest
from coinswarm.exchanges.base import ExchangeAdapter
from coinswarm.exchanges.fill_source import ChannelDoubt, ChannelNews, FillSource
from coinswarm.exchanges.io_worker import IoWorker
from coinswarm.exchanges.remote_doubts import FILLS, Doubts, Incident, SetAside
from coinswarm.infra.crash import crash_point

__all__ = ["UNRESOLVED_PREFIX", "FindsOrders", "RemoteVenue", "VenueDataError"]

T = TypeVar("T")

UNRESOLVED_PREFIX = "UNRESOLVED-"
"""The id of a placeholder for an order whose placing answer was lost, before its order id."""


@runtime_checkable
class FindsOrders(Protocol):
    """An adapter that can look an order up by the client order id it was sent under."""

    def find_order(self, client_order_id: str, instrument: str | None = None) -> Order | None: ...


class VenueDataError(CoinswarmError, ValueError):
    """An exchange answer that parsed but contradicts what we know: names the call and field."""

    def __init__(self, call: str, field: str, problem: str) -> None:
        self.call = call
        self.field = field
        super().__init__(f"{call}: field '{field}': {problem}")


class RemoteVenue:
    """Drive an exchange adapter from the engine's bars; book each of its fills once.

    `clock` stamps placeholders and incidents (by default the time of the latest bar); every
    call to the adapter runs on the venue's own thread (`io_worker`) with a bounded wait.
    `hold` is asked before every new order (it may be set after construction): a reason (a
    stale market data stream, a reconciliation difference) refuses it as a pause does.
    Cancels always go: each one reduces risk, so an adapter with a priority lane (kill-switch
    cancels first) sends them on it. `fills` is an optional push channel asked once per bar,
    on the venue's thread (its REST calls go where the adapter's do).
    """

    def __init__(
        self,
        adapter: ExchangeAdapter,
        *,
        driver: Callable[[Bar], object] | None = None,
        clock: Clock | None = None,
        worker: IoWorker | None = None,
        hold: Callable[[], str | None] | None = None,
        fills: FillSource | None = None,
    ) -> None:
        self.name = adapter.name
        self.hold = hold
        self._cancels_first = "priority" in inspect.signature(adapter.cancel_order).parameters
        self._adapter = adapter
        self._driver = driver
        self._channel = fills
        self._clock = clock
        self._worker = worker or IoWorker(name=adapter.name)
        self._now = 0
        self._symbols: frozenset[str] | None = None
        self._orders: dict[str, Order] = {}  # every order seen, as last seen
        self._live: dict[str, Order] = {}  # orders that can still fill, as last seen
        self._fresh: set[str] = set()  # orders read from the exchange during this bar
        self._unresolved: dict[str, Order] = {}  # placeholder id -> placeholder
        self._resolved: dict[str, str] = {}  # placeholder id -> the exchange's order id
        self._booked: set[str] = set()  # trade ids already handed to the engine
        self._held: dict[str, Fill] = {}  # fills whose order could not be read yet
        self._since: int | None = None  # fills older than this are all booked
        self._doubts = Doubts()
        self._cancelling: set[str] = set()  # orders whose cancel got no answer: asked again

    def close(self) -> None:
        """Stop the venue's thread; the adapter is the caller's to close."""
        self._worker.close()

    @property
    def known_orders(self) -> dict[str, Order]:
        """Return every order seen, by order id: the record a periodic reconciliation updates."""
        return self._orders

    def in_flight_ids(self) -> set[str]:
        """Return the client order ids of orders whose placing answer is still unknown."""
        return {o.client_order_id for o in self._unresolved.values()}

    def skip_history(self, until_ts: int | None, trade_ids: Iterable[str] = ()) -> None:
        """List fills from where the account's history ends: those before `until_ts`, and
        `trade_ids` at it, were on the account before the session and are never booked."""
        self._booked.update(trade_ids)
        if until_ts is not None and (self._since is None or self._since < until_ts):
            self._since = until_ts

    def adopt(self, orders: Iterable[Order], booked: Iterable[Fill]) -> None:
        """Take over a restarted session's orders, and the fills its ledger already holds."""
        for order in orders:
            self._seen(order)
        fills = list(booked)
        self._booked.update(f.trade_id for f in fills)
        if fills:
            self._since = max(f.ts for f in fills)

    # -- what is set aside -------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """Return True while something is set aside for reconciliation: new orders wait."""
        return bool(self._doubts)

    @property
    def pause_reason(self) -> str:
        """Return what is set aside and why; empty when trading may go on."""
        return self._doubts.pause_reason()

    @property
    def set_aside(self) -> tuple[SetAside, ...]:
        """Return what is set aside now, oldest first."""
        return tuple(self._doubts.items())

    @property
    def incidents(self) -> tuple[Incident, ...]:
        """Return every time something was set aside or caught up, in order."""
        return tuple(self._doubts.incidents)

    # -- the port; placing and cancelling keep the live set ---------------------------------

    def instruments(self) -> Mapping[str, Instrument]:
        found = self._io("instruments", self._adapter.instruments)
        self._symbols = frozenset(found)
        return found

    def place_order(self, request: OrderRequest) -> Order:
        """Send `request`, unless trading is paused; keep a lost answer in flight."""
        if self._doubts:
            return self._refused(request, f"trading paused: {self._doubts.pause_reason()}")
        held = self.hold() if self.hold is not None else None
        if held:
            return self._refused(request, f"trading paused: {held}")
        try:
            order = self._io("place_order", lambda: self._adapter.place_order(request))
        except CoinswarmError as error:
            return self._in_flight(request, f"place_order: {error}")
        # Answered, not yet saved: reliability scenario 6.
        crash_point("order_sent", request.instrument)
        if order.client_order_id != request.client_order_id:
            problem = f"expected {request.client_order_id!r}, found {order.client_order_id!r}"
            return self._in_flight(
                request, str(VenueDataError("place_order", "client_order_id", problem))
            )
        return self._seen(order)

    def cancel_order(self, order_id: str) -> Order:
        """Ask for a cancel; if it gets no usable answer, set the order aside as it stands."""
        order_id = self._resolved.get(order_id, order_id)
        if order_id in self._unresolved:
            # Not confirmed by the exchange yet: there is no order id to cancel.
            return self._unresolved[order_id].snapshot()
        try:
            order = self._checked(
                order_id, self._io(f"cancel_order {order_id}", self._cancel(order_id))
            )
        except CoinswarmError as error:
            # A cancel is risk coming off (a kill switch's, a breaker's): ask again every bar
            # until the exchange shows the order final (reliability scenario 20).
            self._cancelling.add(order_id)
            return self._doubt_order(order_id, f"cancel_order {order_id}: {error}")
        self._fresh.add(order_id)
        return self._seen(order)

    def get_order(self, order_id: str) -> Order:
        """Return an order; one read during this bar is not asked for again."""
        order_id = self._resolved.get(order_id, order_id)
        if order_id in self._unresolved:
            return self._unresolved[order_id].snapshot()
        known = self._orders.get(order_id)
        if known is not None and (order_id in self._fresh or known.status.is_terminal):
            # Read during this bar, or final: asking again could change nothing.
            return known.snapshot()
        try:
            return self._read(order_id)
        except CoinswarmError as error:
            return self._doubt_order(order_id, str(error))

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]:
        """Return the orders that could still fill when last seen, placeholders included."""
        candidates = [*self._live.values(), *self._unresolved.values()]
        return [o.snapshot() for o in candidates if instrument in (None, o.instrument)]

    def open_order_count(self) -> int:
        return len(self._live) + len(self._unresolved)

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        return self._io("list_fills", lambda: self._adapter.list_fills(since_ts=since_ts))

    def balances(self) -> Mapping[str, Decimal]:
        return self._io("balances", self._adapter.balances)

    # -- driven by the feed ---------------------------------------------------------------

    def has_resting(self, instrument: str) -> bool:
        return any(
            o.instrument == instrument for o in (*self._live.values(), *self._unresolved.values())
        )

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Let the exchange see `bar`, catch up what is set aside, return fills not yet booked."""
        self._now = bar.ts
        self._fresh.clear()
        if self._driver is not None:
            self._driver(bar)
        if self._doubts:
            self._catch_up()
        # After the catch-up: what the channel doubts now holds trading until the next bar.
        news = self._news()
        if news is not None and news.complete and FILLS not in self._doubts:
            return self._pushed(news)
        return self._polled(bar, news.fills if news is not None else ())

    # -- fills ----------------------------------------------------------------------------

    def settle(self) -> list[Fill]:
        """At the end of a run: the fills since the last bar, listed by REST whatever the
        channel says, each with its order read after it was listed."""
        self._fresh.clear()
        if self._doubts:
            self._catch_up()
        if not self._orders and FILLS not in self._doubts:
            return []
        return self._new_fills()

    def _news(self) -> ChannelNews | None:
        """Ask the channel what changed since the last bar; None without one or an answer."""
        channel = self._channel
        if channel is None:
            return None
        try:
            news = self._io("fill source", channel.news)
        except CoinswarmError:
            return None  # the fill listing below covers the bar
        for doubt in news.doubts:
            self._set_aside_doubt(doubt)
        return news

    def _pushed(self, news: ChannelNews) -> list[Fill]:
        """Book what the channel pushed; read only the orders it shows changed."""
        fills = self._taken([*self._held.values(), *news.fills], "fill source")
        changed = [o.order_id for o in news.orders if self._changed(o)]
        for order_id in dict.fromkeys([*changed, *(f.order_id for f in fills)]):
            if order_id not in self._fresh:
                self.get_order(order_id)
        return fills

    def _changed(self, seen: Order) -> bool:
        """Return True if the channel shows a live order other than as last read."""
        known = self._live.get(seen.order_id)
        return known is not None and (known.status, known.filled_quantity) != (
            seen.status,
            seen.filled_quantity,
        )

    def _polled(self, bar: Bar, pushed: Sequence[Fill]) -> list[Fill]:
        """List fills by REST (with any pushed ones) and read this instrument's live orders."""
        waiting = FILLS in self._doubts or self._held or pushed
        if not self.has_resting(bar.instrument) and not waiting:
            return []
        fills = self._new_fills(pushed)
        wanted = [o for o, order in self._live.items() if order.instrument == bar.instrument]
        for order_id in dict.fromkeys([*wanted, *(f.order_id for f in fills)]):
            if order_id not in self._fresh:
                self.get_order(order_id)
        return fills

    def _new_fills(self, pushed: Sequence[Fill] = ()) -> list[Fill]:
        """Return the listed (and pushed) fills not booked yet whose orders could be read."""
        try:
            listed = self._io("list_fills", lambda: self._adapter.list_fills(since_ts=self._since))
        except CoinswarmError as error:
            self._doubts.set_aside(SetAside(FILLS, str(error), self._ts()))
            return []
        return self._taken([*self._held.values(), *pushed, *listed], "list_fills")

    def _taken(self, candidates: Sequence[Fill], call: str) -> list[Fill]:
        """Book the candidates not booked yet whose orders could be read; hold the rest back."""
        new = list({f.trade_id: f for f in candidates if f.trade_id not in self._booked}.values())
        try:
            self._check_products(new, call)
        except CoinswarmError as error:
            self._doubts.set_aside(SetAside(FILLS, str(error), self._ts()))
            return []
        self._doubts.clear(FILLS, self._ts(), "fills listed and read cleanly again")
        ready = [f for f in new if self._order_known(f)]
        held = [f for f in new if f not in ready]
        self._booked.update(f.trade_id for f in ready)
        self._held = {f.trade_id: f for f in held}
        times = [f.ts for f in held] or [f.ts for f in ready]
        if times:
            newest = min(times) if held else max(times)
            self._since = newest if self._since is None or held else max(self._since, newest)
        return ready

    def _check_products(self, fills: Sequence[Fill], call: str) -> None:
        for fill in fills:
            if self._symbols is not None and fill.instrument not in self._symbols:
                self._set_aside_owner(fill)
                problem = f"product {fill.instrument!r} is not listed by the exchange"
                raise VenueDataError(call, f"fill {fill.trade_id}.product_id", problem)

    def _set_aside_owner(self, fill: Fill) -> None:
        known = self._orders.get(fill.order_id)
        subject = known.client_order_id if known else fill.client_order_id or fill.order_id
        reason = f"fill {fill.trade_id} names product {fill.instrument!r}, which is not listed"
        self._doubts.set_aside(SetAside(subject, reason, self._ts(), order_id=fill.order_id))

    def _set_aside_doubt(self, doubt: ChannelDoubt) -> None:
        known = self._orders.get(doubt.order_id)
        subject = known.client_order_id if known else doubt.client_order_id or doubt.order_id
        entry = SetAside(subject, doubt.reason, self._ts(), order_id=doubt.order_id)
        self._doubts.set_aside(entry)

    def _order_known(self, fill: Fill) -> bool:
        """Read the order of `fill` during this bar; False (fill held back) if it cannot be."""
        if fill.order_id in self._fresh:
            return True
        try:
            self._read(fill.order_id)
        except CoinswarmError as error:
            if fill.order_id in self._orders:
                self._doubt_order(fill.order_id, str(error))
            else:
                subject = fill.client_order_id or fill.order_id
                entry = SetAside(subject, str(error), self._ts(), order_id=fill.order_id)
                self._doubts.set_aside(entry)
            return False
        return True

    # -- catching up ------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """Read every set-aside order again; clear those the exchange now accounts for."""
        for entry in self._doubts.items():
            if entry.subject == FILLS:
                continue  # the fill listing below settles it
            try:
                if entry.order_id is None:
                    detail = self._find_placed(entry)
                elif entry.order_id in self._cancelling:
                    detail = self._cancel_again(entry.order_id)
                else:
                    order = self._read(entry.order_id)
                    detail = f"read again: {order.order_id} is {order.status}"
            except CoinswarmError:
                continue  # still unreadable: it stays set aside under its first reason
            self._doubts.clear(entry.subject, self._ts(), detail)

    def _cancel_again(self, order_id: str) -> str:
        """Ask again for a cancel that got no answer; raise while the order may still fill."""
        try:
            order = self._checked(
                order_id, self._io(f"cancel_order {order_id}", self._cancel(order_id))
            )
        except CoinswarmError:
            order = self._read(order_id)  # a refused cancel: perhaps it ended meanwhile
            if not order.status.is_terminal:
                raise
        self._fresh.add(order_id)
        self._seen(order)
        self._cancelling.discard(order_id)
        return f"cancel asked again: {order_id} is {order.status}"

    def _find_placed(self, entry: SetAside) -> str:
        """Settle an order whose placing answer was lost, by its client order id."""
        request = entry.request
        assert request is not None  # set aside without an order id only by place_order
        placeholder = self._unresolved[UNRESOLVED_PREFIX + entry.subject]
        if not isinstance(self._adapter, FindsOrders):
            found = next(
                (
                    o
                    for o in self._io("open_orders", self._adapter.open_orders)
                    if o.client_order_id == entry.subject
                ),
                None,
            )
            if found is None:
                msg = f"order {entry.subject}: not open, and this adapter cannot look it up"
                raise VenueDataError("open_orders", "client_order_id", msg)
        else:
            adapter = self._adapter
            found = self._io(
                f"find_order {entry.subject}",
                lambda: adapter.find_order(request.client_order_id, request.instrument),
            )
        del self._unresolved[placeholder.order_id]
        if found is None:
            placeholder.reject(f"not placed: the exchange has no order {entry.subject}", self._ts())
            self._orders[placeholder.order_id] = placeholder
            return "the exchange has no order under this client order id: it was not placed"
        self._resolved[placeholder.order_id] = found.order_id
        self._fresh.add(found.order_id)
        self._seen(self._checked(found.order_id, found))
        return f"found as exchange order {found.order_id} ({found.status})"

    # -- reading and recording --------------------------------------------------------------

    def _read(self, order_id: str) -> Order:
        order = self._checked(
            order_id, self._io(f"get_order {order_id}", lambda: self._adapter.get_order(order_id))
        )
        self._fresh.add(order_id)
        return self._seen(order)

    def _cancel(self, order_id: str) -> Callable[[], Order]:
        if self._cancels_first:
            cancel: Callable[..., Order] = self._adapter.cancel_order
            return lambda: cancel(order_id, priority=True)
        return lambda: self._adapter.cancel_order(order_id)

    def _checked(self, order_id: str, order: Order) -> Order:
        """Return `order` if it is the order asked for, on a listed product; else raise."""
        call = f"get_order {order_id}"
        if order.order_id != order_id:
            raise VenueDataError(
                call, "order_id", f"expected {order_id!r}, found {order.order_id!r}"
            )
        if self._symbols is not None and order.instrument not in self._symbols:
            problem = f"product {order.instrument!r} is not listed by the exchange"
            raise VenueDataError(call, "product_id", problem)
        known = self._orders.get(order_id)
        if known is not None and (known.client_order_id, known.instrument) != (
            order.client_order_id,
            order.instrument,
        ):
            problem = (
                f"expected {known.client_order_id} on {known.instrument}, found "
                f"{order.client_order_id} on {order.instrument}"
            )
            raise VenueDataError(call, "client_order_id/product_id", problem)
        return order

    def _doubt_order(self, order_id: str, reason: str) -> Order:
        """Set an order aside and return it as last seen (raise if it was never seen)."""
        known = self._orders.get(order_id)
        if known is None:
            raise VenueDataError("get_order", "order_id", f"unknown order {order_id}: {reason}")
        entry = SetAside(known.client_order_id, reason, self._ts(), order_id=order_id)
        self._doubts.set_aside(entry)
        return known.snapshot()

    def _in_flight(self, request: OrderRequest, reason: str) -> Order:
        placeholder = Order(UNRESOLVED_PREFIX + request.client_order_id, request, self._ts())
        self._unresolved[placeholder.order_id] = placeholder
        entry = SetAside(request.client_order_id, reason, self._ts(), request=request)
        self._doubts.set_aside(entry)
        return placeholder.snapshot()

    def _refused(self, request: OrderRequest, reason: str) -> Order:
        order = Order(f"PAUSED-{request.client_order_id}", request, self._ts())
        order.reject(reason, order.created_ts)
        return order

    def _seen(self, order: Order) -> Order:
        self._orders[order.order_id] = order
        if order.is_live:
            self._live[order.order_id] = order
        else:
            self._live.pop(order.order_id, None)
        return order.snapshot()

    def _io(self, what: str, call: Callable[[], T]) -> T:
        return self._worker.call(what, call)

    def _ts(self) -> int:
        return self._clock.now_ns() if self._clock is not None else self._now
