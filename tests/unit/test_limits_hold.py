"""Limits hold for what is held and for what is still pending, not only when an order is placed.

A position bought within its limit grows past it when its price rises; the risk layer sells it
back (a trim) at the next bar. Orders approved but not yet filled count toward every limit they
could breach, so a burst of buys across many instruments cannot open more positions than the
profile allows.
"""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from coinswarm.backtest.engine import BacktestConfig, run_backtest, run_live, simulated_venue
from coinswarm.backtest.explain import explanations
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.fill import Liquidity
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from coinswarm.domain.slippage import FixedSlippage
from coinswarm.exchanges.simulated import SimulatedExchange
from coinswarm.risk.circuit_breaker import BreakerEventKind
from coinswarm.risk.profiles import profile_for
from coinswarm.risk.trim import TRIM_BAND
from generators import COINS, START_NS, markets

D = Decimal
FEE = FillModel(fees=FeeSchedule.flat(D(10)), slippage=FixedSlippage())  # exact figures below
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
    # Bought at the limit, the position may pass it by the band and one bar's rise (2%), never
    # more: each bar that finds it beyond the band sells it back before the next bar.
    assert max(shares) <= LIMIT * (1 + TRIM_BAND) * D("1.02"), max(shares)
    trims = [o for o in result.orders if o.client_order_id.startswith("trim-")]
    assert trims
    assert all(o.side is OrderSide.SELL and o.status is OrderStatus.FILLED for o in trims)
    note = result.risk_notes[trims[0].client_order_id]
    assert note.action == "trim"
    assert note.reason.startswith(f"{symbol} 25.8% of equity, above the 25% limit; sell ")
    explained = {e.client_order_id: e for e in explanations(result, result.rationales, {})}
    why = "\n".join(explained[trims[0].client_order_id].render())
    assert "above the 25% limit" in why


def test_a_trim_passes_a_tripped_circuit_breaker():
    symbol = COINS[0].symbol
    jump = rising(symbol, 12, 0.0)
    close = jump.close.copy()
    close[5:] = 115.0  # one bar 15% up: the breaker trips, the position passes its limit
    open_ = np.concatenate([[100.0], close[:-1]])
    jump = BarSeries(
        symbol,
        NS_PER_HOUR,
        jump.ts,
        open_,
        np.maximum(open_, close),
        np.minimum(open_, close),
        close,
        jump.volume,
    )
    config = BacktestConfig(fill_model=FEE, instruments={symbol: COINS[0]}, risk=profile_for(0))
    result = run_backtest([jump], BuyOnce(), config)
    (trip,) = [e for e in result.risk_events if e.kind == BreakerEventKind.TRIP]
    (trim,) = [o for o in result.orders if o.client_order_id.startswith("trim-")]
    assert trim.created_ts == trip.ts
    assert result.risk_notes[trim.client_order_id].action == "trim"
    assert trim.status is OrderStatus.FILLED


def test_a_live_session_trims_too():
    symbol = COINS[0].symbol
    series = rising(symbol, 40, 0.02)
    config = BacktestConfig(fill_model=FEE, instruments={symbol: COINS[0]}, risk=profile_for(1))
    result = run_live(
        (series.bar(i) for i in range(len(series))),
        BuyOnce(),
        config,
        instruments=[symbol],
        clock=HistoricalClock(int(series.ts[0])),
        venue=simulated_venue,
    )
    assert max(fractions(result, symbol)) <= LIMIT * (1 + TRIM_BAND) * D("1.02")
    assert any(o.client_order_id.startswith("trim-") for o in result.orders)


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


# Properties: random markets of several instruments, a strategy that piles up orders.


