"""The shadow backtest running beside a session, as it trades.

`LiveShadow` runs the session's strategy (a fresh instance, with the session's configuration) on
the simulated exchange, on a thread of its own, over the bars the session trades on, as the
session steps them. At any moment it can say how the session's orders and fills differ from what
the backtest expected, attributed as `shadow` attributes a journal after the session: both sides
are `shadow.Trades`, paired by `shadow.attribute`, so the two reports agree.

Each side's orders and fills are gathered from what its engine journals (`TradeBook`, a journal
that passes everything on). A fill is dated by the bar the run was stepping when it booked it,
which is how the session's journal dates it: `follow` hands a bar to the shadow only after the
session has stepped it, so while the session steps bar k, k bars have been handed over.

A report asks the shadow's thread for its trades through the same queue as the bars, so it is
answered after the shadow has stepped every bar handed to it before: called between two bars,
it reflects exactly the bars the session has stepped, however far behind the shadow's thread was.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coinswarm.backtest.engine import BacktestConfig, run_live, simulated_venue
from coinswarm.backtest.result import BacktestResult
from coinswarm.backtest.shadow import ShadowReport, Trades, attribute
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.order import Order
from coinswarm.execution.journal import Journal, MemoryJournal
from coinswarm.execution.known_orders import KnownOrders
from coinswarm.strategies import build_strategy

if TYPE_CHECKING:
    from types import TracebackType

    from coinswarm.agents.committee import Verdict
    from coinswarm.domain.fill import Fill
    from coinswarm.domain.ledger import Deposit, LedgerState
    from coinswarm.domain.order import OrderRequest
    from coinswarm.risk.events import RiskEvent, RiskNote

__all__ = ["LiveShadow", "ShadowFailedError", "TradeBook"]


class ShadowFailedError(CoinswarmError):
    """The shadow's run stopped on an error (chained); the session it shadowed trades on."""


class TradeBook:
    """A journal that passes everything on and keeps the run's orders and fills.

    The orders are kept as the execution agent keeps them (`ExecutionAgent._remember`): by order
    id, in the order they were asked for, an order placed without an answer (a stand-in, still
    NEW) giving way to the exchange's own order under the same client order id. So the book's
    orders are the run's `result.orders`, at any bar. `stepping` returns the position of the bar
    the run is stepping, which dates each order's first fill.
    """

    def __init__(self, inner: Journal, stepping: Callable[[], int]) -> None:
        self._inner = inner
        self._stepping = stepping
        self._lock = threading.Lock()  # the run's thread writes, a report may read from another
        self._known = KnownOrders()  # as the execution agent keeps them
        self._fills: list[Fill] = []
        self._first_bars: dict[str, int] = {}

    def trades(self, bars: int) -> Trades:
        """Return a copy of the orders and fills so far, the run having stepped `bars` bars."""
        with self._lock:
            return Trades(
                orders=tuple(o.snapshot() for o in self._known.by_id.values()),
                fills=tuple(self._fills),
                first_bars=dict(self._first_bars),
                bars=bars,
            )

    def claim(self, request: OrderRequest, ts: int) -> bool:
        return self._inner.claim(request, ts)

    def order(self, order: Order) -> None:
        self._inner.order(order)
        with self._lock:
            self._known.keep(order)

    def fill(self, fill: Fill, order: Order) -> None:
        self._inner.fill(fill, order)
        with self._lock:
            self._fills.append(fill)
            self._first_bars.setdefault(fill.order_id, self._stepping())
            self._known.keep(order)

    def deposit(self, deposit: Deposit) -> None:
        self._inner.deposit(deposit)

    def risk_note(self, client_order_id: str, note: RiskNote, ts: int) -> None:
        self._inner.risk_note(client_order_id, note, ts)

    def risk_event(self, event: RiskEvent) -> None:
        self._inner.risk_event(event)

    def verdict(self, verdict: Verdict) -> None:
        self._inner.verdict(verdict)

    def checkpoint(self, ts: int, state: LedgerState) -> None:
        self._inner.checkpoint(ts, state)


@dataclass(slots=True)
class _Ask:
    """A report's request for the shadow's trades, answered on the shadow's thread."""

    answered: threading.Event = field(default_factory=threading.Event)
    trades: Trades | None = None  # None once answered: the shadow had stopped on an error


_Item = Bar | _Ask | None  # None ends the feed


