"""A cancel that gets no answer is asked again every bar until the order is final (scenario 20).

A kill switch or a tripping breaker cancels every open order. If the exchange is unreachable
at that moment, the cancel is not forgotten: the order is set aside, new orders wait, and each
bar asks for the cancel again until the exchange shows the order cancelled, or filled after
all; and at the end of a run, fills made after the last bar are still booked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from coinswarm.domain.bar import NS_PER_HOUR, Bar
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.coinbase.errors import ExchangeUnavailableError
from coinswarm.exchanges.remote import RemoteVenue
from coinswarm.exchanges.simulated import SimulatedExchange

PRODUCT = "BTC-USD"
START = 1_700_000_000 * 1_000_000_000


class UnreachableForCancels(SimulatedExchange):
    """The simulated exchange, whose cancel route fails `failures` times before answering."""

    def __init__(self, failures: int) -> None:
        self.clock = HistoricalClock(START - 1)
        instruments = {PRODUCT: instrument_from_symbol(PRODUCT)}
        super().__init__(instruments, self.clock, balances={"USD": Decimal(100_000)})
        self.failures = failures
        self.cancels_asked = 0

    def cancel_order(self, order_id: str) -> Order:
        self.cancels_asked += 1
        if self.failures:
            self.failures -= 1
            raise ExchangeUnavailableError("POST /orders/batch_cancel: 503")
        return super().cancel_order(order_id)

    def step(self, bar: Bar) -> None:
        self.clock.advance_to(bar.ts)
        self.on_bar(bar)


class World:
    def __init__(self, failures: int) -> None:
        self.exchange = UnreachableForCancels(failures)
        self.venue = RemoteVenue(self.exchange, driver=self.exchange.step)
        self.bars = 0
        self.bar()

    def bar(self, *, low: float = 19_900.0, close: float = 20_000.0) -> None:
        ts = START + self.bars * NS_PER_HOUR
        self.bars += 1
        self.venue.on_bar(Bar(PRODUCT, ts, 20_000.0, 20_050.0, low, close, 10.0))

    def bid(self, cid: str, price: str = "19000") -> Order:
        return self.venue.place_order(
            OrderRequest(
                client_order_id=cid,
                instrument=PRODUCT,
                side=OrderSide.BUY,
                type=OrderType.LIMIT,
                quantity=Decimal("0.5"),
                limit_price=Decimal(price),
            )
        )


@pytest.fixture
def world() -> Iterator[Callable[[int], World]]:
    made: list[World] = []

    def build(failures: int) -> World:
        made.append(World(failures))
        return made[-1]

    yield build
    for each in made:
        each.venue.close()


def test_an_unanswered_cancel_is_asked_again_each_bar_until_the_order_is_cancelled(
    world: Callable[[int], World],
) -> None:
    w = world(2)
    resting = w.bid("bid-1")
    assert resting.status is OrderStatus.OPEN
    w.venue.cancel_order(resting.order_id)
    assert w.venue.paused, "an order whose cancel got no answer holds new orders"
    refused = w.bid("bid-2")
    assert refused.status is OrderStatus.REJECTED
    assert "trading paused" in (refused.reject_reason or "")
    w.bar()  # the exchange is still unreachable: asked again, still set aside
    assert w.exchange.cancels_asked == 2
    assert w.venue.paused
    w.bar()  # it answers now
    assert w.exchange.cancels_asked == 3
    assert w.exchange.get_order(resting.order_id).status is OrderStatus.CANCELLED
    assert not w.venue.paused
    w.bar()
    assert w.exchange.cancels_asked == 3, "a cancelled order is not asked for again"


def test_an_order_that_filled_while_its_cancel_went_unanswered_is_settled_by_a_read(
    world: Callable[[int], World],
) -> None:
    w = world(1_000)  # the cancel route never answers again
    resting = w.bid("bid-1")
    w.venue.cancel_order(resting.order_id)
    w.bar(low=18_000.0)  # the market falls through the bid: it fills at the exchange
    assert w.exchange.get_order(resting.order_id).status is OrderStatus.FILLED
    w.bar()
    assert not w.venue.paused, "a filled order needs no cancel"
    assert w.venue.get_order(resting.order_id).status is OrderStatus.FILLED


def test_fills_made_after_the_last_bar_are_settled_at_the_end_of_a_run(
    world: Callable[[int], World],
) -> None:
    w = world(0)
    resting = w.bid("bid-1")
    # The exchange fills it on a bar the engine never sees (the feed ended).
    w.exchange.step(
        Bar(PRODUCT, START + 5 * NS_PER_HOUR, 20_000.0, 20_050.0, 18_000.0, 19_500.0, 10.0)
    )
    late = w.venue.settle()
    assert [f.order_id for f in late] == [resting.order_id]
    assert w.venue.get_order(resting.order_id).status is OrderStatus.FILLED
    assert w.venue.settle() == [], "each fill is settled once"