class AuditedExchange(SimulatedExchange):
    """The simulated exchange, checking every buy it is asked to place against the limits.

    It sees what the exchange holds: balances, the orders resting (pending) and the closes.
    A buy breaks a limit when, counted with what is pending, it takes a position past the
    position limit (valued at the buy's price, as the oversight values it), promises more cash
    than there is, or opens more positions than the profile allows.
    """

    def __init__(self, instruments, clock, config: BacktestConfig) -> None:
        quote = next(iter(instruments.values())).quote
        super().__init__(
            instruments, clock, fill_model=config.fill_model, balances={quote: config.initial_cash}
        )
        assert config.risk is not None
        self.profile = config.risk
        self.fee = 1 + config.fill_model.fees.rate(Liquidity.TAKER)
        self.quote = quote
        self.marks: dict[str, Decimal] = {}
        self.bought_on_bar: set[str] = set()
        self.breaches: list[str] = []

    def on_bar(self, bar):
        fills = super().on_bar(bar)
        self.marks[bar.instrument] = D(repr(bar.close))
        self.bought_on_bar = {f.instrument for f in fills if f.side is OrderSide.BUY}
        return fills

    def held(self, symbol: str) -> Decimal:
        return self.balances().get(self.instruments()[symbol].base, D(0))

    def equity(self) -> Decimal:
        held = sum((self.held(s) * mark for s, mark in self.marks.items()), D(0))
        return self.balances()[self.quote] + held

    def pending(self, symbol: str, side: OrderSide) -> list:
        return [o for o in self.open_orders(symbol) if o.side is side]

    def units_and_cost(self, request, left_quantity, left_quote) -> tuple[Decimal, Decimal]:
        price = request.limit_price or self.marks[request.instrument]
        if left_quantity is not None:
            return left_quantity, left_quantity * price * self.fee
        return left_quote / (price * self.fee), left_quote

    def place_order(self, request):
        if request.side is OrderSide.BUY:
            self.audit(request)
        return super().place_order(request)

    def audit(self, request) -> None:
        symbol, limit = request.instrument, self.profile.max_position_fraction
        units, cost = self.units_and_cost(request, request.quantity, request.quote_quantity)
        pending = [
            self.units_and_cost(o.request, o.remaining_quantity, o.remaining_quote)
            for o in self.open_orders()
            if o.side is OrderSide.BUY
        ]
        promised = sum((c for _, c in pending), D(0))
        if promised + cost > self.balances()[self.quote] + TOLERANCE:
            self.breaches.append(f"cash: {request} with {promised} promised")
        on_symbol = sum(
            (
                self.units_and_cost(o.request, o.remaining_quantity, o.remaining_quote)[0]
                for o in self.pending(symbol, OrderSide.BUY)
            ),
            D(0),
        )
        price = request.limit_price or self.marks[symbol]
        if (self.held(symbol) + on_symbol + units) * price > limit * self.equity() + TOLERANCE:
            self.breaches.append(f"position: {request} with {on_symbol} pending")
        most = self.profile.max_concurrent_positions
        engaged = {s for s in self.marks if self.held(s)} | {
            o.instrument for o in self.open_orders() if o.side is OrderSide.BUY
        }
        if most is not None and symbol not in engaged and len(engaged) >= most:
            self.breaches.append(f"concurrent: {request} with {sorted(engaged)} engaged")


TOLERANCE = D("0.000001")


class Piler:
    """Buys at random, at the market and with limit orders that rest for bars, never waiting
    for what it asked before to fill; now and then sells part of a position."""

    name = "piler"

    def __init__(self, seed: int, probe) -> None:
        self.rng = random.Random(seed)
        self.probe = probe

    def on_bar(self, bar, context):
        self.probe(bar)
        roll, symbol = self.rng.random(), bar.instrument
        cid = context.next_client_order_id(symbol)
        close = D(repr(bar.close))
        share = D(repr(round(self.rng.uniform(0.05, 1.5), 3)))
        if roll < 0.35:
            return [
                OrderRequest(
                    client_order_id=cid,
                    instrument=symbol,
                    side=OrderSide.BUY,
                    quote_quantity=max(context.cash(), D(10)) * share,
                )
            ]
        if roll < 0.6:
            price = (close * D(repr(round(self.rng.uniform(0.9, 0.995), 3)))).quantize(D("0.01"))
            hours = self.rng.choice([None, 2, 5])
            return [
                OrderRequest(
                    client_order_id=cid,
                    instrument=symbol,
                    side=OrderSide.BUY,
                    type=OrderType.LIMIT,
                    quantity=(max(context.cash(), D(10)) * share / price).quantize(D("0.0001"))
                    + D("0.0001"),
                    limit_price=price,
                    time_in_force=TimeInForce.GTC if hours is None else TimeInForce.GTD,
                    expire_ts=None if hours is None else bar.ts + hours * NS_PER_HOUR,
                )
            ]
        held = context.position(symbol)
        if roll < 0.7 and held > D("0.001"):
            return [
                OrderRequest(
                    client_order_id=cid,
                    instrument=symbol,
                    side=OrderSide.SELL,
                    quantity=(held / 2).quantize(D("0.0001")),
                )
            ]
        return []