class LiveShadow:
    """The session's strategy on the simulated exchange, on its own thread, bar for bar.

    Wire it on the session's thread: `start()`, then run the session over `follow(feed)` with
    its journal wrapped by `watch(journal)`, then `close()`. `report()` and `summary()` may be
    called at any time from then on, and after `close()`. A shadow that fails stops taking
    bars and says so through `report()`, `summary()` and `close()`; the session is not
    disturbed.
    """

    def __init__(
        self,
        strategy: str,
        parameters: Mapping[str, str],
        config: BacktestConfig,
        *,
        instruments: Sequence[str],
        interval_ns: int = NS_PER_HOUR,
        history: Sequence[BarSeries] = (),
    ) -> None:
        # A fresh instance: a strategy keeps state, and the session's is the session's own.
        self._strategy, _ = build_strategy(strategy, parameters)
        # The shadow has no person: a person's stop in the session is part of the gap.
        self._config = config
        self._instruments = tuple(instruments)
        self._interval_ns = interval_ns
        self._history = tuple(history)
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards `_open`, so nothing is queued once it is False
        self._open = False  # taking bars: from start() until close() or the shadow's failure
        self._thread: threading.Thread | None = None
        self._handed = 0  # bars the session has stepped and handed over
        self._stepped = 0  # bars the shadow has taken; its thread's alone
        self._shadow = TradeBook(MemoryJournal(), lambda: self._stepped - 1)
        self._session: TradeBook | None = None
        self._error: Exception | None = None
        self._result: BacktestResult | None = None

    @property
    def result(self) -> BacktestResult | None:
        """Return the shadow's backtest once closed (None before, or after a failure)."""
        return self._result

    def start(self) -> LiveShadow:
        """Start the shadow's thread; return the shadow."""
        if self._thread is not None:
            msg = "the shadow backtest was started already"
            raise RuntimeError(msg)
        with self._lock:
            self._thread = threading.Thread(target=self._run, name="shadow-backtest", daemon=True)
            self._open = True
        self._thread.start()
        return self

    def watch(self, journal: Journal | None = None) -> TradeBook:
        """Return the session's journal, wrapped to keep the session's orders and fills."""
        # While the session steps bar k, k bars were handed over: the fill came with bar k.
        self._session = TradeBook(journal or MemoryJournal(), lambda: self._handed)
        return self._session

    def follow(
        self, feed: Iterable[Bar], *, log: Callable[[str], None] | None = None, every: int = 0
    ) -> Iterator[Bar]:
        """Yield `feed`'s bars, handing each to the shadow once the session has stepped it.

        With `log`, every `every` bars the gap so far goes to `log` as one line (`summary`),
        which waits for the shadow to catch up; a shadow that failed is logged once.
        """
        note = log if every > 0 else None
        for bar in feed:
            yield bar  # the engine asks for the next bar only once it has stepped this one
            self.on_bar(bar)
            if note is not None and self._handed % every == 0:
                try:
                    note(self.summary())
                except ShadowFailedError as failed:
                    note(str(failed))
                    note = None  # said once; close() raises it

    def on_bar(self, bar: Bar) -> None:
        """Hand the shadow a bar the session has just stepped (`follow` does it)."""
        with self._lock:
            if self._thread is None:
                msg = "start the shadow backtest before handing it bars"
                raise RuntimeError(msg)
            self._handed += 1
            if self._open:
                self._queue.put(bar)

    def shadow_trades(self) -> Trades:
        """Return the shadow's trades once it has stepped every bar handed to it so far."""
        with self._lock:
            if self._thread is None:
                msg = "start the shadow backtest before asking for its trades"
                raise RuntimeError(msg)
            ask = _Ask() if self._open else None
            if ask is not None:
                self._queue.put(ask)
        if ask is None:  # closed or failed: the thread is done with the book
            self._raise_failure()
            return self._shadow.trades(self._stepped)
        ask.answered.wait()
        if ask.trades is None:
            self._raise_failure()
        assert ask.trades is not None
        return ask.trades

    def session_trades(self) -> Trades:
        """Return the session's trades so far, as `watch`'s journal kept them."""
        if self._session is None:
            msg = "wrap the session's journal with watch(), or pass its trades to report()"
            raise RuntimeError(msg)
        return self._session.trades(self._handed)

    def report(self, session: Trades | None = None) -> ShadowReport:
        """Return the gap between the session (by default as `watch` kept it) and the shadow."""
        return self._gap(session)[1]

    def summary(self) -> str:
        """Return the gap so far on one line, for the session's log."""
        bars, gap = self._gap(None)
        return f"shadow backtest after {bars} bars: {gap.line()}"

    def _gap(self, session: Trades | None) -> tuple[int, ShadowReport]:
        shadow = self.shadow_trades()
        ours = self.session_trades() if session is None else session
        return shadow.bars, attribute(ours.traded(), shadow.traded())

    def close(self) -> None:
        """End the shadow's feed and wait for its run to finish; raise if it failed."""
        self._stop()
        self._raise_failure()

    def __enter__(self) -> LiveShadow:
        return self if self._thread is not None else self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:  # the session's own error is the one to see; the shadow's stays in report()
            self._stop()

    def _stop(self) -> None:
        with self._lock:
            if self._open:
                self._open = False
                self._queue.put(None)
        if self._thread is not None:
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._error is not None:
            msg = f"the shadow backtest stopped: {self._error}"
            raise ShadowFailedError(msg) from self._error

    def _run(self) -> None:
        try:
            first = self._next_bar()
            # As a backtest's, the clock starts at the first bar and follows the bars.
            clock = HistoricalClock(0 if first is None else first.ts)
            self._result = run_live(
                self._bars(first),
                self._strategy,
                self._config,
                instruments=self._instruments,
                history=self._history,
                clock=clock,
                venue=simulated_venue,
                journal=self._shadow,
                interval_ns=self._interval_ns,
            )
        except Exception as error:  # kept for close() and report() to raise
            self._error = error
        finally:
            with self._lock:
                self._open = False
            self._refuse_waiting()

    def _bars(self, first: Bar | None) -> Iterator[Bar]:
        bar = first
        while bar is not None:
            self._stepped += 1
            yield bar
            bar = self._next_bar()

    def _next_bar(self) -> Bar | None:
        """Return the next bar handed over (None at the end), answering reports on the way."""
        while True:
            item = self._queue.get()
            if not isinstance(item, _Ask):
                return item
            item.trades = self._shadow.trades(self._stepped)
            item.answered.set()

    def _refuse_waiting(self) -> None:
        """Answer, with nothing, the reports queued when the shadow stopped; drop its bars."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Ask):
                item.answered.set()
