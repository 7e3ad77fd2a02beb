"""The default slippage: at least 10 bps a taker fill, more on a wild bar or for a big order."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from coinswarm.domain.bar import NS_PER_HOUR, Bar
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.fill import Liquidity
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.domain.slippage import (
    FixedSlippage,
    SlippageModel,
    slippage_from_json,
)
from coinswarm.exchanges.simulated import SimulatedExchange
from generators import BTC, START_NS, bars, decimals

D = Decimal
MODEL = SlippageModel()
FLOOR = D(10)
quantities = decimals("0", "1000", 5)


def _exchange(model: FillModel, usdt: str = "1000000000000", btc: str = "1000000") -> Exchange:
    return Exchange(model, usdt=usdt, btc=btc)


class Exchange:
    """The simulated exchange on one instrument, fed hand-made or drawn bars."""

    def __init__(self, model: FillModel, *, usdt: str, btc: str) -> None:
        self.clock = HistoricalClock(START_NS)
        self.venue = SimulatedExchange(
            {BTC.symbol: BTC},
            self.clock,
            fill_model=model,
            balances={"USDT": D(usdt), "BTC": D(btc)},
        )
        self.hour = 0

    def bar(self, bar: Bar) -> list:
        self.hour += 1
        ts = START_NS + self.hour * NS_PER_HOUR
        self.clock.advance_to(ts)
        return self.venue.on_bar(replace(bar, ts=ts))

    def place(self, **fields: object) -> object:
        values = {"instrument": BTC.symbol, "side": OrderSide.BUY, "type": OrderType.MARKET}
        values.update(fields)
        values.setdefault("client_order_id", f"c{self.hour}-{len(self.venue.open_orders())}")
        return self.venue.place_order(OrderRequest(**values))


def _bar(o: float, h: float, lo: float, c: float, v: float) -> Bar:
    return Bar(BTC.symbol, START_NS, o, h, lo, c, v)


@given(bars(), quantities)
def test_the_default_never_slips_less_than_the_floor_nor_more_than_the_ceiling(bar, quantity):
    bps = FillModel().slippage_bps(bar, quantity)
    assert FLOOR <= bps <= MODEL.ceiling_bps


@given(bars(), quantities, st.integers(0, 1_000_000))
def test_the_default_grows_with_the_bars_range(bar, quantity, widen_cents):
    wider = replace(bar, high=round(bar.high + widen_cents / 100, 2))
    assert MODEL.bps_for(wider, quantity) >= MODEL.bps_for(bar, quantity)


@given(bars(), quantities, quantities)
def test_the_default_grows_with_the_orders_share_of_volume(bar, small, extra):
    assert MODEL.bps_for(bar, small + extra) >= MODEL.bps_for(bar, small)
    deeper = replace(bar, volume=bar.volume * 2 + 1)
    assert MODEL.bps_for(deeper, small) <= MODEL.bps_for(bar, small)


def test_each_part_adds_what_the_model_says():
    # Range 2% of the open = 200 bps, a tenth of it 20; 1% of the volume: 100 x 0.1 = 10.
    bar = _bar(100.0, 101.0, 99.0, 100.0, 100.0)
    assert MODEL.bps_for(bar, D(1)) == D(40)
    assert MODEL.bps_for(_bar(100.0, 100.0, 100.0, 100.0, 100.0), D(0)) == FLOOR
    # An order larger than the bar, or a bar with no volume, counts as all of it.
    assert MODEL.bps_for(_bar(100.0, 100.0, 100.0, 100.0, 0.0), D(1)) == D(110)
    assert MODEL.bps_for(_bar(100.0, 100.0, 100.0, 100.0, 1.0), D(5)) == D(110)
    wild = _bar(100.0, 10_000.0, 1.0, 100.0, 1.0)
    assert MODEL.bps_for(wild, D(5)) == MODEL.ceiling_bps


@given(bars(), decimals("0.001", "50", 3), st.sampled_from(list(OrderSide)))
def test_every_default_taker_fill_is_adverse_by_at_least_the_floor(bar, quantity, side):
    # The exchange checks the notional at the last close, the price the order is sized on.
    assume(quantity * D(repr(bar.close)) >= BTC.min_notional)
    market = _exchange(FillModel())
    market.bar(bar)
    order = market.place(side=side, quantity=quantity)
    assert order.status is OrderStatus.OPEN
    (fill,) = market.bar(bar)
    opened = D(repr(bar.open))
    if side is OrderSide.BUY:
        assert fill.price >= opened * (1 + FLOOR / 10_000)
    else:
        assert fill.price <= opened * (1 - FLOOR / 10_000)
    assert fill.price > 0


def test_a_buy_pays_and_a_sale_gets_the_models_figure_at_the_fill():
    bar = _bar(100.0, 101.0, 99.0, 100.0, 100.0)
    market = _exchange(FillModel(fees=FeeSchedule.flat(D(0))))
    market.bar(bar)
    market.place(quantity=D(1))
    (buy,) = market.bar(bar)
    assert buy.price == D("100.40")  # 40 bps: see test_each_part_adds_what_the_model_says
    market.place(side=OrderSide.SELL, quantity=D(1))
    (sale,) = market.bar(bar)
    assert sale.price == D("99.60")


def test_a_wilder_bar_and_a_bigger_order_fill_worse():
    calm, wild = _bar(100.0, 100.5, 99.5, 100.0, 100.0), _bar(100.0, 105.0, 95.0, 100.0, 100.0)
    prices = {}
    for name, bar, quantity in (
        ("calm small", calm, D("0.1")),
        ("wild small", wild, D("0.1")),
        ("calm big", calm, D(20)),
    ):
        market = _exchange(FillModel())
        market.bar(bar)
        market.place(quantity=quantity)
        (fill,) = market.bar(bar)
        prices[name] = fill.price
    assert prices["calm small"] < prices["wild small"]
    assert prices["calm small"] < prices["calm big"]


def test_a_quote_sized_buy_is_priced_on_what_it_buys_at_the_open():
    # 1000 USDT at 100 is 10 of the bar's 100: sqrt(0.1) x 100 bps = 31.6 bps, plus the floor.
    bar = _bar(100.0, 100.0, 100.0, 100.0, 100.0)
    market = _exchange(FillModel(fees=FeeSchedule.flat(D(0))))
    market.bar(bar)
    market.place(quote_quantity=D(1000))
    (fill,) = market.bar(bar)
    assert fill.price == D("100.42")  # 100 x (1 + 41.62 bps), rounded up to the tick
    assert fill.quantity * fill.price <= D(1000)


def test_resting_maker_fills_take_their_own_price():
    market = _exchange(FillModel())
    market.bar(_bar(100.0, 101.0, 99.0, 100.0, 100.0))
    market.place(type=OrderType.LIMIT, quantity=D(1), limit_price=D(98))
    assert market.bar(_bar(100.0, 100.0, 99.0, 99.5, 100.0)) == []
    (fill,) = market.bar(_bar(99.5, 99.5, 97.0, 98.0, 1.0))
    assert (fill.price, fill.liquidity) == (D(98), Liquidity.MAKER)


def test_a_fixed_figure_stays_available_and_zero_means_none():
    bar = _bar(100.0, 110.0, 90.0, 100.0, 1.0)
    assert FixedSlippage().bps_for(bar, D(1000)) == 0
    assert FixedSlippage(bps=D(7)).bps_for(bar, D(1000)) == D(7)
    with pytest.raises(InvalidOrderError, match="slippage_bps"):
        FixedSlippage(bps=D(-1))


def test_the_default_fill_model_is_the_model_with_a_ten_bps_floor():
    assert FillModel().slippage == SlippageModel()
    assert FillModel().slippage.least_bps == FLOOR


@pytest.mark.parametrize(
    "choice", [MODEL, FixedSlippage(bps=D("2.5")), SlippageModel(floor_bps=D(20))]
)
def test_a_choice_survives_json(choice):
    assert slippage_from_json(choice.to_json()) == choice


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"kind": "guess"}, "kind"),
        ({"kind": "fixed"}, "bps"),
        ({"kind": "model", "floor_bps": "x"}, "floor_bps"),
        ("10", "object"),
    ],
)
def test_an_unreadable_choice_is_refused_by_name(values, problem):
    with pytest.raises(InvalidOrderError, match=problem):
        slippage_from_json(values)


def test_a_ceiling_below_the_floor_is_refused():
    with pytest.raises(InvalidOrderError, match="ceiling_bps"):
        SlippageModel(floor_bps=D(20), ceiling_bps=D(10))
