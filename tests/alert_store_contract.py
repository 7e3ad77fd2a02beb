"""The alerts' outbox in the store: the same tests on SQLite (unit) and PostgreSQL (integration).

A backend's test module imports these with `storage_contract`'s and defines `database_url`.
What is proved: an alert, its deliveries and its audit entry are written together; a claimed
row is nobody else's until its lease runs out; an attempt is settled once; failures are
audited; pending rows are made due again on restart; an 0003 database upgrades to 0004 and
back.
"""

from __future__ import annotations

import threading

from sqlalchemy import inspect, text

from coinswarm.infra import audit
from coinswarm.infra.storage import Store, current_revision, upgrade
from coinswarm.infra.storage.alert_records import (
    Alert,
    Attachment,
    DeliveryOutcome,
    DeliveryStatus,
    Severity,
)
from coinswarm.infra.storage.database import connect
from coinswarm.infra.storage.migrate import _config

__all__ = [
    "test_a_claimed_delivery_is_nobody_elses_until_its_lease_runs_out",
    "test_a_senders_round_settles_claims_and_says_when_to_come_back",
    "test_an_0003_database_upgrades_to_0004_and_back",
    "test_an_alert_its_deliveries_and_its_audit_entry_are_written_together",
    "test_an_attempt_is_settled_once_and_failures_are_audited",
    "test_pending_deliveries_are_due_again_on_restart",
    "test_two_senders_never_claim_the_same_delivery",
]

S = 1_000_000_000
T0 = 1_767_225_600 * S
LEASE = 30 * S


def an_alert(key: str = "risk:paper-1:TRIP", **more: object) -> Alert:
    values: dict[str, object] = {
        "rule": "risk",
        "severity": Severity.CRITICAL,
        "key": key,
        "title": "paper-1: trip",
        "text": "the breaker tripped",
        "ts_ns": T0 - 5,
        "run_id": "paper-1",
        "mode": "paper",
    }
    return Alert(**(values | more))  # type: ignore[arg-type]


def test_an_alert_its_deliveries_and_its_audit_entry_are_written_together(database_url: str):
    report = Attachment("pnl.csv", "text/csv", b"a,b\n1,2\n\x00\xff")
    with Store.open(database_url, upgrade=True) as store:
        ids = store.add_alerts(
            [
                (an_alert(), ["webhook", "email"]),
                (an_alert("k2", attachments=(report,)), ["email"]),
            ],
            now_ns=T0,
        )
        recent = store.recent_alerts(10)
        entries = [e for e in audit.entries(store.engine) if e.kind == "alert"]
        assert store.pending_deliveries() == 3
        assert store.pending_deliveries(["webhook"]) == 1
        assert store.alert_keys_since(T0) == [("risk:paper-1:TRIP", T0), ("k2", T0)]
        assert store.alert_keys_since(T0 + 1) == []
    assert [a.id for a in recent] == list(reversed(ids))
    newest, oldest = recent
    assert newest.alert.attachments == (report,)
    assert oldest.alert == an_alert()
    assert oldest.created_ns == T0
    assert [(d.channel, d.status, d.attempts) for d in oldest.deliveries] == [
        ("email", DeliveryStatus.PENDING, 0),
        ("webhook", DeliveryStatus.PENDING, 0),
    ]
    assert [e.data()["alert_id"] for e in entries] == ids
    assert entries[0].run_id == "paper-1"
    assert entries[0].data()["channels"] == ["webhook", "email"]
    assert entries[1].data()["attachments"] == ["pnl.csv"]  # the name, not the bytes


