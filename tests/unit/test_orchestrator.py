"""The master orchestrator: equal-risk allocation, targets, and the orders that move to them."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from coinswarm.agents.base import Direction
from coinswarm.agents.committee import Verdict
from coinswarm.domain.order import OrderSide
from coinswarm.orchestration.orchestrator import MasterOrchestrator, OrchestratorConfig

D = Decimal


def verdict(direction, size=1.0, instrument="BTC-USDT"):
    return Verdict(instrument, 0, direction, 0.5 * direction, size, (), (), (), "test")


def plan(orchestrator, v, *, position="0", equity="10000", cash="10000", limit=None):
    return orchestrator.plan(
        v,
        equity=D(equity),
        position=D(position),
        price=D(100),
        cash=D(cash),
        client_order_id="c1",
        position_limit=limit,
    )


def test_calm_markets_get_more_capital_than_wild_ones():
    orchestrator = MasterOrchestrator(
        ["BTC-USDT", "ETH-USDT"], OrchestratorConfig(volatility_window=150)
    )
    rng = np.random.default_rng(1)
    btc = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    eth = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, 200)))
    for b, e in zip(btc.tolist(), eth.tolist(), strict=True):
        orchestrator.observe("BTC-USDT", b)
        orchestrator.observe("ETH-USDT", e)
    calm, wild = orchestrator.allocation("BTC-USDT"), orchestrator.allocation("ETH-USDT")
    assert calm + wild == pytest.approx(1.0)
    assert calm > 2 * wild


def test_before_any_volatility_is_known_the_split_is_equal():
    orchestrator = MasterOrchestrator(["BTC-USDT", "ETH-USDT", "SOL-USDT"])
    assert orchestrator.allocation("ETH-USDT") == pytest.approx(1 / 3)


def test_a_buy_moves_toward_the_target_within_the_position_limit():
    orchestrator = MasterOrchestrator(["BTC-USDT"])
    result = plan(orchestrator, verdict(Direction.BUY, size=0.8), limit=0.25)
    assert result.target_value == D(2500)
    assert result.request is not None
    assert result.request.side is OrderSide.BUY
    assert result.request.quote_quantity == D(2500)


def test_a_position_near_its_target_is_left_alone():
    orchestrator = MasterOrchestrator(["BTC-USDT"], OrchestratorConfig(rebalance_band=0.25))
    assert (
        plan(orchestrator, verdict(Direction.BUY), position="80").request is None
    )  # 8000 of 10000
    assert plan(orchestrator, verdict(Direction.BUY), position="70").request is not None


def test_sell_exits_everything_and_hold_keeps_the_position():
    orchestrator = MasterOrchestrator(["BTC-USDT"])
    sell = plan(orchestrator, verdict(Direction.SELL), position="3")
    assert sell.request is not None
    assert (sell.request.side, sell.request.quantity) == (OrderSide.SELL, D(3))
    assert plan(orchestrator, verdict(Direction.SELL)).request is None
    assert plan(orchestrator, verdict(Direction.HOLD), position="3").request is None


def test_emergency_shutdown_flattens_every_long_when_asked():
    positions = {"ETH-USDT": D(2), "BTC-USDT": D("0.5"), "SOL-USDT": D(0)}
    assert MasterOrchestrator.shutdown(positions, flatten=False, client_order_id="x") == []
    orders = MasterOrchestrator.shutdown(positions, flatten=True, client_order_id="x")
    assert [(o.instrument, o.quantity, o.side) for o in orders] == [
        ("BTC-USDT", D("0.5"), OrderSide.SELL),
        ("ETH-USDT", D(2), OrderSide.SELL),
    ]
