"""A session's venue lists fills from where the account's history ends, never before.

The account traded before the session (a person, an earlier session): those fills are
history. The venue books the session's own fills and none of them, however it lists.
"""

from __future__ import annotations

from decimal import Decimal

from coinswarm.domain.bar import NS_PER_HOUR, Bar
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.order import OrderRequest, OrderSide
from coinswarm.exchanges.remote import RemoteVenue
from coinswarm.exchanges.simulated import SimulatedExchange
from coinswarm.execution.reconcile import AccountHistory

PRODUCT = "BTC-USD"
START = 1_700_000_000 * 1_000_000_000


def _bar(n: int) -> Bar:
    return Bar(PRODUCT, START + n * NS_PER_HOUR, 20_000.0, 20_050.0, 19_900.0, 20_000.0, 10.0)


def _buy(client_order_id: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id,
        instrument=PRODUCT,
        side=OrderSide.BUY,
        quantity=Decimal("0.01"),
    )


class Account:
    """A simulated exchange that someone traded on before the session started."""

    def __init__(self) -> None:
        self.clock = HistoricalClock(START - 1)
        instruments = {PRODUCT: instrument_from_symbol(PRODUCT)}
        cash = {"USD": Decimal(100_000)}
        self.exchange = SimulatedExchange(instruments, self.clock, balances=cash)
        self.step(_bar(0))
        self.exchange.place_order(_buy("a-person-1"))
        self.step(_bar(1))
        assert self.exchange.list_fills(), "the account has a history"

    def step(self, bar: Bar) -> None:
        self.clock.advance_to(bar.ts)
        self.exchange.on_bar(bar)

    def session(self, venue: RemoteVenue) -> list[str]:
        """Trade one order through `venue`; return the client order ids of what it booked."""
        venue.on_bar(_bar(2))
        venue.place_order(_buy("ours-1"))
        booked = venue.on_bar(_bar(3))
        return [venue.known_orders[f.order_id].client_order_id for f in booked]


def test_the_venue_books_the_session_s_fills_and_none_of_the_history() -> None:
    account = Account()
    history = AccountHistory.of(account.exchange.list_fills())
    venue = RemoteVenue(account.exchange, driver=account.step)
    venue.skip_history(history.until_ts, history.trade_ids)
    assert account.session(venue) == ["ours-1"]


def test_without_the_history_s_end_the_venue_would_book_it() -> None:
    account = Account()
    venue = RemoteVenue(account.exchange, driver=account.step)
    assert sorted(account.session(venue)) == ["a-person-1", "ours-1"], "what it keeps out"