class Watch:
    """After the risk layer has seen each bar, look at the bar's position.

    Less the market sells pending against it (a trim, the strategy's own exits: they fill at
    the next bar), it must be within its limit and the trim band, give or take one minimum
    order (a smaller trim cannot be placed). And unless a buy filled on this bar, its share of
    equity may have grown since its instrument's last bar by that bar's move (of its price and
    of the equity) only.
    """

    def __init__(self, profile) -> None:
        self.limit = profile.max_position_fraction
        self.exchange: AuditedExchange | None = None
        self.last: dict[str, tuple[Decimal, Decimal]] = {}
        self.breaches: list[str] = []

    def venue(self, instruments, clock, config) -> AuditedExchange:
        self.exchange = AuditedExchange(instruments, clock, config)
        return self.exchange

    def __call__(self, bar) -> None:
        exchange = self.exchange
        assert exchange is not None
        symbol, instrument = bar.instrument, exchange.instruments()[bar.instrument]
        mark, equity, held = exchange.marks[symbol], exchange.equity(), exchange.held(symbol)
        if equity <= 0:
            return
        leaving = sum(
            (
                o.remaining_quantity
                for o in exchange.pending(symbol, OrderSide.SELL)
                if o.request.type is OrderType.MARKET
            ),
            D(0),
        )
        smallest = (
            max(instrument.min_notional, instrument.min_size * mark)
            + instrument.size_increment * mark
        )
        allowed = self.limit * (1 + TRIM_BAND) * equity + smallest
        if (held - leaving) * mark > allowed:
            share = (held - leaving) * mark / equity
            self.breaches.append(f"{symbol} at {bar.ts}: {share:.4f} left above the limit")
        before = self.last.get(symbol)
        if before is not None and symbol not in exchange.bought_on_bar:
            then_mark, then_allowed = before
            one_bar = then_allowed * (mark / then_mark) / equity
            if held * mark / equity > one_bar + TOLERANCE:
                share = held * mark / equity
                self.breaches.append(f"{symbol} at {bar.ts}: {share:.4f} > {one_bar:.4f}")
        self.last[symbol] = (mark, allowed)


@given(
    market=markets(max_bars=60),
    seed=st.integers(0, 10_000),
    profile=st.sampled_from(
        [
            replace(profile_for(0), max_concurrent_positions=2),
            replace(profile_for(0), max_concurrent_positions=3),
            replace(profile_for(3), allowed_instruments=None),
            profile_for(4),
        ]
    ),
    # Exact costs, and Coinbase's taker fee with the default slippage model.
    costs=st.sampled_from([FEE, FillModel(fees=FeeSchedule.flat(D(60)))]),
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_limit_is_breached_by_what_is_held_or_what_is_pending(market, seed, profile, costs):
    instruments, series = market
    watch = Watch(profile)
    config = BacktestConfig(
        fill_model=costs,
        instruments=instruments,
        risk=profile,
        operator_reset_after_ns=NS_PER_HOUR * 24,
    )
    result = run_backtest(series, Piler(seed, watch), config, venue=watch.venue)
    notes = [n.reason for n in result.risk_notes.values()]
    event("trimmed" if any(n.action == "trim" for n in result.risk_notes.values()) else "no trim")
    event("held back by pending orders" if any("pending" in n for n in notes) else "no pending")
    assert watch.exchange is not None
    assert not watch.exchange.breaches, watch.exchange.breaches[:3]
    assert not watch.breaches, watch.breaches[:3]