def test_a_claimed_delivery_is_nobody_elses_until_its_lease_runs_out(database_url: str):
    with Store.open(database_url, upgrade=True) as store:
        (alert_id,) = store.add_alerts([(an_alert(), ["webhook", "sms"])], now_ns=T0)
        assert store.claim_due(["webhook"], now_ns=T0 - 1, lease_ns=LEASE, limit=10) == []
        (claimed,) = store.claim_due(["webhook"], now_ns=T0, lease_ns=LEASE, limit=10)
        assert (claimed.alert_id, claimed.channel, claimed.attempts) == (alert_id, "webhook", 0)
        assert claimed.alert == an_alert()
        assert store.claim_due(["webhook"], now_ns=T0 + LEASE - 1, lease_ns=LEASE, limit=10) == []
        assert store.next_due_ns(["webhook"]) == T0 + LEASE
        assert store.next_due_ns(["sms"]) == T0
        assert store.next_due_ns(["telegram"]) is None
        # The sender died: once its lease ran out, the row is anyone's again.
        again = store.claim_due(["webhook"], now_ns=T0 + LEASE, lease_ns=LEASE, limit=10)
        assert [(d.alert_id, d.attempts) for d in again] == [(alert_id, 0)]
        store.release([(alert_id, "webhook")])
        assert store.next_due_ns(["webhook"]) == T0


def test_an_attempt_is_settled_once_and_failures_are_audited(database_url: str):
    with Store.open(database_url, upgrade=True) as store:
        (alert_id,) = store.add_alerts([(an_alert(), ["webhook"])], now_ns=T0)
        store.claim_due(["webhook"], now_ns=T0, lease_ns=LEASE, limit=1)
        failed = DeliveryOutcome(
            alert_id=alert_id, channel="webhook", attempts_before=0,
            error="webhook: HTTP 503", retry_at_ns=T0 + 2 * S,
        )  # fmt: skip
        store.settle([failed], now_ns=T0 + S)
        store.settle([failed], now_ns=T0 + S)  # the same attempt again: ignored
        assert store.claim_due(["webhook"], now_ns=T0 + S, lease_ns=LEASE, limit=1) == []
        (retry,) = store.claim_due(["webhook"], now_ns=T0 + 2 * S, lease_ns=LEASE, limit=1)
        assert retry.attempts == 1
        done = DeliveryOutcome(alert_id=alert_id, channel="webhook", attempts_before=1)
        store.settle([done, done], now_ns=T0 + 3 * S)
        (stored,) = store.recent_alerts(1)
        failures = [e for e in audit.entries(store.engine) if e.kind == "alert_failed"]
        assert store.pending_deliveries() == 0
        assert audit.verify(store.engine).ok
    (delivery,) = stored.deliveries
    assert delivery.status is DeliveryStatus.DELIVERED
    assert (delivery.attempts, delivery.delivered_ns) == (2, T0 + 3 * S)
    assert delivery.last_error == "webhook: HTTP 503"
    assert [e.data() for e in failures] == [
        {
            "alert_id": alert_id,
            "channel": "webhook",
            "attempt": 1,
            "error": "webhook: HTTP 503",
            "retry_at_ns": T0 + 2 * S,
            "rule": "risk",
            "key": "risk:paper-1:TRIP",
        }
    ]


def test_pending_deliveries_are_due_again_on_restart(database_url: str):
    with Store.open(database_url, upgrade=True) as store:
        ids = store.add_alerts(
            [(an_alert(), ["webhook"]), (an_alert("k2"), ["webhook"])], now_ns=T0
        )
        store.claim_due(["webhook"], now_ns=T0, lease_ns=LEASE, limit=2)
        late = [
            DeliveryOutcome(alert_id=i, channel="webhook", attempts_before=0, error="down",
                            retry_at_ns=T0 + 3600 * S)
            for i in ids
        ]  # fmt: skip
        store.settle(late[:1], now_ns=T0)  # the second stays leased, as if its sender died
        assert store.resume_pending(now_ns=T0 + S) == 2
        due = store.claim_due(["webhook"], now_ns=T0 + S, lease_ns=LEASE, limit=5)
        assert [d.alert_id for d in due] == ids[:1]  # the leased one waits for its lease


