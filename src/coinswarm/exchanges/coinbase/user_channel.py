"""The Coinbase `user` channel as a remote venue's fill source (`exchanges.fill_source`).

A `CoinbaseStream` subscribed to `user` fills a queue in its own thread; once per bar the
venue asks `UserChannelFills.news()`, which drains the queue into an `OrderSync` (on the
venue's thread, so the REST calls the sync makes go where the adapter's other calls go) and
says what changed. The channel vouches for the time since the last bar only if the stream was
live throughout and no message is missing: a status change (stale, closed, live again), a
reconnect, a message it could not read, or a sequence number not seen yet (a message held back
or lost, before the stream gives up on it) means the venue lists fills by REST for that bar; a
reconnect also fills the sync's gap from REST. A REST call of the sync that failed likewise
leaves the bar to the venue's own listing. What the channel says that the order state machine
refuses comes back as a doubt, for the venue to set aside.

Coinbase serves the user channel on its own endpoint; any other exchange (the local one) on
the market data endpoint's host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order, OrderStatus
from coinswarm.exchanges.coinbase.order_state import OrderAlert
from coinswarm.exchanges.coinbase.order_sync import OrderSync
from coinswarm.exchanges.coinbase.websocket import COINBASE_WS_URL, USER_WS_URL, StreamConfig
from coinswarm.exchanges.coinbase.ws_events import (
    Reconnected,
    StreamError,
    StreamEvent,
    StreamMessage,
    StreamState,
    StreamStatus,
    UserUpdate,
)
from coinswarm.exchanges.fill_source import ChannelDoubt, ChannelNews

__all__ = ["EventQueue", "UserChannelFills", "user_stream_config"]


class EventQueue(Protocol):
    """A stream read without waiting: `CoinbaseStream` is one."""

    @property
    def state(self) -> StreamState: ...

    def get(self, timeout: float) -> StreamEvent | None: ...


def user_stream_config(ws_url: str, products: tuple[str, ...]) -> StreamConfig:
    """Return the `user` subscription for `products` beside the market data stream at `ws_url`."""
    url = USER_WS_URL if ws_url.rstrip("/") == COINBASE_WS_URL else ws_url
    return StreamConfig(url=url, product_ids=products, channels=("user",))


class UserChannelFills:
    """Feed one stream's user events to an `OrderSync`; tell the venue what changed, per bar.

    `tell` hears each change of the stream's state (a person should know that fills are
    listed by REST while the channel is down).
    """

    def __init__(
        self,
        stream: EventQueue,
        sync: OrderSync,
        *,
        tell: Callable[[str], None] | None = None,
    ) -> None:
        self._stream = stream
        self._sync = sync
        self._tell = tell
        self._live = False  # the stream was live when the last bar asked
        self._gap = False  # a reconnect's gap is not filled from REST yet
        self._numbers = _Numbers()

    def adopt(self, orders: Iterable[Order], fills: Iterable[Fill]) -> None:
        """Know a restarted session's orders and booked fills, as the venue does."""
        state = self._sync.state
        for order in orders:
            # Orders never acknowledged by the exchange have nothing to follow there.
            if order.status not in (OrderStatus.NEW, OrderStatus.REJECTED):
                state.track(order, "adopted")
        state.book(fills)
        state.new_fills()  # already in the ledger: nothing to hand out

    def news(self) -> ChannelNews:
        """Return what the channel told since the last call, and whether it vouches for it."""
        vouched = self._live
        alerts = self._sync.fetch_owed()
        changed: dict[str, None] = {}
        for event in self._drained():
            if isinstance(event, StreamMessage):
                self._numbers.see(event)
            if isinstance(event, StreamMessage) and isinstance(event.payload, UserUpdate):
                alerts += self._sync.on_event(event)
                changed.update(dict.fromkeys(o.order_id for o in event.payload.orders))
            elif isinstance(event, StreamStatus | Reconnected | StreamError):
                vouched = False
                self._on_trouble(event)
        if self._gap:
            gap = self._sync.fill_gap()
            self._gap = any(a.unanswered for a in gap)
            alerts += gap
        complete = (
            vouched
            and self._live
            and self._stream.state is StreamState.LIVE
            and not self._numbers.missing
            and not any(a.unanswered for a in alerts)
        )
        state = self._sync.state
        return ChannelNews(
            complete=complete,
            fills=tuple(state.new_fills()),
            orders=tuple(o for o in map(state.order, changed) if o is not None),
            doubts=tuple(_doubt(a) for a in alerts if not a.unanswered),
        )

    def _drained(self) -> Iterator[StreamEvent]:
        while (event := self._stream.get(0.0)) is not None:
            yield event

    def _on_trouble(self, event: StreamStatus | Reconnected | StreamError) -> None:
        if isinstance(event, StreamStatus):
            self._live = event.state is StreamState.LIVE
            self._say(f"user channel {event.state}: {event.reason}")
        elif isinstance(event, Reconnected):
            # The sync's own reconnect handling is deferred to one gap fill per bar.
            self._gap = True
        else:
            self._say(f"user channel: {event.message}")

    def _say(self, line: str) -> None:
        if self._tell is not None:
            self._tell(line)


class _Numbers:
    """The sequence numbers of one connection not seen yet, below the highest seen."""

    def __init__(self) -> None:
        self._connection = 0
        self._next = 0
        self.missing: set[int] = set()

    def see(self, message: StreamMessage) -> None:
        if message.connection != self._connection:
            # A new connection numbers from 0 again; what the old one lost, the gap fill covers.
            self._connection, self._next, self.missing = message.connection, 0, set()
        number = message.sequence_num
        if number < self._next:
            self.missing.discard(number)  # a late message: it was held back, not lost
            return
        self.missing.update(range(self._next, number))
        self._next = number + 1


def _doubt(alert: OrderAlert) -> ChannelDoubt:
    return ChannelDoubt(alert.order_id, alert.client_order_id, f"{alert.source}: {alert.problem}")
