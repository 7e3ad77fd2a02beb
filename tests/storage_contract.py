"""The storage contract: the same tests run against SQLite (unit) and PostgreSQL (integration).

A test module imports these functions and defines a `database_url` fixture for its backend;
each test gets an empty database of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from sqlalchemy import Engine, event, text

from coinswarm.agents.base import Direction, Vote
from coinswarm.agents.committee import Verdict
from coinswarm.domain.errors import IllegalTransitionError
from coinswarm.domain.fill import Fill
from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.infra import audit, audit_anchor
from coinswarm.infra.storage import (
    FillConflictError,
    LedgerMismatchError,
    RunExistsError,
    RunRecord,
    StorageError,
    Store,
    current_revision,
    head_revision,
    upgrade,
)
from coinswarm.infra.storage.batch import (
    Claimed,
    Deposited,
    Entry,
    Filled,
    Happened,
    Noted,
    Ordered,
)
from coinswarm.infra.storage.database import connect
from coinswarm.infra.storage.models import Base
from coinswarm.risk.circuit_breaker import BreakerEvent, BreakerEventKind
from coinswarm.risk.events import RiskNote
from coinswarm.risk.kill_switch import KillSwitchEvent, KillSwitchEventKind
from generators import INSTRUMENTS, START_NS, fill_sequences

__all__ = [
    "store",
    "test_a_bulk_checkpoint_refuses_what_the_per_row_methods_refuse",
    "test_a_bulk_checkpoint_writes_what_the_per_row_methods_write",
    "test_a_contradicting_fill_is_refused",
    "test_a_database_from_a_newer_migration_is_refused",
    "test_a_fill_and_its_order_change_commit_together",
    "test_a_fill_is_stored_once",
    "test_a_lost_fill_is_caught_by_the_snapshot",
    "test_a_store_refuses_an_empty_database_without_upgrade",
    "test_a_terminal_order_cannot_change",
    "test_audit_verify_detects_a_chain_rewritten_from_an_entry_on",
    "test_audit_verify_detects_a_deleted_entry",
    "test_audit_verify_detects_a_modified_entry",
    "test_audit_verify_detects_an_entry_rewritten_with_its_own_hash_recomputed",
    "test_audit_verify_detects_an_inserted_entry",
    "test_audit_verify_names_the_anchors_when_the_newest_entries_are_cut",
    "test_decimals_round_trip_exactly",
    "test_each_checkpoint_and_finish_anchors_the_run_at_the_chain_head",
    "test_every_order_state_change_is_kept",
    "test_killed_while_writing_a_fill_leaves_neither",
    "test_risk_decisions_and_events_round_trip",
    "test_runs_round_trip",
    "test_the_ledger_rebuilt_from_stored_fills_equals_the_snapshot",
    "test_the_same_intent_is_claimed_once",
    "test_upgrading_an_empty_database_matches_the_models",
    "test_verdicts_round_trip_with_their_votes",
]

BUY, SELL = OrderSide.BUY, OrderSide.SELL
SECOND = 1_000_000_000


# -- helpers -----------------------------------------------------------------------------------


def new_run(store: Store, run_id: str | None = None) -> str:
    run_id = run_id or f"run-{uuid.uuid4().hex[:8]}"
    store.create_run(
        RunRecord(
            run_id=run_id,
            mode="backtest",
            venue=f"simulated:{run_id}",
            strategy="sma-cross",
            parameters={"fast": 20, "slow": 50, "fee": Decimal("0.001")},
            inputs={"data": "BTC_USDT-1h.csv.gz"},
            created_ts=START_NS,
            updated_ts=START_NS,
        )
    )
    return run_id


def open_order(cid: str, quantity: str, side: OrderSide = BUY, ts: int = START_NS) -> Order:
    request = OrderRequest(
        client_order_id=cid, instrument="BTC-USDT", side=side, quantity=Decimal(quantity)
    )
    order = Order(f"O-{cid}", request, ts)
    order.accept(ts)
    return order


def fill_of(order: Order, trade_id: str, quantity: str, price: str, fee: str = "0.1") -> Fill:
    return Fill(
        trade_id=trade_id,
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        instrument=order.instrument,
        side=order.side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency="USDT",
        ts=order.updated_ts + SECOND,
    )


def filled(order: Order, fill: Fill) -> Order:
    """Return a copy of `order` with `fill` applied, as the engine holds it afterwards."""
    copy = order.snapshot()
    copy.apply_fill(fill)
    return copy


def raw(store: Store, sql: str, **params: object) -> None:
    """Run tampering SQL directly, past the audit log's append-only triggers."""
    with store.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
        else:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
        connection.execute(text(sql), params)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store.open(database_url, upgrade=True) as opened:
        yield opened


