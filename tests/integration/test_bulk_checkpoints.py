"""A backtest whose checkpoints are written in bulk stores exactly what the per-row path stores.

The golden is the same run written the old way, one store method per event (`StoreJournal(...,
bulk=False)`): every row of every table, ids and audit hashes included, must be the same, on
SQLite and on PostgreSQL. The run trades two instruments under phase 0 with a volume cap
small enough to split orders into partial fills across checkpoints, so orders stored by one
checkpoint are updated by a later one, and the risk layer trims, trips and stops.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal

import pytest
from psycopg import sql
from sqlalchemy import select

from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.data import synthetic_market
from coinswarm.domain.costs import FillModel
from coinswarm.infra.journal import StoreJournal
from coinswarm.infra.storage import RunRecord, Store
from coinswarm.infra.storage.models import Base
from coinswarm.risk.settings import RiskSettings
from coinswarm.strategies import build_strategy
from integration.test_storage_postgres import SERVER, _admin

RUN = "run-golden"


def backtest_into(url: str, *, bulk: bool) -> None:
    market = [
        synthetic_market(instrument="SYN-USDT", bars=900, seed=7),
        synthetic_market(instrument="ALT-USDT", bars=900, seed=8),
    ]
    strategy, parameters = build_strategy("committee", {})
    config = BacktestConfig(
        parameters=parameters,
        risk=RiskSettings(phase=0).to_profile(),
        fill_model=FillModel(max_volume_share=Decimal("0.00002")),
        checkpoint_every=7,
    )
    with Store.open(url, upgrade=True) as store:
        store.create_run(
            RunRecord(
                run_id=RUN,
                mode="backtest",
                venue=f"simulated:{RUN}",
                strategy="committee",
                parameters=parameters,
                created_ts=0,
                updated_ts=0,
            )
        )
        journal = StoreJournal(store, RUN, bulk=bulk)
        run_backtest(market, strategy, config, journal=journal)
        assert journal.checkpoints_written > 100


def dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Return every row of every table, in primary-key order."""
    with Store.open(url) as store, store.engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def same_as_per_row(by_rows: str, in_bulk: str) -> None:
    backtest_into(by_rows, bulk=False)
    backtest_into(in_bulk, bulk=True)
    golden, written = dump(by_rows), dump(in_bulk)
    for table, rows in golden.items():
        assert written[table] == rows, table
    fills, orders = golden["fills"], golden["orders"]
    assert len(fills) > 2 * len(orders)  # partial fills, across checkpoints
    kinds = {row[4] for row in golden["risk_events"]}
    assert {"trim", "TRIP", "TOTAL_LOSS_STOP"} <= kinds  # the risk layer's doing too
    assert len(golden["audit_log"]) > 500


def test_bulk_checkpoints_equal_the_per_row_path_on_sqlite(tmp_path):
    same_as_per_row(f"sqlite:///{tmp_path / 'rows.db'}", f"sqlite:///{tmp_path / 'bulk.db'}")


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    admin, user = _admin()
    names = [f"coinswarm_test_{secrets.token_hex(6)}" for _ in range(2)]
    with admin:
        for name in names:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            first, second = (f"postgresql+psycopg://{user}@{SERVER}/{n}" for n in names)
            yield first, second
        finally:
            for name in names:
                admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_bulk_checkpoints_equal_the_per_row_path_on_postgresql(two_databases):
    same_as_per_row(*two_databases)
