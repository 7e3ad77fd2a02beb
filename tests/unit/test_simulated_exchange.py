from __future__ import annotations

from decimal import Decimal

import pytest

from coinswarm.domain.bar import NS_PER_HOUR, Bar
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.fill import Liquidity
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from coinswarm.domain.slippage import FixedSlippage
from coinswarm.exchanges.simulated import SimulatedExchange
from generators import BTC, START_NS

D = Decimal


class Market:
    """A simulated exchange and the clock that feeds it hand-made bars."""

    def __init__(self, fill_model: FillModel | None = None, usdt: str = "10000", btc: str = "0"):
        self.clock = HistoricalClock(START_NS)
        self.exchange = SimulatedExchange(
            {BTC.symbol: BTC},
            self.clock,
            fill_model=fill_model
            or FillModel(
                fees=FeeSchedule(maker_bps=D(10), taker_bps=D(20)), slippage=FixedSlippage()
            ),
            balances={"USDT": D(usdt), "BTC": D(btc)},
        )
        self.hour = 0

    def bar(self, o, h, lo, c, v=1000.0):
        ts = START_NS + self.hour * NS_PER_HOUR
        self.hour += 1
        self.clock.advance_to(ts)
        return self.exchange.on_bar(Bar("BTC-USDT", ts, o, h, lo, c, v))

    def place(self, **fields):
        defaults = {
            "client_order_id": f"c{len(self.exchange.list_fills())}-{self.hour}",
            "instrument": "BTC-USDT",
            "side": OrderSide.BUY,
        }
        defaults.update(fields)
        return self.exchange.place_order(OrderRequest(**defaults))


def test_a_market_order_fills_at_the_next_bar_open_never_the_current_one():
    m = Market()
    assert m.bar(100, 110, 90, 105) == []
    order = m.place(quantity=D(1))
    assert order.status is OrderStatus.OPEN
    (fill,) = m.bar(106, 120, 100, 110)
    assert fill.price == D(106)
    assert fill.ts == START_NS + NS_PER_HOUR
    assert fill.fee == D("0.212")  # 20 bps taker
    assert fill.liquidity is Liquidity.TAKER
    assert m.exchange.get_order(order.order_id).status is OrderStatus.FILLED
    assert m.exchange.balances() == {"USDT": D("9893.788"), "BTC": D(1)}


def test_a_quote_sized_buy_spends_the_cash_including_the_fee():
    m = Market()
    m.bar(100, 100, 100, 100)
    order = m.place(quote_quantity=D(10000))
    (fill,) = m.bar(125, 130, 120, 125)
    assert m.exchange.get_order(order.order_id).status is OrderStatus.FILLED  # dust is left
    assert fill.quantity == BTC.round_size(D(10000) / (D(125) * D("1.002")))
    assert fill.quantity * fill.price + fill.fee <= D(10000)
    assert m.exchange.balances()["USDT"] < D("0.002")


def test_limit_orders_fill_at_their_price_when_the_range_crosses():
    m = Market()
    m.bar(100, 101, 99, 100)
    order = m.place(type=OrderType.LIMIT, quantity=D(1), limit_price=D(95))
    assert m.bar(100, 102, 96, 101) == []
    (fill,) = m.bar(97, 98, 94, 96)
    assert (fill.price, fill.liquidity) == (D(95), Liquidity.MAKER)
    assert fill.fee == D("0.095")
    assert m.exchange.get_order(order.order_id).status is OrderStatus.FILLED


def test_a_marketable_limit_takes_the_open_on_its_first_bar():
    m = Market()
    m.bar(100, 101, 99, 100)
    m.place(type=OrderType.LIMIT, quantity=D(1), limit_price=D(105))
    (fill,) = m.bar(101, 103, 100, 102)
    assert (fill.price, fill.liquidity) == (D(101), Liquidity.TAKER)


def test_a_stop_that_the_open_gapped_past_fills_at_the_worse_open():
    m = Market(btc="1")
    m.bar(100, 101, 99, 100)
    m.place(side=OrderSide.SELL, type=OrderType.STOP, quantity=D(1), stop_price=D(95))
    assert m.bar(99, 100, 96, 97) == []
    (fill,) = m.bar(90, 92, 85, 88)
    assert fill.price == D(90)  # gap below the stop: the open, worse than 95


def test_a_stop_inside_the_range_fills_at_the_stop():
    m = Market()
    m.bar(100, 101, 99, 100)
    m.place(type=OrderType.STOP, quantity=D(1), stop_price=D(104))
    (fill,) = m.bar(101, 106, 100, 105)
    assert fill.price == D(104)


def test_a_stop_limit_triggered_beyond_its_limit_rests_as_a_limit():
    m = Market()
    m.bar(100, 101, 99, 100)
    order = m.place(type=OrderType.STOP_LIMIT, quantity=D(1), stop_price=D(104), limit_price=D(105))
    assert m.bar(110, 112, 108, 111) == []  # gapped to 110: triggered, but above the limit
    assert m.exchange.get_order(order.order_id).status is OrderStatus.OPEN
    (fill,) = m.bar(108, 109, 104, 106)
    assert (fill.price, fill.liquidity) == (D(105), Liquidity.MAKER)


