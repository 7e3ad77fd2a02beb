"""Fills persisted per second on SQLite and on PostgreSQL.

    python benchmarks/bench_storage.py [--fills N] [--batch N]

Each fill is stored as the engine stores it: the fill row, its order's new state, the order's
history row and two audit entries' worth of chain work, in one transaction (`record_fill`).
"one per transaction" commits each fill on its own, as live trading does; "batched" wraps
`--batch` fills in one `transaction()`; "checkpoint" hands `--batch` orders and their fills
to `write_batch` at once, as a backtest's checkpoint does (the same rows, written in bulk).
SQLite runs with synchronous=FULL in a temporary folder (so the figure depends on the disk
under it). PostgreSQL needs a server on 127.0.0.1:5432; without one it prints why and carries
on. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order, OrderRequest, OrderSide
from coinswarm.infra.storage import RunRecord, Store
from coinswarm.infra.storage.batch import Entry, Filled, Ordered

START_NS = 1_577_836_800 * 1_000_000_000


def _orders_and_fills(count: int, tag: str) -> list[tuple[Fill, Order]]:
    pairs = []
    for n in range(count):
        request = OrderRequest(
            client_order_id=f"{tag}-c{n}",
            instrument="BTC-USDT",
            side=OrderSide.BUY if n % 2 else OrderSide.SELL,
            quantity=Decimal("0.01"),
        )
        order = Order(f"{tag}-o{n}", request, START_NS + n)
        order.accept(START_NS + n)
        fill = Fill(
            trade_id=f"{tag}-t{n}",
            order_id=order.order_id,
            client_order_id=request.client_order_id,
            instrument="BTC-USDT",
            side=request.side,
            quantity=Decimal("0.01"),
            price=Decimal("30000.01") + n,
            fee=Decimal("0.30000001"),
            fee_currency="USDT",
            ts=START_NS + n + 1,
        )
        order.apply_fill(fill)
        pairs.append((fill, order))
    return pairs


def _run(store: Store, tag: str) -> str:
    run_id = f"bench-{tag}"
    store.create_run(
        RunRecord(
            run_id=run_id,
            mode="backtest",
            venue=f"simulated:{run_id}",
            strategy="bench",
            created_ts=START_NS,
            updated_ts=START_NS,
        )
    )
    return run_id


def _per_transaction(store: Store, count: int, _batch: int) -> float:
    run_id = _run(store, "single")
    pairs = _orders_and_fills(count, "single")
    started = time.perf_counter()
    for fill, order in pairs:
        store.record_fill(run_id, fill, order)
    return count / (time.perf_counter() - started)


def _batched(store: Store, count: int, batch: int) -> float:
    run_id = _run(store, "batched")
    pairs = _orders_and_fills(count, "batched")
    started = time.perf_counter()
    for first in range(0, count, batch):
        with store.transaction():
            for fill, order in pairs[first : first + batch]:
                store.record_fill(run_id, fill, order)
    return count / (time.perf_counter() - started)


def _checkpoint(store: Store, count: int, batch: int) -> float:
    run_id = _run(store, "checkpoint")
    pairs = _orders_and_fills(count, "checkpoint")
    started = time.perf_counter()
    for first in range(0, count, batch):
        entries: list[Entry] = []
        for fill, order in pairs[first : first + batch]:
            entries += [Ordered(order), Filled(fill, order)]
        store.write_batch(run_id, entries)
    return count / (time.perf_counter() - started)


MEASURES: dict[str, Callable[[Store, int, int], float]] = {
    "one per transaction": _per_transaction,
    "batched": _batched,
    "checkpoint": _checkpoint,
}


@contextmanager
def _sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def _postgresql() -> Iterator[str]:
    import psycopg  # noqa: PLC0415  (only needed when a server is there)
    from psycopg import sql  # noqa: PLC0415

    name = f"coinswarm_bench_{secrets.token_hex(6)}"
    last_error: Exception | None = None
    for user in dict.fromkeys((getpass.getuser(), "postgres")):
        try:
            admin = psycopg.connect(
                host="127.0.0.1", port=5432, dbname="test", user=user, autocommit=True,
                connect_timeout=3,
            )  # fmt: skip
        except psycopg.OperationalError as exc:
            last_error = exc
            continue
        with admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            try:
                yield f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}"
            finally:
                drop = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
                admin.execute(drop)
        return
    raise ConnectionError(f"no PostgreSQL on 127.0.0.1:5432: {last_error}")


def _measure(backend: str, url: str, count: int, batch: int) -> None:
    with Store.open(url, upgrade=True) as store:
        for label, measure in MEASURES.items():
            rate = measure(store, count, batch)
            print(f"{backend:<11} {label:<20} {count:>6} fills  {rate:>9,.0f} fills/s")


def main() -> None:
    """Print fills persisted per second on each backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    with _sqlite() as url:
        _measure("SQLite", url, args.fills, args.batch)
    try:
        with _postgresql() as url:
            _measure("PostgreSQL", url, args.fills, args.batch)
    except ConnectionError as exc:
        print(f"PostgreSQL  skipped: {exc}")


if __name__ == "__main__":
    main()
