"""Rows of the Coinswarm database: SQLAlchemy 2 declarative tables and nothing else.

These classes are storage rows, not domain objects: `repository` maps between the two
explicitly, so the domain never learns that a database exists. Money columns are
`ExactDecimal`; timestamps are UTC nanoseconds in BIGINT; free-form data is canonical JSON text.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coinswarm.infra.storage.types import ExactDecimal

__all__ = [
    "AlertDeliveryRow",
    "AlertRow",
    "AuditRow",
    "Base",
    "DepositRow",
    "EvolutionRunRow",
    "FillRow",
    "IntentRow",
    "LedgerSnapshotRow",
    "OrderRow",
    "OrderStateChangeRow",
    "PatternLineageRow",
    "PatternRow",
    "PatternScoreRow",
    "RiskEventRow",
    "RunRow",
    "SnapshotBalanceRow",
    "SnapshotPositionRow",
    "SnapshotRoundTripRow",
    "TrialRow",
    "VerdictRow",
    "VoteRow",
]

# Constraint names fixed by convention, so migrations name them the same on every backend.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(128)  # identifiers from exchanges and intents
NAME = String(64)
SYMBOL = String(32)
STATUS = String(32)


class Base(DeclarativeBase):
    """The declarative base holding every table's metadata."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        Decimal: ExactDecimal(),
        int: BigInteger(),
        str: Text(),
    }


def _run_fk() -> Mapped[str]:
    # No index of its own: each table using it leads a unique constraint or index with run_id.
    return mapped_column(NAME, ForeignKey("runs.id", ondelete="CASCADE"))


class RunRow(Base):
    """One backtest, paper, sandbox or live session."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(NAME, primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    venue: Mapped[str] = mapped_column(NAME)
    strategy: Mapped[str] = mapped_column(String(128))
    parameters: Mapped[str]
    inputs: Mapped[str]
    status: Mapped[str] = mapped_column(STATUS)
    # The number of ledger events (deposits and fills) so far: it orders their replay.
    ledger_events: Mapped[int] = mapped_column(default=0)
    created_ts: Mapped[int]
    updated_ts: Mapped[int]
    # The audit chain's head when the run last checkpointed or finished (`infra.audit_anchor`):
    # its sequence number, its hash and, with a key, their signature.
    audit_seq: Mapped[int | None]
    audit_hash: Mapped[str | None] = mapped_column(String(64))
    audit_mac: Mapped[str | None] = mapped_column(String(64))


class IntentRow(Base):
    """An order request claimed before it is sent, so that the same intent is sent once."""

    __tablename__ = "intents"

    run_id: Mapped[str] = mapped_column(
        NAME, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    client_order_id: Mapped[str] = mapped_column(ID, primary_key=True)
    request: Mapped[str]
    created_ts: Mapped[int]


class OrderRow(Base):
    """The latest known state of one order."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("run_id", "client_order_id"),
        Index(None, "run_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(NAME, ForeignKey("runs.id", ondelete="CASCADE"))
    client_order_id: Mapped[str] = mapped_column(ID)
    order_id: Mapped[str] = mapped_column(ID)
    instrument: Mapped[str] = mapped_column(SYMBOL)
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal | None]
    quote_quantity: Mapped[Decimal | None]
    limit_price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    time_in_force: Mapped[str] = mapped_column(String(8))
    expire_ts: Mapped[int | None]
    status: Mapped[str] = mapped_column(STATUS)
    filled_quantity: Mapped[Decimal]
    filled_quote: Mapped[Decimal]
    average_fill_price: Mapped[Decimal]
    fees: Mapped[Decimal]
    reject_reason: Mapped[str | None]
    triggered: Mapped[bool] = mapped_column(Boolean)
    created_ts: Mapped[int]
    updated_ts: Mapped[int]


