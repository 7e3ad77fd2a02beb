"""A store holding one account's known fills around a UTC midnight, for the daily reports.

`known_day(url)` builds it: a sandbox run (so positions are valued at its own fill prices)
that deposits 10,000 USDT and buys 1 BTC at 100 the day before D, trades twice on D (sells 0.4
at 110, buys 0.2 at 90) and once the day after; the ledger the "engine" kept is saved as
snapshots at D's edges; four alerts are in the audit log, one of them of this account on D.
The figures of D, worked out by hand, are in `tests/unit/test_daily_report.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide
from coinswarm.infra import audit
from coinswarm.infra.storage import RunRecord, Store
from coinswarm.reporting.daily import day_bounds

__all__ = ["END", "HOUR", "RUN", "START", "SYMBOL", "Book", "D", "known_day"]

D = date(2026, 12, 6)
START, END = day_bounds(D)
HOUR = 3_600_000_000_000
RUN = "run-known-fills"
SYMBOL = "BTC-USDT"


@dataclass
class Book:
    """A run's store and the ledger the engine would have kept beside it."""

    store: Store
    ledger: Ledger
    url: str
    run_id: str = RUN
    seq: int = 0

    def trade(self, side: OrderSide, quantity: str, price: str, fee: str, ts: int) -> Fill:
        self.seq += 1
        request = OrderRequest(
            client_order_id=f"c{self.seq}", instrument=SYMBOL, side=side, quantity=Decimal(quantity)
        )
        order = Order(f"o{self.seq}", request, ts)
        order.accept(ts)
        self.store.record_order(self.run_id, order)
        fill = Fill(
            trade_id=f"t{self.seq}",
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            instrument=SYMBOL,
            side=side,
            quantity=Decimal(quantity),
            price=Decimal(price),
            fee=Decimal(fee),
            fee_currency="USDT",
            ts=ts,
        )
        after = order.snapshot()
        after.apply_fill(fill)
        self.store.record_fill(self.run_id, fill, after)
        self.ledger.record(fill)
        return fill

    def checkpoint(self, ts: int) -> None:
        self.store.save_snapshot(self.run_id, ts, self.ledger.state())

    def alert(self, ts: int, **payload: object) -> None:
        with self.store.transaction() as session:
            audit.append(session, ts=ts, kind="alert", actor="alerts", payload=payload)


def open_account(url: str, *, mode: str = "sandbox", run_id: str = RUN) -> Book:
    """Return a new run of `mode` in the database at `url` with 10,000 USDT deposited."""
    store = Store.open(url, upgrade=True)
    store.create_run(
        RunRecord(
            run_id=run_id,
            mode=mode,
            venue=f"local:{run_id}",
            strategy="sma-cross",
            inputs={"phase": 2, "products": [SYMBOL]},
            created_ts=START - 20 * HOUR,
            updated_ts=START - 20 * HOUR,
        )
    )
    ledger = Ledger({SYMBOL: instrument_from_symbol(SYMBOL)}, "USDT")
    deposit = Deposit("USDT", Decimal(10_000), START - 14 * HOUR)
    store.record_deposit(run_id, deposit)
    ledger.deposit(deposit.currency, deposit.amount, deposit.ts)
    return Book(store, ledger, url, run_id)


def known_day(url: str) -> Book:
    """Build the store the module's docstring describes; the caller closes `book.store`."""
    book = open_account(url)
    book.trade(OrderSide.BUY, "1", "100", "0.1", START - HOUR)  # the day before
    book.checkpoint(START - 1)  # the engine's ledger as the day starts
    book.trade(OrderSide.SELL, "0.4", "110", "0.044", START + HOUR)
    book.trade(OrderSide.BUY, "0.2", "90", "0.018", START + 5 * HOUR)
    book.checkpoint(END - 1)  # ... and as it ends
    book.trade(OrderSide.SELL, "0.3", "120", "0.036", END + 2 * HOUR)  # the day after
    book.alert(
        START + 3 * HOUR, rule="exchange_errors", severity="critical", title="burst", mode="sandbox"
    )
    book.alert(START + 4 * HOUR, rule="loss", severity="warning", title="other mode", mode="live")
    book.alert(START + 5 * HOUR, rule="report", severity="info", title="a report", mode="sandbox")
    book.alert(END + HOUR, rule="loss", severity="warning", title="tomorrow", mode="sandbox")
    return book
