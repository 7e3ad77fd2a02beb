"""The local exchange's book: the replay's touch around the last close, plus my own orders."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderType
from coinswarm.exchanges.local_coinbase.book import market_trades, order_book
from generators import BTC, START_NS

D = Decimal


def resting(side: OrderSide, size: str, price: str, n: int = 0) -> Order:
    request = OrderRequest(
        client_order_id=f"c{n}",
        instrument=BTC.symbol,
        side=side,
        type=OrderType.LIMIT,
        quantity=D(size),
        limit_price=D(price),
    )
    return Order(f"o{n}", request, START_NS)


def bar(close: float, volume: float = 5.0) -> Bar:
    return Bar(BTC.symbol, START_NS, close, close, close, close, volume)


def test_the_touch_straddles_the_close_one_tick_apart() -> None:
    book = order_book(BTC, bar(20000.123), [], now_ns=START_NS)
    assert [(b.price, b.size) for b in book.bids] == [(D("20000.12"), D(5))]
    assert [(a.price, a.size) for a in book.asks] == [(D("20000.13"), D(5))]
    assert book.summary()["spread_absolute"] == "0.01"
    assert book.summary()["last"] == "20000.123"


def test_my_resting_orders_join_the_book_at_their_prices_summed() -> None:
    mine = [
        resting(OrderSide.BUY, "0.5", "19000", 1),
        resting(OrderSide.BUY, "0.25", "19000", 2),
        resting(OrderSide.SELL, "1", "21000", 3),
    ]
    book = order_book(BTC, bar(20000.0), mine, now_ns=START_NS)
    assert [(b.price, b.size) for b in book.bids] == [(D(20000), D(5)), (D(19000), D("0.75"))]
    assert [(a.price, a.size) for a in book.asks] == [(D("20000.01"), D(5)), (D(21000), D(1))]
    assert book.top(1).bids == book.bids[:1]


def test_before_the_first_bar_the_book_holds_only_my_orders() -> None:
    book = order_book(BTC, None, [resting(OrderSide.BUY, "1", "100")], now_ns=START_NS)
    assert [(b.price, b.size) for b in book.bids] == [(D(100), D(1))]
    assert book.asks == []
    assert book.summary()["mid_market"] == ""


@given(st.floats(min_value=0.01, max_value=1e9), st.floats(min_value=0.001, max_value=1e6))
def test_the_touch_is_on_the_grid_and_never_crossed(close: float, volume: float) -> None:
    book = order_book(BTC, bar(close, volume), [], now_ns=START_NS)
    ask = book.asks[0].price
    assert ask % BTC.price_increment == 0
    assert Decimal(repr(close)) < ask
    if book.bids:
        assert book.bids[0].price <= Decimal(repr(close)) < ask
        assert ask - book.bids[0].price == BTC.price_increment


def test_market_trades_are_the_bars_newest_first_within_the_window() -> None:
    bars = [
        Bar(BTC.symbol, START_NS + i * NS_PER_HOUR, 1.0, 2.0, 0.5, 1.0 + i, 3.0) for i in range(5)
    ]
    series = BarSeries.from_bars(BTC.symbol, NS_PER_HOUR, bars)
    trades = market_trades(series, limit=2, start_ns=None, end_ns=START_NS + 4 * NS_PER_HOUR)
    assert [t["price"] for t in trades] == ["4", "3"]
    assert (
        market_trades(series, limit=10, start_ns=START_NS + 4 * NS_PER_HOUR, end_ns=None)[0][
            "price"
        ]
        == "5"
    )
