"""The backtest event loop: bars in time order, one strategy, the one door, one ledger.

Each step reveals one bar to the fenced view, lets the simulated exchange match the orders that
were resting before it, and only then shows the bar to the strategy. Whatever the strategy asks
for is therefore placed after bar t and can meet bar t+1 at the earliest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from coinswarm.backtest.equity import equity_curve
from coinswarm.backtest.fence import fenced
from coinswarm.backtest.result import BacktestResult
from coinswarm.data.view import MarketView, fenced_view
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.errors import InvalidOrderError
from coinswarm.domain.instrument import Instrument, instrument_from_symbol
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderRequest
from coinswarm.exchanges.fill_model import FillModel
from coinswarm.exchanges.simulated import SimulatedExchange
from coinswarm.execution.agent import ExecutionAgent
from coinswarm.strategies.base import CancelRequest, Intent, Strategy

__all__ = ["BacktestConfig", "Progress", "run_backtest"]

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestConfig:
    """How to run one backtest; instruments not listed get default increments."""

    initial_cash: Decimal = Decimal(10_000)
    fill_model: FillModel = field(default_factory=FillModel)
    instruments: Mapping[str, Instrument] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)


class _Context:
    """What the strategy may see: the clock, the fenced market and its own account."""

    __slots__ = ("_clock", "_exchange", "_execution", "_ledger", "_market", "_sequence")

    def __init__(
        self,
        clock: HistoricalClock,
        market: MarketView,
        ledger: Ledger,
        exchange: SimulatedExchange,
        execution: ExecutionAgent,
    ) -> None:
        self._clock = clock
        self._market = market
        self._ledger = ledger
        self._exchange = exchange
        self._execution = execution
        self._sequence = 0

    @property
    def market(self) -> MarketView:
        return self._market

    def now_ns(self) -> int:
        return self._clock.now_ns()

    def instrument(self, symbol: str) -> Instrument:
        return self._execution.instrument(symbol)

    def cash(self) -> Decimal:
        return self._ledger.cash()

    def position(self, instrument: str) -> Decimal:
        return self._ledger.position(instrument).quantity

    def has_open_orders(self, instrument: str) -> bool:
        return self._exchange.has_resting(instrument)

    def next_client_order_id(self, instrument: str) -> str:
        # Derived from the run's own history, so the same run names its orders the same way.
        self._sequence += 1
        return f"{instrument}-{self._clock.now_ns()}-{self._sequence}"


def _instruments(
    market: Mapping[str, BarSeries], configured: Mapping[str, Instrument]
) -> dict[str, Instrument]:
    instruments = {s: configured.get(s) or instrument_from_symbol(s) for s in market}
    quotes = {i.quote for i in instruments.values()}
    if len(quotes) != 1:
        raise InvalidOrderError(f"expected one quote currency across instruments, found {quotes}")
    return instruments


def run_backtest(
    market: Sequence[BarSeries],
    strategy: Strategy,
    config: BacktestConfig | None = None,
    *,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run `strategy` over `market` (one series per instrument) and return everything."""
    config = config or BacktestConfig()
    by_symbol = {s.instrument: s for s in market}
    if len(by_symbol) != len(market):
        raise InvalidOrderError("each instrument may appear once in a backtest")
    instruments = _instruments(by_symbol, config.instruments)
    quote = next(iter(instruments.values())).quote
    clock = HistoricalClock(min((int(s.ts[0]) for s in market if len(s)), default=0))
    ledger = Ledger(instruments, quote)
    ledger.deposit(quote, config.initial_cash, clock.now_ns(), "initial cash")
    exchange = SimulatedExchange(
        instruments, clock, fill_model=config.fill_model, balances={quote: config.initial_cash}
    )
    execution = ExecutionAgent(exchange, ledger, clock)
    view, reveal = fenced_view(by_symbol)
    context = _Context(clock, view, ledger, exchange, execution)
    loop = _Loop(by_symbol, clock, exchange, execution, reveal)
    with fenced():
        loop.run(strategy, context, progress)
    marks = {
        s: Decimal(repr(float(series.close[-1]))) for s, series in by_symbol.items() if len(series)
    }
    fills = ledger.fills
    return BacktestResult(
        strategy=strategy.name,
        parameters=dict(config.parameters),
        initial_cash=config.initial_cash,
        final_equity=ledger.equity(marks),
        quote_currency=quote,
        bar_interval_ns=min((s.interval_ns for s in market), default=0),
        curve=equity_curve(
            by_symbol, fills, initial_cash=config.initial_cash, quote_currency=quote
        ),
        trades=ledger.round_trips,
        fills=fills,
        fees_paid=ledger.fees_paid(),
        market=by_symbol,
        orders=execution.orders,
    )


class _Loop:
    """The hot loop, kept apart so that its per-bar work is easy to see and to measure."""

    def __init__(
        self,
        market: Mapping[str, BarSeries],
        clock: HistoricalClock,
        exchange: SimulatedExchange,
        execution: ExecutionAgent,
        reveal: Callable[[int, int], None],
    ) -> None:
        self._market = market
        self._clock = clock
        self._exchange = exchange
        self._execution = execution
        self._reveal = reveal

    def _schedule(self) -> tuple[list[int], list[int], list[int]]:
        """Return (time, instrument position, row) of every bar, in time then listing order."""
        series = list(self._market.values())
        times = np.concatenate([s.ts for s in series])
        which = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(series)])
        rows = np.concatenate([np.arange(len(s), dtype=np.int64) for s in series])
        order = np.lexsort((which, times))
        return times[order].tolist(), which[order].tolist(), rows[order].tolist()

    def run(self, strategy: Strategy, context: _Context, progress: Progress | None) -> None:
        symbols = list(self._market)
        columns = [
            (s.open.tolist(), s.high.tolist(), s.low.tolist(), s.close.tolist(), s.volume.tolist())
            for s in self._market.values()
        ]
        times, which, rows = self._schedule()
        total = len(times)
        exchange, reveal, advance = self._exchange, self._reveal, self._clock.advance_to
        on_bar, route = strategy.on_bar, self._route
        now = -1
        for step, (ts, i, r) in enumerate(zip(times, which, rows, strict=True)):
            if ts != now:
                advance(ts)
                now = ts
            o, h, lo, c, v = columns[i]
            bar = Bar(symbols[i], ts, o[r], h[r], lo[r], c[r], v[r])
            reveal(i, r + 1)
            fills = exchange.on_bar(bar)
            if fills:
                self._execution.on_fills(fills)
            intents = on_bar(bar, context)
            if intents:
                route(intents)
            if progress is not None and step % PROGRESS_EVERY == 0:
                progress(step, total)
        if progress is not None:
            progress(total, total)

    def _route(self, intents: Sequence[Intent]) -> None:
        # The one door. The risk layer will stand between the strategy and the execution agent
        # here; nothing else reaches the exchange.
        for intent in intents:
            if isinstance(intent, OrderRequest):
                self._execution.submit(intent)
            elif isinstance(intent, CancelRequest):
                self._execution.cancel(intent.order_id)
