from __future__ import annotations

import gc
import random
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from coinswarm.backtest.engine import BacktestConfig, run_backtest, simulated_venue
from coinswarm.backtest.result import BacktestResult
from coinswarm.data import synthetic_market, write_bars
from coinswarm.data.view import FIRST_CAPACITY, SETTLE_EVERY
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.errors import LookAheadError
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.domain.slippage import FixedSlippage
from coinswarm.exchanges.simulated import SimulatedExchange
from coinswarm.risk.profiles import profile_for
from coinswarm.strategies import CancelRequest
from coinswarm.strategies.sma_cross import SmaCross, SmaCrossConfig
from generators import INSTRUMENTS, START_NS, bar_series

D = Decimal
CONFIG = BacktestConfig(
    fill_model=FillModel(fees=FeeSchedule.flat(D(10)), slippage=FixedSlippage()),
    instruments=INSTRUMENTS,
)


class VenueHolder:
    """Builds the run's simulated exchange and keeps it, so a test strategy can list its orders.

    A real strategy cannot see the exchange; this one needs the exchange's order ids to cancel.
    """

    def __init__(self) -> None:
        self.venue: SimulatedExchange | None = None

    def __call__(self, instruments, clock, config) -> SimulatedExchange:
        venue = simulated_venue(instruments, clock, config)
        assert isinstance(venue, SimulatedExchange)
        self.venue = venue
        return venue


class RandomTrader:
    """Market, limit and stop orders of random sizes, and random cancels, from a seed.

    Its limit buys rest 1% below the close, so there is usually something open to cancel;
    every cancel it asks for names an order that is open at that moment.
    """

    name = "random"

    def __init__(self, seed: int, holder: VenueHolder) -> None:
        self.rng = random.Random(seed)
        self.holder = holder
        self.cancelled: list[str] = []

    def on_bar(self, bar, context):
        roll = self.rng.random()
        held = context.position(bar.instrument)
        order_id = context.next_client_order_id(bar.instrument)
        price = D(repr(bar.close))
        if roll < 0.3:
            return [
                OrderRequest(
                    client_order_id=order_id,
                    instrument=bar.instrument,
                    side=OrderSide.BUY,
                    quote_quantity=context.cash() / 3,
                )
            ]
        if roll < 0.5 and held > 0:
            return [
                OrderRequest(
                    client_order_id=order_id,
                    instrument=bar.instrument,
                    side=OrderSide.SELL,
                    quantity=held / 2,
                )
            ]
        if roll < 0.65:
            return [
                OrderRequest(
                    client_order_id=order_id,
                    instrument=bar.instrument,
                    side=OrderSide.BUY,
                    type=OrderType.LIMIT,
                    quantity=D("0.01"),
                    limit_price=price * D("0.99"),
                )
            ]
        if roll < 0.75 and held > 0:
            return [
                OrderRequest(
                    client_order_id=order_id,
                    instrument=bar.instrument,
                    side=OrderSide.SELL,
                    type=OrderType.STOP,
                    quantity=held,
                    stop_price=price * D("0.98"),
                )
            ]
        if roll < 0.9:
            chosen = [o for o in self.open_ids(bar.instrument) if self.rng.random() < 0.5]
            self.cancelled.extend(chosen)
            return [CancelRequest(o) for o in chosen]
        return []

    def open_ids(self, instrument: str) -> list[str]:
        assert self.holder.venue is not None
        return [o.order_id for o in self.holder.venue.open_orders(instrument) if o.is_live]


def random_run(series: BarSeries, seed: int) -> tuple[BacktestResult, RandomTrader]:
    holder = VenueHolder()
    trader = RandomTrader(seed, holder)
    return run_backtest([series], trader, CONFIG, venue=holder), trader


def assert_every_cancel_took(result: BacktestResult, trader: RandomTrader) -> None:
    final = {o.order_id: o for o in result.orders}
    for order_id in trader.cancelled:  # nothing fills between a bar's decision and its cancel
        assert final[order_id].status is OrderStatus.CANCELLED
    cancelled = {o for o, order in final.items() if order.status is OrderStatus.CANCELLED}
    assert cancelled == set(trader.cancelled)


class RecordingSmaCross(SmaCross):
    """sma-cross that also remembers which bar each of its decisions was made on."""

    def __init__(self, config=None):
        super().__init__(config)
        self.decisions = []

    def on_bar(self, bar, context):
        intents = super().on_bar(bar, context)
        self.decisions.extend((bar.ts, i) for i in intents)
        return intents


def market(seed: int, bars: int = 3000) -> BarSeries:
    return synthetic_market(instrument="BTC-USDT", bars=bars, seed=seed)


