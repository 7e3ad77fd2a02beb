"""Limits hold for what is held and for what is still pending, not only when an order is placed.

A position bought within its limit grows past it when its price rises; the risk layer sells it
back (a trim) at the next bar. Orders approved but not yet filled count toward every limit they
could breach, so a burst of buys across many instruments cannot open more positions than the
profile allows.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.backtest.explain import explanations
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus
from coinswarm.exchanges.fill_model import FeeSchedule, FillModel
from coinswarm.risk.profiles import profile_for
from generators import COINS, START_NS

D = Decimal
FEE = FillModel(fees=FeeSchedule.flat(D(10)))
LIMIT = D("0.25")


def rising(symbol: str, bars: int, step: float, start: float = 100.0) -> BarSeries:
    """Return hourly bars whose close climbs `step` a bar; each opens at the last close."""
    close = np.round(start * (1 + step) ** np.arange(1, bars + 1), 2)
    open_ = np.concatenate([[start], close[:-1]])
    ts = START_NS + np.arange(bars, dtype=np.int64) * NS_PER_HOUR
    high = np.maximum(open_, close)
    low = np.minimum(open_, close)
    return BarSeries(symbol, NS_PER_HOUR, ts, open_, high, low, close, np.full(bars, 1e6))


class BuyOnce:
    """Asks for everything on the first bar of each instrument, then never trades again."""

    name = "buy-once"

    def __init__(self, spend: Decimal | None = None) -> None:
        self.spend = spend
        self.bought: set[str] = set()

    def on_bar(self, bar, context):
        if bar.instrument in self.bought:
            return []
        self.bought.add(bar.instrument)
        return [
            OrderRequest(
                client_order_id=context.next_client_order_id(bar.instrument),
                instrument=bar.instrument,
                side=OrderSide.BUY,
                quote_quantity=self.spend or context.cash(),
            )
        ]


def fractions(result, symbol: str) -> list[Decimal]:
    """Return the position's share of equity at every bar's close, rebuilt from the fills."""
    series = result.market[symbol]
    ledger = Ledger({c.symbol: c for c in COINS}, "USDT")
    ledger.deposit("USDT", result.initial_cash, 0)
    fills = iter(sorted(result.fills, key=lambda f: f.ts))
    pending = next(fills, None)
    shares = []
    for ts, close in zip(series.ts.tolist(), series.close.tolist(), strict=True):
        while pending is not None and pending.ts <= ts:
            ledger.record(pending)
            pending = next(fills, None)
        mark = D(repr(close))
        value = ledger.position(symbol).quantity * mark
        shares.append(value / ledger.equity({symbol: mark}))
    return shares


def test_a_position_that_grows_past_its_limit_is_trimmed_back_at_the_next_bar():
    symbol = COINS[0].symbol
    config = BacktestConfig(fill_model=FEE, instruments={symbol: COINS[0]}, risk=profile_for(0))
    result = run_backtest([rising(symbol, 60, 0.02)], BuyOnce(), config)
    shares = fractions(result, symbol)
    # Bought at the limit, the position may pass it by one bar's rise (2%), never more: each
    # bar that finds it above the limit sells it back before the next bar.
    assert max(shares) <= LIMIT * D("1.02"), max(shares)
    trims = [o for o in result.orders if o.client_order_id.startswith("trim-")]
    assert trims
    assert all(o.side is OrderSide.SELL and o.status is OrderStatus.FILLED for o in trims)
    note = result.risk_notes[trims[0].client_order_id]
    assert note.action == "trim"
    assert f"{symbol} 25.4% of equity, above the 25% limit" in note.reason
    explained = {e.client_order_id: e for e in explanations(result, result.rationales, {})}
    why = "\n".join(explained[trims[0].client_order_id].render())
    assert "above the 25% limit" in why


def test_without_a_risk_profile_nothing_is_trimmed():
    symbol = COINS[0].symbol
    config = BacktestConfig(fill_model=FEE, instruments={symbol: COINS[0]})
    result = run_backtest([rising(symbol, 30, 0.02)], BuyOnce(D(2_500)), config)
    assert not [o for o in result.orders if o.client_order_id.startswith("trim-")]


def test_orders_not_yet_filled_count_toward_the_concurrent_positions_limit():
    # Six instruments, a buy on the first bar of each: every buy is still pending when the
    # next instrument's bar asks for the next one.
    profile = replace(profile_for(0), max_concurrent_positions=3)
    coins = {c.symbol: c for c in COINS}
    market = [rising(symbol, 10, 0.0) for symbol in coins]
    config = BacktestConfig(fill_model=FEE, instruments=coins, risk=profile)
    result = run_backtest(market, BuyOnce(D(1_000)), config)
    held = {f.instrument for f in result.fills if f.side is OrderSide.BUY}
    assert len(held) == 3, sorted(held)
    refused = [o for o in result.orders if o.status is OrderStatus.REJECTED]
    assert len(refused) == 3
    assert all("concurrent positions: 3 open or pending, max 3" in o.reject_reason for o in refused)


def test_pending_buys_count_toward_the_cash_they_will_spend():
    # A 60% position limit lets each buy through on its own; together they need more cash
    # than there is, and the pending ones already claim theirs.
    profile = replace(profile_for(0), max_position_fraction=D("0.6"))
    coins = {c.symbol: c for c in COINS[:3]}
    market = [rising(symbol, 10, 0.0) for symbol in coins]
    config = BacktestConfig(fill_model=FEE, instruments=coins, risk=profile)
    result = run_backtest(market, BuyOnce(D(4_000)), config)
    first, second, third = (o for o in result.orders if o.side is OrderSide.BUY)
    assert first.request.quote_quantity == second.request.quote_quantity == D(4_000)
    assert third.request.quote_quantity == D(2_000)  # what the two pending buys left
    assert "cash" in result.risk_notes[third.client_order_id].reason
    assert all(o.status is OrderStatus.FILLED for o in (first, second, third))