def test_two_senders_never_claim_the_same_delivery(database_url: str):
    with Store.open(database_url, upgrade=True) as first, Store.open(database_url) as second:
        pairs = [(an_alert(f"k{n}"), ["webhook"]) for n in range(60)]
        first.add_alerts(pairs, now_ns=T0)
        claimed: list[list[int]] = [[], []]
        barrier = threading.Barrier(2)

        def claim(store: Store, into: list[int]) -> None:
            barrier.wait()
            for _ in range(10):
                got = store.claim_due(["webhook"], now_ns=T0, lease_ns=LEASE, limit=4)
                into.extend(d.alert_id for d in got)

        threads = [
            threading.Thread(target=claim, args=(store, into))
            for store, into in zip((first, second), claimed, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    everything = claimed[0] + claimed[1]
    assert len(everything) == len(set(everything)) == 60


def _downgrade_to_0003(database_url: str) -> None:
    from alembic import command  # noqa: PLC0415 - only this test steps a migration back

    engine = connect(database_url)
    try:
        with engine.begin() as connection:
            command.downgrade(_config(connection), "0003")
    finally:
        engine.dispose()


def _tables(database_url: str) -> set[str]:
    engine = connect(database_url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_an_0003_database_upgrades_to_0004_and_back(database_url: str):
    assert upgrade(database_url, to="0003") == "0003"
    engine = connect(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO runs (id, mode, venue, strategy, parameters, inputs, status, "
                "ledger_events, created_ts, updated_ts) VALUES ('old-run', 'paper', 'sim', "
                "'sma', '{}', '{}', 'finished', 0, 1, 2)"
            )
        )
    engine.dispose()
    assert upgrade(database_url, to="0004") == "0004"
    with Store.open(database_url) as store:
        assert store.get_run("old-run") is not None
        store.add_alerts([(an_alert(), ["webhook"])], now_ns=T0)
    _downgrade_to_0003(database_url)
    assert current_revision(database_url) == "0003"
    assert not _tables(database_url) & {"alerts", "alert_deliveries"}
    assert "runs" in _tables(database_url)
    assert upgrade(database_url, to="0004") == "0004"
    with Store.open(database_url) as store:
        assert store.recent_alerts(5) == []
        assert store.get_run("old-run") is not None


def test_a_senders_round_settles_claims_and_says_when_to_come_back(database_url: str):
    with Store.open(database_url, upgrade=True) as store:
        ids = store.add_alerts(
            [(an_alert(f"k{n}"), ["webhook", "sms"]) for n in range(3)], now_ns=T0
        )
        free = {"webhook": 2, "sms": 1}
        claimed, next_due = store.sender_round(
            [], free, ["webhook", "sms"], now_ns=T0, lease_ns=LEASE
        )
        assert sorted((d.channel, d.alert_id) for d in claimed) == [
            ("sms", ids[0]), ("webhook", ids[0]), ("webhook", ids[1]),
        ]  # fmt: skip
        assert next_due is None  # every free slot was filled
        done = [
            DeliveryOutcome(alert_id=d.alert_id, channel=d.channel, attempts_before=0)
            for d in claimed
        ]
        claimed, next_due = store.sender_round(
            done, free, ["webhook", "sms"], now_ns=T0 + S, lease_ns=LEASE
        )
        assert sorted((d.channel, d.alert_id) for d in claimed) == [
            ("sms", ids[1]), ("webhook", ids[2]),
        ]  # fmt: skip
        assert next_due == T0  # a slot went unused: the third sms row has been due since T0
        assert store.pending_deliveries() == 3  # two leased, one sms still waiting
        claimed, next_due = store.sender_round(
            [], {"webhook": 2}, ["webhook", "sms"], now_ns=T0 + S, lease_ns=LEASE
        )
        assert claimed == []
        assert next_due == T0  # the sms row, due since T0 (its slot was not offered)