def test_slippage_moves_the_price_against_the_taker_and_rounds_against_it():
    m = Market(FillModel(fees=FeeSchedule.flat(D(0)), slippage=FixedSlippage(bps=D(7))))
    m.bar(100, 101, 99, 100)
    m.place(quantity=D(1))
    (buy,) = m.bar(100.01, 101, 99, 100)
    assert buy.price == D("100.09")  # 100.01 * 1.0007 = 100.080007, rounded up to the tick
    m.place(side=OrderSide.SELL, quantity=D(1))
    (sell,) = m.bar(100.01, 101, 99, 100)
    assert sell.price == D("99.93")  # 100.01 * 0.9993 = 99.939993, rounded down


def test_volume_participation_leaves_the_rest_partially_filled():
    m = Market(
        FillModel(fees=FeeSchedule.flat(D(0)), slippage=FixedSlippage(), max_volume_share=D("0.1"))
    )
    m.bar(100, 101, 99, 100, v=50)
    order = m.place(quantity=D(8))
    (first,) = m.bar(100, 101, 99, 100, v=50)
    assert first.quantity == D(5)
    assert m.exchange.get_order(order.order_id).status is OrderStatus.PARTIALLY_FILLED
    (second,) = m.bar(101, 102, 100, 101, v=50)
    assert second.quantity == D(3)
    assert m.exchange.get_order(order.order_id).status is OrderStatus.FILLED


def test_ioc_cancels_what_the_first_bar_cannot_fill_and_fok_fills_nothing():
    m = Market(
        FillModel(fees=FeeSchedule.flat(D(0)), slippage=FixedSlippage(), max_volume_share=D("0.1"))
    )
    m.bar(100, 101, 99, 100, v=50)
    ioc = m.place(quantity=D(8), time_in_force=TimeInForce.IOC)
    fok = m.place(quantity=D(8), time_in_force=TimeInForce.FOK, client_order_id="fok")
    fills = m.bar(100, 101, 99, 100, v=50)
    assert [f.order_id for f in fills] == [ioc.order_id]
    assert m.exchange.get_order(ioc.order_id).status is OrderStatus.CANCELLED
    assert m.exchange.get_order(ioc.order_id).filled_quantity == D(5)
    assert m.exchange.get_order(fok.order_id).status is OrderStatus.CANCELLED
    assert m.exchange.get_order(fok.order_id).filled_quantity == 0


def test_gtd_orders_expire():
    m = Market()
    m.bar(100, 101, 99, 100)
    order = m.place(
        type=OrderType.LIMIT,
        quantity=D(1),
        limit_price=D(50),
        time_in_force=TimeInForce.GTD,
        expire_ts=START_NS + 2 * NS_PER_HOUR,
    )
    m.bar(100, 101, 99, 100)
    assert m.exchange.get_order(order.order_id).status is OrderStatus.OPEN
    m.bar(100, 101, 99, 100)
    assert m.exchange.get_order(order.order_id).status is OrderStatus.EXPIRED


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"quantity": D(200)}, "insufficient funds"),
        ({"quantity": D("0.000001")}, "below the minimum"),
        ({"side": OrderSide.SELL, "quantity": D(1)}, "insufficient funds"),
        ({"instrument": "ETH-USDT", "quantity": D(1)}, "unknown instrument"),
        ({"quote_quantity": D(1)}, "notional 1 USDT is below the minimum 5 USDT"),
    ],
)
def test_refusals_are_rejected_orders_with_a_reason(fields, reason):
    m = Market()
    m.bar(100, 101, 99, 100)
    order = m.place(**fields)
    assert order.status is OrderStatus.REJECTED
    assert reason in (order.reject_reason or "")
    assert m.bar(100, 101, 99, 100) == []


def test_holds_keep_two_orders_from_spending_the_same_cash():
    m = Market(usdt="150")
    m.bar(100, 101, 99, 100)
    assert m.place(quantity=D(1)).status is OrderStatus.OPEN
    assert m.place(quantity=D(1), client_order_id="second").status is OrderStatus.REJECTED


def test_a_repeated_client_order_id_returns_the_first_order():
    m = Market()
    m.bar(100, 101, 99, 100)
    first = m.place(quantity=D(1), client_order_id="same")
    again = m.place(quantity=D(2), client_order_id="same")
    assert again.order_id == first.order_id
    assert len(m.exchange.open_orders()) == 1


def test_cancel_releases_the_hold():
    m = Market(usdt="150")
    m.bar(100, 101, 99, 100)
    order = m.place(type=OrderType.LIMIT, quantity=D(1), limit_price=D(90))
    assert m.exchange.cancel_order(order.order_id).status is OrderStatus.CANCELLED
    assert m.place(quantity=D(1), client_order_id="next").status is OrderStatus.OPEN
    assert m.bar(100, 101, 99, 100)[0].quantity == D(1)