def test_a_decision_on_bar_t_fills_at_the_open_of_bar_t_plus_one():
    series = market(1)
    strategy = RecordingSmaCross(SmaCrossConfig(fast=5, slow=12))
    result = run_backtest([series], strategy, CONFIG)
    decided = {i.client_order_id: ts for ts, i in strategy.decisions}
    assert len(result.fills) > 20
    for fill in result.fills:
        row = int(np.searchsorted(series.ts, fill.ts))
        assert series.ts[row] == fill.ts
        assert fill.ts > decided[fill.client_order_id]
        assert series.ts[row - 1] == decided[fill.client_order_id]  # the very next bar
        assert fill.price == D(repr(float(series.open[row])))


@given(series=bar_series(min_bars=20, max_bars=150), seed=st.integers(0, 1000))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_exchange_and_ledger_agree_and_equity_is_cash_plus_positions_at_every_bar(series, seed):
    result, trader = random_run(series, seed)
    assert_every_cancel_took(result, trader)
    event(f"cancels: {min(len(trader.cancelled), 3)}{'+' if len(trader.cancelled) >= 3 else ''}")
    ledger = Ledger(INSTRUMENTS, "USDT")
    ledger.deposit("USDT", CONFIG.initial_cash, 0)
    fills = iter(result.fills)
    pending = next(fills, None)
    for ts, close, equity in zip(
        series.ts.tolist(), series.close.tolist(), result.curve.equity.tolist(), strict=True
    ):
        while pending is not None and pending.ts <= ts:
            ledger.record(pending)
            pending = next(fills, None)
        mark = {"BTC-USDT": D(repr(close)), "ETH-USDT": D(1)}
        exact = ledger.cash() + ledger.position("BTC-USDT").quantity * mark["BTC-USDT"]
        assert exact == ledger.equity(mark)
        assert equity == pytest.approx(float(exact), rel=1e-9, abs=1e-6)
    assert ledger.cash() >= 0
    assert ledger.position("BTC-USDT").quantity >= 0  # spot: never short
    assert float(result.final_equity) == pytest.approx(result.curve.equity[-1], rel=1e-9)


def test_the_same_run_twice_gives_the_same_fills_and_curve():
    first, trader = random_run(market(3), 5)
    second, _ = random_run(market(3), 5)
    assert first.fills == second.fills
    assert first.final_equity == second.final_equity
    assert first.curve.equity.tobytes() == second.curve.equity.tobytes()
    assert len(trader.cancelled) > 50  # the random trader does cancel, and each cancel took
    assert_every_cancel_took(first, trader)
    assert [(o.order_id, o.status) for o in first.orders] == [
        (o.order_id, o.status) for o in second.orders
    ]


def test_bars_of_several_instruments_are_played_in_time_order():
    btc = market(4, 500)
    eth = synthetic_market(instrument="ETH-USDT", bars=400, seed=9, start=int(btc.ts[100]))
    seen: list[tuple[int, str]] = []

    class Watcher:
        name = "watcher"

        def on_bar(self, bar, context):
            seen.append((bar.ts, bar.instrument))
            assert context.market.count(bar.instrument) == int(
                np.searchsorted((btc if bar.instrument == "BTC-USDT" else eth).ts, bar.ts) + 1
            )
            return []

    run_backtest([btc, eth], Watcher(), CONFIG)
    assert seen == sorted(seen, key=lambda x: (x[0], x[1] != "BTC-USDT"))
    assert len(seen) == 900


# -- look-ahead: the strategy sees nothing after the clock's now ------------------------------


class ShiftedSeries:
    """Tries to trade tomorrow's close by shifting the series it is given."""

    name = "shifted"

    def __init__(self):
        self.decisions = []

    def on_bar(self, bar, context):
        close = context.market.history(bar.instrument)
        assert close[-1] == bar.close
        shifted = np.roll(close, -1)  # "next close": wraps around to the first bar instead
        beyond = close.base[len(close)] if len(close) < len(close.base) else np.nan
        self.decisions.append((bar.ts, float(shifted[-1]), bool(np.isnan(beyond))))
        held = context.position(bar.instrument)
        if shifted[-1] > bar.close and not held:
            return [
                OrderRequest(
                    client_order_id=context.next_client_order_id(bar.instrument),
                    instrument=bar.instrument,
                    side=OrderSide.BUY,
                    quote_quantity=context.cash(),
                )
            ]
        if shifted[-1] < bar.close and held:
            return [
                OrderRequest(
                    client_order_id=context.next_client_order_id(bar.instrument),
                    instrument=bar.instrument,
                    side=OrderSide.SELL,
                    quantity=held,
                )
            ]
        return []