class OrderStateChangeRow(Base):
    """One change of an order's status or filled quantity, in the order it happened."""

    __tablename__ = "order_state_changes"
    __table_args__ = (UniqueConstraint("order_pk", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_pk: Mapped[int] = mapped_column(Integer, ForeignKey("orders.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    ts: Mapped[int]
    from_status: Mapped[str | None] = mapped_column(STATUS)
    to_status: Mapped[str] = mapped_column(STATUS)
    filled_quantity: Mapped[Decimal]


class FillRow(Base):
    """One execution; a venue's trade id is stored once, whoever reports it."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("venue", "trade_id"),
        UniqueConstraint("run_id", "ledger_seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    ledger_seq: Mapped[int]
    order_pk: Mapped[int] = mapped_column(
        Integer, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    venue: Mapped[str] = mapped_column(NAME)
    trade_id: Mapped[str] = mapped_column(ID)
    order_id: Mapped[str] = mapped_column(ID)
    client_order_id: Mapped[str] = mapped_column(ID)
    instrument: Mapped[str] = mapped_column(SYMBOL)
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal]
    fee_currency: Mapped[str] = mapped_column(SYMBOL)
    ts: Mapped[int]
    liquidity: Mapped[str] = mapped_column(String(8))


class DepositRow(Base):
    """Cash moved into or out of a run's account from outside."""

    __tablename__ = "deposits"
    __table_args__ = (UniqueConstraint("run_id", "ledger_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    ledger_seq: Mapped[int]
    currency: Mapped[str] = mapped_column(SYMBOL)
    amount: Mapped[Decimal]
    ts: Mapped[int]
    reference: Mapped[str] = mapped_column(ID)


class LedgerSnapshotRow(Base):
    """The ledger's derived state after its first `event_count` events."""

    __tablename__ = "ledger_snapshots"
    __table_args__ = (Index(None, "run_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    ts: Mapped[int]
    event_count: Mapped[int]


def _snapshot_fk() -> Mapped[int]:
    return mapped_column(
        Integer, ForeignKey("ledger_snapshots.id", ondelete="CASCADE"), primary_key=True
    )


class SnapshotBalanceRow(Base):
    """Cash held, or fees paid, in one currency at a snapshot."""

    __tablename__ = "snapshot_balances"

    snapshot_id: Mapped[int] = _snapshot_fk()
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "cash" or "fee"
    currency: Mapped[str] = mapped_column(SYMBOL, primary_key=True)
    amount: Mapped[Decimal]


class SnapshotPositionRow(Base):
    """One instrument's position at a snapshot."""

    __tablename__ = "snapshot_positions"

    snapshot_id: Mapped[int] = _snapshot_fk()
    instrument: Mapped[str] = mapped_column(SYMBOL, primary_key=True)
    quantity: Mapped[Decimal]
    average_cost: Mapped[Decimal]
    realised_pnl: Mapped[Decimal]
    fees: Mapped[Decimal]


class SnapshotRoundTripRow(Base):
    """One closed round trip, in closing order, at a snapshot."""

    __tablename__ = "snapshot_round_trips"

    snapshot_id: Mapped[int] = _snapshot_fk()
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument: Mapped[str] = mapped_column(SYMBOL)
    entry_ts: Mapped[int]
    exit_ts: Mapped[int]
    quantity: Mapped[Decimal]
    entry_price: Mapped[Decimal]
    exit_price: Mapped[Decimal]
    pnl: Mapped[Decimal]
    fees: Mapped[Decimal]


class VerdictRow(Base):
    """What the committee decided on one instrument at one bar."""

    __tablename__ = "verdicts"
    __table_args__ = (Index(None, "run_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(NAME, ForeignKey("runs.id", ondelete="CASCADE"))
    instrument: Mapped[str] = mapped_column(SYMBOL)
    ts: Mapped[int]
    direction: Mapped[int] = mapped_column(SmallInteger)
    score: Mapped[float] = mapped_column(Double)
    size: Mapped[float] = mapped_column(Double)
    vetoed_by: Mapped[str]  # canonical JSON list of agent names
    reason: Mapped[str]


class VoteRow(Base):
    """One agent's vote inside a verdict, with the weight the committee gave it."""

    __tablename__ = "votes"

    verdict_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("verdicts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent: Mapped[str] = mapped_column(NAME)
    instrument: Mapped[str] = mapped_column(SYMBOL)
    direction: Mapped[int] = mapped_column(SmallInteger)
    confidence: Mapped[float] = mapped_column(Double)
    size_hint: Mapped[float] = mapped_column(Double)
    weight: Mapped[float] = mapped_column(Double)
    reason: Mapped[str]
    veto: Mapped[bool] = mapped_column(Boolean)


class RiskEventRow(Base):
    """A risk decision (approve, shrink, reject, block) or a breaker or kill-switch event."""

    __tablename__ = "risk_events"
    __table_args__ = (Index(None, "run_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(NAME, ForeignKey("runs.id", ondelete="CASCADE"))
    ts: Mapped[int]
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(STATUS)
    reason: Mapped[str]
    actor: Mapped[str | None] = mapped_column(NAME)
    client_order_id: Mapped[str | None] = mapped_column(ID)
    requested: Mapped[str | None]
    sent: Mapped[str | None]


class AuditRow(Base):
    """One entry of the append-only, hash-chained audit log."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ts: Mapped[int]
    kind: Mapped[str] = mapped_column(STATUS)
    actor: Mapped[str] = mapped_column(NAME)
    run_id: Mapped[str | None] = mapped_column(NAME)  # no foreign key: entries outlive runs
    payload: Mapped[str]  # canonical JSON, hashed byte for byte
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


# -- discovery (`coinswarm.evolution`) ----------------------------------------------------------

PATTERN_ID = NAME  # 16 hex digits today (`Pattern.id`); room if the id ever grows
LABEL = STATUS  # a trial's kind, a pattern's status: the loop's words, not an enum here


def _evolution_run_fk() -> Mapped[str]:
    return mapped_column(
        ID, ForeignKey("evolution_runs.run_id", ondelete="CASCADE"), primary_key=True
    )


class EvolutionRunRow(Base):
    """A discovery run: its configuration, and the state its last committed cycle left."""

    __tablename__ = "evolution_runs"

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    created_ns: Mapped[int]
    config_json: Mapped[str]  # the loop's JSON, opaque here
    status: Mapped[str] = mapped_column(STATUS)
    # NULL until cycle 0 commits; a resumed run starts at the cycle after it.
    last_cycle: Mapped[int | None]
    state_json: Mapped[str | None]
    finished_ns: Mapped[int | None]


class PatternRow(Base):
    """A pattern as one run holds it: its rule and provenance (canonical JSON), its standing."""

    __tablename__ = "patterns"
    __table_args__ = (Index(None, "status", "run_id"), Index(None, "pattern_id"))

    run_id: Mapped[str] = _evolution_run_fk()
    pattern_id: Mapped[str] = mapped_column(PATTERN_ID, primary_key=True)
    definition: Mapped[str]  # `Pattern.to_dict()` without its scores, canonical JSON
    source: Mapped[str] = mapped_column(LABEL)
    status: Mapped[str] = mapped_column(LABEL)
    reason: Mapped[str]
    born_cycle: Mapped[int]
    retired_cycle: Mapped[int | None]


class PatternLineageRow(Base):
    """One parent of a pattern in a run. The parent may be stored nowhere (a chaos trade's
    rule kept only as the ancestor), so only the child refers to a stored pattern."""

    __tablename__ = "pattern_lineage"
    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "child_id"], ["patterns.run_id", "patterns.pattern_id"], ondelete="CASCADE"
        ),
        Index(None, "child_id"),
    )

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    child_id: Mapped[str] = mapped_column(PATTERN_ID, primary_key=True)
    parent_id: Mapped[str] = mapped_column(PATTERN_ID, primary_key=True)


class PatternScoreRow(Base):
    """One score of a pattern in a run, numbered in the order received.

    The window (sample, times, instruments, timeframe, cycle) and the headline figures are
    columns, to filter and rank by in SQL; the other statistics are one JSON object, so that
    a statistic added to `Score` later needs no migration (and an unknown one read back by an
    older Coinswarm is refused by `Score.from_dict`, not dropped).
    """

    __tablename__ = "pattern_scores"
    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "pattern_id"],
            ["patterns.run_id", "patterns.pattern_id"],
            ondelete="CASCADE",
        ),
    )

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    pattern_id: Mapped[str] = mapped_column(PATTERN_ID, primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sample: Mapped[str] = mapped_column(String(16))
    start_ns: Mapped[int]
    end_ns: Mapped[int]
    instruments: Mapped[str]  # canonical JSON list
    timeframe: Mapped[str] = mapped_column(String(16))
    cycle: Mapped[int]
    trades: Mapped[int]
    net_return: Mapped[float] = mapped_column(Double)
    sharpe: Mapped[float] = mapped_column(Double)
    metrics: Mapped[str]  # canonical JSON: the rest of the score's fields


class TrialRow(Base):
    """One entry of a run's trial ledger, numbered densely from 0 across its cycles."""

    __tablename__ = "evolution_trials"

    run_id: Mapped[str] = _evolution_run_fk()
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    cycle: Mapped[int]
    kind: Mapped[str] = mapped_column(LABEL)
    # No foreign key: most trials are candidates that were never stored as patterns.
    pattern_id: Mapped[str | None] = mapped_column(PATTERN_ID)
    in_sample_sharpe: Mapped[float] = mapped_column(Double)
    out_of_sample_sharpe: Mapped[float | None] = mapped_column(Double)
    trades: Mapped[int]
    extras: Mapped[str]  # canonical JSON object


# -- alerts (`coinswarm.infra.alerts`) ----------------------------------------------------------


class AlertRow(Base):
    """An alert the engine raised (or a report it sends), kept whatever became of its sending.

    No foreign key to `runs`: the run may live in another database (a paper session's own
    file), and an alert outlives the run it is about.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index(None, "created_ns"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(LABEL)
    severity: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(255))
    title: Mapped[str]
    text: Mapped[str]
    run_id: Mapped[str | None] = mapped_column(ID)
    mode: Mapped[str | None] = mapped_column(String(16))
    ts_ns: Mapped[int]  # the event's clock (market time in a replay)
    created_ns: Mapped[int]  # the server's wall clock when it was raised
    attachments: Mapped[str]  # canonical JSON list of {filename, content_type, data (base64)}


class AlertDeliveryRow(Base):
    """One alert on one channel: the outbox row, written before the first attempt to send it.

    `next_attempt_ns` is when a failed delivery may be tried again; `lease_until_ns` is how
    long the sender that claimed it owns it, so two senders on one database never both send.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index(None, "status", "next_attempt_ns"),)

    alert_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(NAME, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    next_attempt_ns: Mapped[int]
    lease_until_ns: Mapped[int | None]
    last_error: Mapped[str | None]
    delivered_ns: Mapped[int | None]
    updated_ns: Mapped[int]