# -- migrations --------------------------------------------------------------------------------


def test_upgrading_an_empty_database_matches_the_models(database_url: str) -> None:
    assert current_revision(database_url) is None
    assert upgrade(database_url) == head_revision()
    assert current_revision(database_url) == head_revision()
    engine = connect(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
    assert upgrade(database_url) == head_revision()  # a second upgrade changes nothing


def test_a_store_refuses_an_empty_database_without_upgrade(database_url: str) -> None:
    with pytest.raises(StorageError, match="coinswarm db upgrade"):
        Store.open(database_url)


def test_a_database_from_a_newer_migration_is_refused(database_url: str) -> None:
    upgrade(database_url)
    engine = connect(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    for attempt in (lambda: Store.open(database_url, upgrade=True), lambda: upgrade(database_url)):
        with pytest.raises(StorageError, match=r"'9999_future', newer than this Coinswarm"):
            attempt()


# -- runs, intents, orders ---------------------------------------------------------------------


def test_runs_round_trip(store: Store) -> None:
    run_id = new_run(store)
    run = store.get_run(run_id)
    assert run is not None
    assert run.parameters == {"fast": 20, "slow": 50, "fee": "0.001"}
    assert run.status == "created"
    store.set_run_status(run_id, "finished", START_NS + SECOND)
    assert store.get_run(run_id) == replace(run, status="finished", updated_ts=START_NS + SECOND)
    with pytest.raises(RunExistsError, match=run_id):
        new_run(store, run_id)
    assert [r.run_id for r in store.runs()] == [run_id]


def test_the_same_intent_is_claimed_once(store: Store) -> None:
    run_id = new_run(store)
    order = open_order("intent-1", "0.5")
    assert store.claim_intent(run_id, order.request, START_NS) is True
    assert store.claim_intent(run_id, order.request, START_NS) is False
    assert store.open_intents(run_id) == [order.request]  # restart would find it (scenario 5)
    store.record_order(run_id, order)
    assert store.open_intents(run_id) == []


def test_every_order_state_change_is_kept(store: Store) -> None:
    run_id = new_run(store)
    request = OrderRequest(
        client_order_id="c1",
        instrument="BTC-USDT",
        side=BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("1.0"),
        limit_price=Decimal("30000.5"),
    )
    order = Order("O-c1", request, START_NS)
    assert store.record_order(run_id, order) is True
    assert store.record_order(run_id, order) is False  # nothing changed
    order.accept(START_NS + 1)
    store.record_order(run_id, order)
    for n, quantity in enumerate(("0.3", "0.7")):
        fill = fill_of(order, f"t{n}", quantity, "30000.5")
        order.apply_fill(fill)
        assert store.record_fill(run_id, fill, order) is True
    history = store.order_history(run_id, "c1")
    assert [(c.from_status, c.to_status, c.filled_quantity) for c in history] == [
        (None, "NEW", Decimal(0)),
        ("NEW", "OPEN", Decimal(0)),
        ("OPEN", "PARTIALLY_FILLED", Decimal("0.3")),
        ("PARTIALLY_FILLED", "FILLED", Decimal("1.0")),
    ]
    [stored] = store.orders(run_id)
    assert (stored.status, stored.filled_quantity, stored.request) == (
        OrderStatus.FILLED,
        Decimal("1.0"),
        request,
    )
    assert stored.average_fill_price == order.average_fill_price
    assert stored.fees == order.fees


def test_a_terminal_order_cannot_change(store: Store) -> None:
    run_id = new_run(store)
    order = open_order("c1", "1")
    store.record_order(run_id, order)
    stale = order.snapshot()
    order.cancel(START_NS + SECOND)
    store.record_order(run_id, order)
    with pytest.raises(IllegalTransitionError, match="final state"):
        store.record_order(run_id, stale)


# -- money and fills ---------------------------------------------------------------------------


EXACT = (
    "0.000000000000000000000000000001",
    "123456789012345678901234567890.123456789",
    "0.1",
    "0.10",
    "-42.000000001",
    "1E-12",
    "7",
)


def test_decimals_round_trip_exactly(store: Store) -> None:
    run_id = new_run(store)
    order = open_order("c1", "12345.678901234567890123")
    fill = fill_of(order, "t1", "0.000000000000123456789", "98765.4321098765432109876543", EXACT[0])
    after = filled(order, fill)
    store.record_fill(run_id, fill, after)
    [stored] = store.fills(run_id)
    assert stored == fill
    assert all(isinstance(v, Decimal) for v in (stored.quantity, stored.price, stored.fee))
    [stored_order] = store.orders(run_id)
    assert stored_order.request.quantity == Decimal("12345.678901234567890123")
    assert stored_order.average_fill_price == after.average_fill_price
    assert stored_order.filled_quote == after.filled_quote
    for n, amount in enumerate(EXACT):
        store.record_deposit(run_id, Deposit("USDT", Decimal(amount), START_NS + n))
    amounts = [e.amount for e in store.ledger_events(run_id) if isinstance(e, Deposit)]
    assert amounts == [Decimal(a) for a in EXACT]


def test_a_fill_is_stored_once(store: Store) -> None:
    run_id = new_run(store)
    order = open_order("c1", "1")
    fill = fill_of(order, "t1", "0.4", "30000")
    after = filled(order, fill)
    assert store.record_fill(run_id, fill, after) is True
    entries = audit.verify(store.engine).entries
    # The same trade from the websocket and again from REST: one row, nothing else written.
    assert store.record_fill(run_id, fill, after) is False
    assert store.fills(run_id) == [fill]
    assert audit.verify(store.engine).entries == entries
    assert len(store.order_history(run_id, "c1")) == 1  # adopted with its fill, one change


def test_a_contradicting_fill_is_refused(store: Store) -> None:
    run_id = new_run(store)
    order = open_order("c1", "1")
    fill = fill_of(order, "t1", "0.4", "30000")
    store.record_fill(run_id, fill, filled(order, fill))
    changed = replace(fill, price=Decimal("30001"))
    with pytest.raises(FillConflictError, match="trade t1"):
        store.record_fill(run_id, changed, filled(order, changed))
    assert store.fills(run_id) == [fill]


def _fail_on_order_change(conn, cursor, statement, parameters, context, executemany) -> None:
    if statement.lstrip().upper().startswith(("UPDATE ORDERS", "INSERT INTO ORDER_STATE_CHANGES")):
        raise RuntimeError("the database went away between the fill and its order")


def _listening(engine: Engine) -> None:
    event.listen(engine, "before_cursor_execute", _fail_on_order_change)


def test_a_fill_and_its_order_change_commit_together(store: Store) -> None:
    run_id = new_run(store)
    order = open_order("c1", "1")
    store.record_order(run_id, order)
    before = audit.verify(store.engine).entries
    fill = fill_of(order, "t1", "0.4", "30000")
    _listening(store.engine)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            store.record_fill(run_id, fill, filled(order, fill))
    finally:
        event.remove(store.engine, "before_cursor_execute", _fail_on_order_change)
    assert store.fills(run_id) == []
    assert [o.status for o in store.orders(run_id)] == [OrderStatus.OPEN]
    assert audit.verify(store.engine).entries == before
    assert store.record_fill(run_id, fill, filled(order, fill)) is True
    assert [o.status for o in store.orders(run_id)] == [OrderStatus.PARTIALLY_FILLED]


_CHILD = """
import sys
from decimal import Decimal
from coinswarm.infra.storage import Store
sys.path.insert(0, sys.argv[2])
from storage_contract import fill_of, filled, open_order
with Store.open(sys.argv[1]) as store:
    order = open_order("c1", "1")
    fill = fill_of(order, "t1", "0.4", "30000")
    store.record_fill(sys.argv[3], fill, filled(order, fill))
print("not killed")
"""


def test_killed_while_writing_a_fill_leaves_neither(store: Store, database_url: str) -> None:
    """Scenario 7: SIGKILL between the fill row and its order's change; then re-ingest."""
    run_id = new_run(store)
    order = open_order("c1", "1")
    store.record_order(run_id, order)
    tests = os.path.dirname(__file__)
    env = {**os.environ, "COINSWARM_CRASH_AT": "storage_after_fill_row"}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, database_url, tests, run_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert store.fills(run_id) == []
    assert [o.status for o in store.orders(run_id)] == [OrderStatus.OPEN]
    assert audit.verify(store.engine).ok
    fill = fill_of(order, "t1", "0.4", "30000")
    assert store.record_fill(run_id, fill, filled(order, fill)) is True
    assert store.record_fill(run_id, fill, filled(order, fill)) is False


# -- the ledger --------------------------------------------------------------------------------


def _store_live(store: Store, run_id: str, fills: list[Fill], ledger: Ledger) -> None:
    for fill in fills:
        request = OrderRequest(
            client_order_id=fill.client_order_id,
            instrument=fill.instrument,
            side=fill.side,
            quantity=fill.quantity,
        )
        order = Order(fill.order_id, request, fill.ts)
        order.accept(fill.ts)
        order.apply_fill(fill)
        assert ledger.record(fill) is True
        assert store.record_fill(run_id, fill, order) is True


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fills=fill_sequences(max_size=12))
def test_the_ledger_rebuilt_from_stored_fills_equals_the_snapshot(
    store: Store, fills: list[Fill]
) -> None:
    run_id = new_run(store)
    ledger = Ledger(INSTRUMENTS, "USDT")
    deposit = Deposit("USDT", Decimal(100_000), START_NS)
    ledger.deposit(deposit.currency, deposit.amount, deposit.ts)
    store.record_deposit(run_id, deposit)
    half = len(fills) // 2
    _store_live(store, run_id, fills[:half], ledger)
    store.save_snapshot(run_id, START_NS, ledger.state())
    _store_live(store, run_id, fills[half:], ledger)
    snapshot_id = store.save_snapshot(run_id, START_NS + SECOND, ledger.state())
    latest = store.latest_snapshot(run_id)
    assert latest is not None
    assert (latest.snapshot_id, latest.state) == (snapshot_id, ledger.state())
    rebuilt = Ledger.replay(store.ledger_events(run_id), INSTRUMENTS, "USDT")
    assert rebuilt.state() == latest.state
    assert store.restore_ledger(run_id, INSTRUMENTS, "USDT").state() == ledger.state()


def test_a_lost_fill_is_caught_by_the_snapshot(store: Store) -> None:
    run_id = new_run(store)
    ledger = Ledger(INSTRUMENTS, "USDT")
    order = open_order("c1", "1")
    fills = [fill_of(order, "t1", "0.4", "30000"), fill_of(order, "t2", "0.6", "30100")]
    _store_live(store, run_id, fills, ledger)
    store.save_snapshot(run_id, START_NS, ledger.state())
    raw(store, "UPDATE fills SET price = '30100' WHERE trade_id = 't1'")
    with pytest.raises(LedgerMismatchError, match="differs from the last snapshot"):
        store.restore_ledger(run_id, INSTRUMENTS, "USDT")
    raw(store, "DELETE FROM fills WHERE trade_id = 't2'")
    with pytest.raises(LedgerMismatchError, match="events were lost"):
        store.restore_ledger(run_id, INSTRUMENTS, "USDT")


# -- decisions ---------------------------------------------------------------------------------


def test_verdicts_round_trip_with_their_votes(store: Store) -> None:
    run_id = new_run(store)
    votes = (
        Vote("trend", "BTC-USDT", Direction.BUY, 0.8, 0.5, "fast above slow"),
        Vote("risk", "BTC-USDT", Direction.HOLD, 1.0, 0.0, "volatility", veto=True),
        Vote("mean", "BTC-USDT", Direction.SELL, 0.1 + 0.2, 1.0, "rsi 71"),
    )
    verdicts = [
        Verdict("BTC-USDT", START_NS, Direction.HOLD, 0.1234567890123, 0.0, votes,
                (0.5, 0.61, 1 / 3), ("risk",), "buy vetoed by risk"),
        Verdict("ETH-USDT", START_NS, Direction.HOLD, 0.0, 0.0, (), (), (), "no quorum"),
    ]  # fmt: skip
    assert store.record_verdicts(run_id, verdicts) == 2
    assert store.verdicts(run_id) == verdicts


def test_risk_decisions_and_events_round_trip(store: Store) -> None:
    run_id = new_run(store)
    note = RiskNote("shrunk", "25% cap", "BUY MARKET 1 BTC GTC", "BUY MARKET 0.25 BTC GTC")
    store.record_risk_note(run_id, note, ts=START_NS, client_order_id="c1")
    trip = BreakerEvent(ts=START_NS + 1, kind=BreakerEventKind.TRIP, reason="10% in 60 s")
    stop = KillSwitchEvent(
        ts=START_NS + 2, kind=KillSwitchEventKind.MANUAL_STOP, reason="going home", by="ada"
    )
    reset = KillSwitchEvent(
        ts=START_NS + 3, kind=KillSwitchEventKind.RESET, reason="checked", by="ada"
    )
    for event_ in (trip, stop, reset):
        store.record_risk_event(run_id, event_)
    store.record_config_change(
        ts=START_NS + 4, actor="ada", changes={"max_position": {"from": "0.25", "to": "0.05"}}
    )
    records = store.risk_events(run_id)
    assert [(r.source, r.kind, r.actor) for r in records] == [
        ("oversight", "shrunk", "system"),
        ("breaker", "TRIP", None),
        ("kill_switch", "MANUAL_STOP", "ada"),
        ("kill_switch", "RESET", "ada"),
    ]
    assert (records[0].requested, records[0].sent) == (note.requested, note.sent)
    kinds = [(e.kind, e.actor) for e in audit.entries(store.engine)]
    assert kinds[-5:] == [
        ("risk_decision", "system"),
        ("risk_event", "system"),
        ("manual_stop", "ada"),
        ("reset", "ada"),
        ("config_change", "ada"),
    ]


# -- the audit log under tampering -------------------------------------------------------------


def _audited(store: Store, count: int) -> None:
    new_run(store)  # one entry
    for n in range(count - 1):
        store.record_config_change(ts=START_NS + n, actor="ada", changes={"n": n})
    assert audit.verify(store.engine).entries == count


def test_audit_verify_detects_a_modified_entry(store: Store) -> None:
    _audited(store, 6)
    raw(store, "UPDATE audit_log SET payload = :payload WHERE seq = 4", payload='{"n":99}')
    report = audit.verify(store.engine)
    assert not report.ok
    assert report.first_broken is not None
    assert (report.first_broken.seq, report.entries) == (4, 3)
    assert "modified" in report.first_broken.reason


def test_audit_verify_detects_a_deleted_entry(store: Store) -> None:
    _audited(store, 6)
    raw(store, "DELETE FROM audit_log WHERE seq = 3")
    report = audit.verify(store.engine)
    assert report.first_broken is not None
    assert report.first_broken.seq == 3
    assert "deleted" in report.first_broken.reason
    assert "broken at entry 3" in str(report)


def test_audit_verify_detects_an_inserted_entry(store: Store) -> None:
    """Insert a well-formed entry after 3 and renumber the rest, as a careful forger would."""
    _audited(store, 6)
    for seq in (6, 5, 4):  # from the end, so no two rows ever share a number
        raw(store, "UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    [third] = [e for e in audit.entries(store.engine) if e.seq == 3]
    forged_payload = '{"n":"forged"}'
    forged = audit.entry_hash(
        third.hash, seq=4, ts=third.ts, kind="config_change", actor="mallory", run_id=None,
        payload=forged_payload,
    )  # fmt: skip
    raw(
        store,
        "INSERT INTO audit_log (seq, ts, kind, actor, run_id, payload, prev_hash, hash) "
        "VALUES (4, :ts, 'config_change', 'mallory', NULL, :payload, :prev, :hash)",
        ts=third.ts,
        payload=forged_payload,
        prev=third.hash,
        hash=forged,
    )
    report = audit.verify(store.engine)
    assert report.first_broken is not None
    assert report.first_broken.seq == 5  # the renumbered old entry 4 no longer fits
    assert report.entries == 4


def _anchored(store: Store, count: int) -> str:
    """Write `count` entries, the last one a run's finish, which anchors the run there."""
    run_id = new_run(store)
    for n in range(count - 2):
        store.record_config_change(ts=START_NS + n, actor="ada", changes={"n": n})
    store.delete_run(new_run(store), ts=START_NS, actor="ada")  # no anchor: it is gone
    store.set_run_status(run_id, "finished", START_NS + SECOND)
    assert audit.verify(store.engine).entries == count + 1
    return run_id


def _rewrite(store: Store, seq: int, payload: str, *, relink: bool) -> None:
    """Replace entry `seq`'s payload and recompute its hash; with `relink`, every later one's too.

    Without `relink` the entries after it keep pointing at its old hash: only the check of
    each entry's link to the one before catches that.
    """
    prev_hash = next(e.prev_hash for e in audit.entries(store.engine) if e.seq == seq)
    for entry in audit.entries(store.engine, since=seq - 1):
        body = payload if entry.seq == seq else entry.payload
        digest = audit.entry_hash(
            prev_hash, seq=entry.seq, ts=entry.ts, kind=entry.kind, actor=entry.actor,
            run_id=entry.run_id, payload=body,
        )  # fmt: skip
        raw(
            store,
            "UPDATE audit_log SET payload = :payload, prev_hash = :prev, hash = :hash "
            "WHERE seq = :seq",
            payload=body,
            prev=prev_hash,
            hash=digest,
            seq=entry.seq,
        )
        if not relink:
            return
        prev_hash = digest


def test_each_checkpoint_and_finish_anchors_the_run_at_the_chain_head(store: Store) -> None:
    run_id = _anchored(store, 5)
    head = audit.verify(store.engine)
    report = audit_anchor.verify(store.engine)
    assert report.ok, report.lines()
    held = {c.where: c.anchor for c in report.anchors}
    assert held[f"run {run_id}"] == audit_anchor.Anchor(head.entries, head.tip_hash)
    [file] = [c for c in report.anchors if c.where.startswith("anchor file")]
    assert file.anchor == audit_anchor.Anchor(head.entries, head.tip_hash)
    assert len(report.anchors) == 2  # the file and the one run left
    assert report.lines()[-1].startswith("anchors agree: anchor file ")


def test_audit_verify_names_the_anchors_when_the_newest_entries_are_cut(store: Store) -> None:
    run_id = _anchored(store, 6)  # entries 1 to 7, anchored at 7
    raw(store, "DELETE FROM audit_log WHERE seq > 5")
    assert audit.verify(store.engine).ok  # the chain alone cannot tell
    report = audit_anchor.verify(store.engine)
    assert not report.ok
    cut = "it anchors entry 7, but the chain ends at entry 5: its newest 2 entries were cut"
    problems = {c.where.partition(" ")[0]: c.problem for c in report.disagreements}
    assert problems == {"anchor": cut, "run": cut}
    assert f"run {run_id} disagrees: {cut}" in report.lines()
    with pytest.raises(audit_anchor.AuditMismatchError, match=r"anchor file .* newest 2 entries"):
        audit_anchor.require_intact(store.engine, "resume")


def test_audit_verify_detects_a_chain_rewritten_from_an_entry_on(store: Store) -> None:
    """Rewrite entry 3 and recompute every later hash: a chain that holds, but not the one
    its anchors saw."""
    _anchored(store, 6)
    _rewrite(store, 3, '{"n":"forged"}', relink=True)
    assert audit.verify(store.engine).ok
    report = audit_anchor.verify(store.engine)
    assert len(report.disagreements) == 2
    for check in report.disagreements:
        assert check.problem is not None
        assert "it anchors entry 7 with hash" in check.problem
        assert check.problem.endswith("the chain was rewritten")


def test_audit_verify_detects_an_entry_rewritten_with_its_own_hash_recomputed(
    store: Store,
) -> None:
    """Entry 4's hash matches its new contents; entry 5 still links to its old hash."""
    _anchored(store, 6)
    _rewrite(store, 4, '{"n":"forged"}', relink=False)
    report = audit.verify(store.engine)
    assert report.first_broken is not None
    assert (report.first_broken.seq, report.entries) == (5, 4)
    assert "prev_hash" in report.first_broken.reason
    assert not audit_anchor.verify(store.engine).ok


# -- checkpoints in bulk -----------------------------------------------------------------------


def _checkpoints() -> list[list[Entry]]:
    """Return two checkpoints' events touching every case the bulk writer has to get right.

    A claimed order placed, filled in two parts (one in the next checkpoint, on a row stored
    by the first), a fill reported twice, an order adopted through its fill alone, a refused
    order, a deposit, risk decisions and events in between.
    """
    first = open_order("c1", "1")
    part = fill_of(first, "t1", "0.4", "100")
    after_part = filled(first, part)
    rest = fill_of(after_part, "t2", "0.6", "101")
    done = filled(after_part, rest)
    adopted = open_order("c2", "2", side=SELL)
    stranger = fill_of(adopted, "t3", "2", "99")
    refused = Order("LOCAL-REJECT-1", open_order("c3", "5").request, START_NS)
    refused.reject("too big", START_NS)
    note = RiskNote("shrunk", "25% cap", "BUY MARKET 2 BTC GTC", "BUY MARKET 1 BTC GTC")
    trip = BreakerEvent(ts=START_NS + 5, kind=BreakerEventKind.TRIP, reason="10% in 60 s")
    stop = KillSwitchEvent(
        ts=START_NS + 6, kind=KillSwitchEventKind.MANUAL_STOP, reason="lunch", by="ada"
    )
    return [
        [
            Deposited(Deposit("USDT", Decimal(10_000), START_NS, "initial cash")),
            Noted("c1", note, START_NS),
            Claimed(first.request, START_NS),
            Ordered(first),
            Filled(part, after_part),
            Filled(part, after_part),  # the same trade again: changes nothing
            Noted("c3", RiskNote("rejected", "too big", "BUY MARKET 5 BTC GTC", None), START_NS),
            Ordered(refused),
            Happened(trip),
        ],
        [
            Filled(rest, done),
            Ordered(done),  # no change: no history row, no audit entry
            Filled(stranger, filled(adopted, stranger)),
            Deposited(Deposit("USDT", Decimal("-1.5"), START_NS + 9, "withdrawal")),
            Happened(stop),
        ],
    ]


def _write_each(store: Store, run_id: str, entries: list[Entry]) -> None:
    with store.transaction():
        for entry in entries:
            if isinstance(entry, Ordered):
                store.record_order(run_id, entry.order)
            elif isinstance(entry, Filled):
                store.record_fill(run_id, entry.fill, entry.order)
            elif isinstance(entry, Claimed):
                store.claim_intent(run_id, entry.request, entry.ts)
            elif isinstance(entry, Noted):
                store.record_risk_note(
                    run_id, entry.note, ts=entry.ts, client_order_id=entry.client_order_id
                )
            elif isinstance(entry, Happened):
                store.record_risk_event(run_id, entry.event)
            else:
                store.record_deposit(run_id, entry.deposit)


def _held(store: Store, run_id: str) -> tuple[object, ...]:
    orders = store.orders(run_id)
    histories = [store.order_history(run_id, o.client_order_id) for o in orders]
    entries = [  # the run's id is in its venue's name, which payloads name
        (e.ts, e.kind, e.actor, e.payload.replace(run_id, "RUN"))
        for e in audit.entries(store.engine)
        if e.run_id == run_id
    ]
    return (
        [(o.order_id, o.status, o.filled_quantity, o.updated_ts) for o in orders],
        histories,
        store.fills(run_id),
        store.ledger_events(run_id),
        store.risk_events(run_id),
        store.open_intents(run_id),
        entries,
    )


def test_a_bulk_checkpoint_writes_what_the_per_row_methods_write(store: Store) -> None:
    by_rows, in_bulk = new_run(store, "by-rows"), new_run(store, "in-bulk")
    for entries in _checkpoints():
        _write_each(store, by_rows, entries)
        store.write_batch(in_bulk, entries)
    held = _held(store, in_bulk)
    assert held == _held(store, by_rows)
    orders, histories, fills, events, risk, _, entries = held
    assert [o[1] for o in orders] == ["FILLED", "REJECTED", "FILLED"]
    assert [len(h) for h in histories] == [3, 1, 1]  # placed, part, rest; refused; adopted
    assert [f.trade_id for f in fills] == ["t1", "t2", "t3"]
    assert len(events) == 5  # two deposits and three fills share one ledger sequence
    assert [r.kind for r in risk] == ["shrunk", "rejected", "TRIP", "MANUAL_STOP"]
    assert len(entries) == 15  # the run, then every change, fill, deposit and risk record
    assert audit.verify(store.engine).ok


def test_a_bulk_checkpoint_refuses_what_the_per_row_methods_refuse(store: Store) -> None:
    run_id = new_run(store)
    [first, _] = _checkpoints()
    store.write_batch(run_id, first)
    before = _held(store, run_id)
    order = store.orders(run_id)[0]
    [part] = store.fills(run_id)[:1]
    other = replace(part, price=part.price + 1)
    with pytest.raises(FillConflictError):
        store.write_batch(run_id, [Ordered(order), Filled(other, filled(order, other))])
    cancelled = order.snapshot()
    cancelled.status = OrderStatus.CANCELLED
    refilled = open_order("c3", "5")  # the refused order's client id, now with another id
    with pytest.raises(StorageError):
        store.write_batch(run_id, [Ordered(cancelled), Ordered(refilled)])
    assert _held(store, run_id) == before  # nothing of a refused checkpoint is stored