class Oracle(ShiftedSeries):
    """The leak the fence exists to stop: handed the future from outside the engine."""

    name = "oracle"

    def __init__(self, full: BarSeries):
        super().__init__()
        self.full = full

    def on_bar(self, bar, context):
        row = context.market.count(bar.instrument)
        following = self.full.close[row + 1] if row + 1 < len(self.full) else bar.close
        held = context.position(bar.instrument)
        self.decisions.append((bar.ts, float(following), True))
        if following > self.full.open[row] if row < len(self.full) else False:
            if not held:
                return [
                    OrderRequest(
                        client_order_id=context.next_client_order_id(bar.instrument),
                        instrument=bar.instrument,
                        side=OrderSide.BUY,
                        quote_quantity=context.cash(),
                    )
                ]
        elif held:
            return [
                OrderRequest(
                    client_order_id=context.next_client_order_id(bar.instrument),
                    instrument=bar.instrument,
                    side=OrderSide.SELL,
                    quantity=held,
                )
            ]
        return []


def decisions_on_prefix_match(make, series: BarSeries, cut: int) -> bool:
    """Run on all the data and on its first `cut` bars: a fair strategy decides the same."""
    shorter = series.between(None, int(series.ts[cut]))
    full, prefix = make(series), make(shorter)
    run_backtest([series], full, CONFIG)
    run_backtest([shorter], prefix, CONFIG)
    return full.decisions[:cut] == prefix.decisions


def test_a_shifted_series_sees_no_future_and_cannot_profit_from_it():
    series = market(11, 2000)
    strategy = ShiftedSeries()
    result = run_backtest([series], strategy, CONFIG)
    assert all(hidden for _, _, hidden in strategy.decisions)
    assert decisions_on_prefix_match(lambda s: ShiftedSeries(), series, 1200)
    oracle = run_backtest([series], Oracle(series), CONFIG)
    assert oracle.final_equity > 10 * result.final_equity  # what a real leak would be worth


def test_the_prefix_check_catches_a_planted_leak():
    series = market(12, 1500)
    assert not decisions_on_prefix_match(Oracle, series, 900)


def test_reading_the_data_file_during_a_backtest_is_refused(tmp_path: Path):
    series = market(13, 200)
    path = tmp_path / "BTC_USDT-1h.csv"
    write_bars(series, path)

    class FileReader:
        name = "file-reader"

        def on_bar(self, bar, context):
            path.read_text()  # tomorrow's close is in there
            return []

    with pytest.raises(LookAheadError, match="strategies see market data only through"):
        run_backtest([series], FileReader(), CONFIG)


def test_the_view_refuses_to_be_written():
    series = market(14, 100)

    class Writer:
        name = "writer"

        def on_bar(self, bar: Bar, context):
            context.market.history(bar.instrument)[-1] = 0.0
            return []

    with pytest.raises(ValueError, match="read-only"):
        run_backtest([series], Writer(), CONFIG)


class GraphWalker:
    """Looks for the future everywhere it can reach from what the engine hands it.

    It reads the view's private attributes (`_series` was where a backtest's whole market
    used to be), then walks the object graph from the bar and the context: attributes,
    `__slots__`, containers, closures, bound methods and their owners, array bases, whatever
    `gc.get_referents` reports. Modules, classes and function globals are the program, not
    data handed to the strategy, so the walk does not enter them.
    """

    name = "graph-walker"

    def __init__(
        self,
        future_of: Callable[[int], Future],
        every: int,
        *,
        reads: bool = True,
        carried: tuple[object, ...] = (),
    ) -> None:
        self.future_of = future_of
        self.every = every
        self.reads = reads  # whether it also reads history (which moves bars into the buffers)
        self.carried = carried  # what a leaky engine would have handed over besides
        self.seen = 0
        self.leaks: list[tuple[int, str]] = []  # (bar time, what was found)
        self.present_found = 0

    def on_bar(self, bar, context):
        self.seen += 1
        # Walk now and then, and around each moment the view moves bars into its buffers.
        near_a_copy = (context.market.count(bar.instrument) + 1) % SETTLE_EVERY < 3
        if self.seen % self.every and not near_a_copy:
            return []
        future = self.future_of(bar.ts)
        series = getattr(context.market, "_series", None)
        if series is not None:
            self.leaks.append((bar.ts, f"context.market._series: {type(series).__name__}"))
        self.walk(bar, context, future)
        if self.reads:
            context.market.history(bar.instrument)  # a fair read moves what was shown in
            self.walk(bar, context, future)
        return []

    def walk(self, bar, context, future: Future) -> None:
        for thing in reachable(bar, context, *self.carried):
            found = future.found_in(thing)
            if found:
                self.leaks.append((bar.ts, f"{type(thing).__name__}: {found}"))
            if isinstance(thing, np.ndarray) and thing.dtype == np.int64 and START_NS in thing:
                self.present_found += 1  # an array of the view's: the first bar's time


