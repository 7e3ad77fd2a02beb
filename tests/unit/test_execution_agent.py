"""The execution agent: rounding at the boundary, local refusals, fills into the ledger."""

from __future__ import annotations

from decimal import Decimal

from coinswarm.domain.bar import NS_PER_HOUR, Bar
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.simulated import SimulatedExchange
from coinswarm.execution.agent import ExecutionAgent
from generators import BTC, START_NS

D = Decimal


def agent() -> tuple[ExecutionAgent, SimulatedExchange, Ledger, HistoricalClock]:
    clock = HistoricalClock(START_NS)
    exchange = SimulatedExchange({BTC.symbol: BTC}, clock, balances={"USDT": D(10_000)})
    ledger = Ledger({BTC.symbol: BTC}, "USDT")
    ledger.deposit("USDT", D(10_000), START_NS)
    exchange.on_bar(Bar("BTC-USDT", START_NS, 100.0, 101.0, 99.0, 100.0, 50.0))
    return ExecutionAgent(exchange, ledger, clock), exchange, ledger, clock


def test_sizes_round_down_and_limit_prices_round_in_the_safe_direction():
    execution, exchange, _, _ = agent()
    order = execution.submit(
        OrderRequest(
            client_order_id="a",
            instrument="BTC-USDT",
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            quantity=D("1.234567891"),
            limit_price=D("99.999"),
        )
    )
    assert order.status is OrderStatus.OPEN
    assert order.request.quantity == D("1.23456")
    assert order.request.limit_price == D("99.99")
    sell = execution.submit(
        OrderRequest(
            client_order_id="b",
            instrument="BTC-USDT",
            side=OrderSide.SELL,
            type=OrderType.STOP,
            quantity=D("0.5"),
            stop_price=D("95.001"),
        )
    )
    assert sell.request.stop_price == D("95.00")  # a sell stop rounds down: never triggers early
    assert len(exchange.open_orders()) == 1  # the sell was refused: nothing to sell yet
    assert sell.status is OrderStatus.REJECTED


def test_orders_below_the_minimum_never_reach_the_exchange():
    execution, exchange, _, _ = agent()
    tiny = execution.submit(
        OrderRequest(
            client_order_id="tiny",
            instrument="BTC-USDT",
            side=OrderSide.BUY,
            quantity=D("0.000001"),
        )
    )
    assert tiny.status is OrderStatus.REJECTED
    assert "rounds to zero" in (tiny.reject_reason or "")
    small = execution.submit(
        OrderRequest(
            client_order_id="small",
            instrument="BTC-USDT",
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            quantity=D("0.01"),
            limit_price=D(100),
        )
    )
    assert small.status is OrderStatus.REJECTED
    assert "notional" in (small.reject_reason or "")
    assert exchange.open_orders() == []
    assert [o.order_id for o in execution.orders] == [
        "LOCAL-REJECT-00000001",
        "LOCAL-REJECT-00000002",
    ]


def test_fills_reach_the_ledger_and_the_order_book():
    execution, exchange, ledger, clock = agent()
    order = execution.submit(
        OrderRequest(
            client_order_id="buy",
            instrument="BTC-USDT",
            side=OrderSide.BUY,
            quantity=D(2),
        )
    )
    clock.advance_to(START_NS + NS_PER_HOUR)
    fills = exchange.on_bar(Bar("BTC-USDT", START_NS + NS_PER_HOUR, 100.5, 102, 100, 101, 50))
    execution.on_fills(fills)
    assert ledger.position("BTC-USDT").quantity == 2
    assert ledger.cash() == exchange.balances()["USDT"]
    (tracked,) = execution.orders
    assert tracked.order_id == order.order_id
    assert tracked.status is OrderStatus.FILLED


def test_two_identical_intents_make_one_order():
    """RELIABILITY scenario 21: the client order id is derived from the intent and claimed."""
    execution, exchange, _, _ = agent()
    intent = OrderRequest(
        client_order_id="BTC-USDT-1577836800000000000-1",
        instrument="BTC-USDT",
        side=OrderSide.BUY,
        quantity=D(1),
    )
    first = execution.submit(intent)
    second = execution.submit(intent)
    assert second.order_id == first.order_id
    assert len(exchange.open_orders()) == 1
    assert len(execution.orders) == 1
