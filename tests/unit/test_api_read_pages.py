"""Pages of orders and fills over runs whose rows interleave in their tables, as two sessions
writing to one database leave them: every page holds only the run's rows, every row once, in
order, and the counts kept between requests follow rows added, runs added and runs deleted."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.api.reads.stores import read_engine
from coinswarm.api.reads.trades import PageRequest, Spans, fills_page, orders_page
from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order, OrderRequest, OrderSide
from coinswarm.infra.storage import RunRecord, Store, resolve_url
from coinswarm.infra.storage.batch import Entry, Filled, Ordered

START = 1_700_000_000 * 1_000_000_000
NAMES = itertools.count()


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> Iterator[tuple[Store, Store]]:
    """Return a store that writes and one that reads as the API does, over one database."""
    url = resolve_url(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'p.db'}")
    with Store.open(url, upgrade=True) as writer:
        engine = read_engine(url)
        yield writer, Store(engine)
        engine.dispose()


def _new_run(store: Store) -> str:
    run_id = f"run-{next(NAMES)}"
    store.create_run(
        RunRecord(
            run_id=run_id, mode="paper", venue=f"simulated:{run_id}", strategy="sma-cross",
            created_ts=START, updated_ts=START,
        )
    )  # fmt: skip
    return run_id


def _trade(run_id: str, n: int) -> list[Entry]:
    request = OrderRequest(
        client_order_id=f"{run_id}-c{n}", instrument="BTC-USDT", side=OrderSide.BUY,
        quantity=Decimal("0.01"),
    )  # fmt: skip
    order = Order(f"{run_id}-o{n}", request, START + n)
    order.accept(START + n)
    fill = Fill(
        trade_id=f"{run_id}-t{n}", order_id=order.order_id,
        client_order_id=request.client_order_id, instrument="BTC-USDT", side=OrderSide.BUY,
        quantity=Decimal("0.01"), price=Decimal(100 + n), fee=Decimal("0.01"),
        fee_currency="USDT", ts=START + n + 1,
    )  # fmt: skip
    order.apply_fill(fill)
    return [Ordered(order), Filled(fill, order)]


def _write(store: Store, owners: list[bool], runs: tuple[str, str]) -> None:
    """Write one trade per entry of `owners` to the first run (True) or the second, each in a
    checkpoint of its own, so that the two runs' rows interleave."""
    for first in owners:
        run_id = runs[0] if first else runs[1]
        store.write_batch(run_id, _trade(run_id, next(NAMES)))


def _walk(page, store: Store, run_id: str, limit: int, order: str, spans: Spans) -> list[str]:
    seen, after = [], None
    while True:
        got = page(store, run_id, PageRequest(limit=limit, after=after, order=order), spans=spans)
        assert len(got.items) <= limit
        seen += [item.client_order_id for item in got.items]
        after = got.next
        if after is None:
            return seen


@settings(max_examples=15)
@given(
    owners=st.lists(st.booleans(), min_size=1, max_size=24),
    limit=st.integers(1, 12),
    oldest=st.booleans(),
)
def test_pages_of_interleaved_runs_hold_each_row_of_the_run_once(stores, owners, limit, oldest):
    writer, reader = stores
    runs = (_new_run(writer), _new_run(writer))
    _write(writer, owners, runs)
    spans, order = Spans(), "oldest" if oldest else "newest"
    for run_id in runs:
        stored = [o.client_order_id for o in writer.orders(run_id)]
        expected = stored if oldest else stored[::-1]
        assert _walk(orders_page, reader, run_id, limit, order, spans) == expected
        assert _walk(fills_page, reader, run_id, limit, order, spans) == expected
        total = orders_page(reader, run_id, PageRequest(limit=1), spans=spans).total
        assert total == len(stored)


def test_kept_counts_follow_rows_and_runs_added_and_runs_deleted(stores):
    writer, reader = stores
    spans = Spans()
    run_id, other = _new_run(writer), _new_run(writer)

    def total() -> int:
        return orders_page(reader, run_id, PageRequest(limit=1), spans=spans).total

    _write(writer, [True, False, True], (run_id, other))
    assert total() == 2
    _write(writer, [False, True, True], (run_id, other))  # rows added: counted on top
    assert total() == 4
    assert _walk(orders_page, reader, run_id, 3, "oldest", spans) == [
        o.client_order_id for o in writer.orders(run_id)
    ]
    _new_run(writer)  # a run more: counted afresh
    assert total() == 4
    writer.delete_run(other, ts=START, actor="test")  # a run fewer: counted afresh
    assert total() == 4
    assert orders_page(reader, other, PageRequest(), spans=spans).total == 0