@dataclass(frozen=True)
class Future:
    """The times and prices that only bars after some moment have."""

    times: set[int]
    values: set[float]

    def found_in(self, thing: object) -> str:
        if isinstance(thing, Bar) and thing.ts in self.times:
            return f"a bar at {thing.ts}"
        if isinstance(thing, np.ndarray) and thing.dtype.kind in "if" and thing.size:
            known = self.times if thing.dtype.kind == "i" else self.values
            hits = known.intersection(thing.ravel().tolist())
            return f"{len(hits)} future values, e.g. {min(hits)!r}" if hits else ""
        numeric = isinstance(thing, float | int | Decimal) and not isinstance(thing, bool)
        if numeric and (thing in self.times or thing in self.values):
            return repr(thing)
        return ""


def reachable(*roots: object) -> Iterator[object]:
    """Yield every object reachable from `roots` except modules, classes and their globals."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        thing = stack.pop()
        if id(thing) in seen or isinstance(thing, type | types.ModuleType):
            continue
        seen.add(id(thing))
        yield thing
        stack.extend(_referents(thing))


def _referents(thing: object) -> list[object]:
    if isinstance(thing, types.FunctionType):  # its globals are the module: code, not data
        cells = [c.cell_contents for c in thing.__closure__ or () if _filled(c)]
        return [*cells, thing.__defaults__, thing.__kwdefaults__]
    found = list(gc.get_referents(thing))
    if isinstance(thing, np.ndarray) and thing.base is not None:
        found.append(thing.base)
    slots = getattr(type(thing), "__slots__", ())
    found.extend(getattr(thing, slot) for slot in slots if hasattr(thing, slot))
    if hasattr(thing, "__dict__"):
        found.append(vars(thing))
    return found


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - reading an empty cell raises
    except ValueError:
        return False
    return True


def telltale_market(n: int = 300) -> list[BarSeries]:
    """Two instruments on one clock whose every time and price belongs to one bar only."""
    ts = START_NS + np.arange(n, dtype=np.int64) * NS_PER_HOUR
    row = np.arange(n, dtype=np.float64)
    markets = []
    for k, symbol in enumerate(("BTC-USDT", "ETH-USDT")):
        base = 20_000.0 + 4_000 * k + 10 * row + k / 32  # fractions tell the instruments apart
        prices = (base + 0.125, base + 3.375, base + 0.625, base + 2.875)
        markets.append(BarSeries(symbol, NS_PER_HOUR, ts, *prices, 1_000.0 + 3 * row + k + 0.5))
    return markets


def future_after(market: list[BarSeries]) -> Callable[[int], Future]:
    def future_of(now: int) -> Future:
        times: set[int] = set()
        values: set[float] = set()
        for series in market:
            later = series.ts > now
            times.update(series.ts[later].tolist())
            for field in ("open", "high", "low", "close", "volume"):
                values.update(getattr(series, field)[later].tolist())
        return Future(times, values)

    return future_of


@pytest.mark.parametrize("reads", [True, False], ids=["reading", "never-reading"])
def test_nothing_a_strategy_can_reach_holds_a_bar_beyond_now(reads: bool):
    # Past several bulk copies and the buffers' first doubling.
    market = telltale_market(max(2 * SETTLE_EVERY, FIRST_CAPACITY) + 100)
    walker = GraphWalker(future_after(market), every=97, reads=reads)
    run_backtest(market, walker, replace(CONFIG, risk=profile_for(0)))
    assert walker.seen == 2 * len(market[0])
    assert walker.present_found > 0  # the walk does reach the view's buffers
    assert walker.leaks == []


def test_the_walker_finds_a_future_that_is_within_reach():
    market = telltale_market()
    walker = GraphWalker(future_after(market), every=50, carried=({"kept": market[1]},))
    run_backtest(market, walker, CONFIG)
    assert len({ts for ts, _ in walker.leaks}) >= 600 // 50 - 1  # each walk before the last


def test_the_views_buffers_say_nothing_of_how_many_bars_are_to_come():
    capacities = []
    for bars in (60, 5000):

        class Measurer:
            name = "measurer"

            def on_bar(self, bar, context):
                if context.market.count(bar.instrument) == 50:
                    close = context.market.history(bar.instrument)
                    capacities.append(len(close.base))
                    assert np.isnan(close.base[50:]).all()
                return []

        run_backtest([market(15, bars)], Measurer(), CONFIG)
    assert capacities[0] == capacities[1]
