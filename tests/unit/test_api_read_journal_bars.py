"""A sandbox or live session's equity is marked at the bars its journal kept, read again as the
journal grows; a line half written by a killed session is passed over."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from coinswarm.api.reads import Reads
from coinswarm.api.settings import ServeSettings
from coinswarm.backtest.recording import journal_path
from coinswarm.bootstrap import open_store
from coinswarm.domain.bar import Bar
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide
from coinswarm.infra.session_codec import bar_to_json
from coinswarm.infra.session_journal import JournalWriter
from coinswarm.infra.storage import RunRecord
from coinswarm.infra.storage.batch import Deposited, Filled, Ordered

START = 1_700_000_000 // 3600 * 3600 * 1_000_000_000
HOUR = 3_600 * 1_000_000_000
RUN = "live-journal-bars"


def _bar(hour: int, close: float) -> Bar:
    return Bar("BTC-USD", START + hour * HOUR, close, close, close, close, 1.0)


def _store_session() -> Ledger:
    ledger = Ledger({"BTC-USD": instrument_from_symbol("BTC-USD")}, "USD")
    deposit = Deposit("USD", Decimal(1000), START, "opening balance")
    ledger.deposit(deposit.currency, deposit.amount, deposit.ts, deposit.reference)
    request = OrderRequest(
        client_order_id="c1", instrument="BTC-USD", side=OrderSide.BUY, quantity=Decimal(1)
    )
    order = Order("o1", request, START + HOUR)
    order.accept(START + HOUR)
    fill = Fill(
        trade_id="t1", order_id="o1", client_order_id="c1", instrument="BTC-USD",
        side=OrderSide.BUY, quantity=Decimal(1), price=Decimal(100), fee=Decimal(1),
        fee_currency="USD", ts=START + HOUR + 1,
    )  # fmt: skip
    order.apply_fill(fill)
    ledger.record(fill)
    with open_store(None, mode="live") as store:
        store.create_run(
            RunRecord(
                run_id=RUN, mode="live", venue="https://exchange.test", strategy="sma-cross",
                inputs={"products": ["BTC-USD"], "phase": "3"}, status="running",
                created_ts=START, updated_ts=START,
            )
        )  # fmt: skip
        store.write_batch(RUN, [Deposited(deposit), Ordered(order), Filled(fill, order)])
        store.save_snapshot(RUN, START + 3 * HOUR, ledger.state())
    return ledger


def _equity(part: Reads) -> tuple[str, list[tuple[int, Decimal]]]:
    with part.run(RUN) as (located, store):
        curve = part.accounts.equity(located.key, store, RUN, part.market(located))
    return curve.marked, [(p.ts, Decimal(p.equity)) for p in curve.points]


def test_a_sessions_curve_is_marked_at_its_journal_bars_and_follows_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COINSWARM_HOME", str(tmp_path))
    ledger = _store_session()
    part = Reads(ServeSettings())
    with JournalWriter(journal_path(RUN)) as journal:
        journal.write("start", {"interval_ns": HOUR, "run_id": RUN})
        for hour, close in enumerate([100.0, 110.0, 90.0, 120.0]):
            journal.write("bar", bar_to_json(_bar(hour, close)), sync=True)
        # The fill (at 1 h + 1 ns) counts from the next bar on: cash 899 and 1 BTC.
        assert _equity(part) == (
            "close",
            [
                (START, Decimal(1000)),
                (START + HOUR, Decimal(1000)),
                (START + 2 * HOUR, Decimal(989)),
                (START + 3 * HOUR, Decimal(1019)),
            ],
        )
        journal.write("bar", bar_to_json(_bar(4, 130.0)), sync=True)
        with open_store(None, mode="live") as store:
            store.save_snapshot(RUN, START + 4 * HOUR, ledger.state())
        assert _equity(part)[1][-1] == (START + 4 * HOUR, Decimal(1029))
    with journal_path(RUN).with_name(f"{RUN}.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"close":1e9,"instrument":"BTC-USD","kind":"bar","ts":')  # cut off
    assert _equity(part)[1][-1] == (START + 4 * HOUR, Decimal(1029))
    with part.run(RUN) as (located, store):
        market = part.market(located)
    asyncio.run(part.stop())
    assert market is not None
    assert market["BTC-USD"].close.tolist() == [100.0, 110.0, 90.0, 120.0, 130.0]
