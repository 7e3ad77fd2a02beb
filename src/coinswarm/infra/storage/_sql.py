"""Small statements the store needs on both backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from coinswarm.infra.storage.errors import StorageError
from coinswarm.infra.storage.models import Base, RunRow

__all__ = ["insert_numbered", "insert_unless_present", "next_ledger_seq"]


def insert_unless_present(session: Session, table: type[Base], values: dict[str, object]) -> bool:
    """Insert a row unless one with the same unique key exists; return True if inserted.

    `ON CONFLICT DO NOTHING` settles a race between two writers in the database itself, where
    a read-then-insert would let both see no row and both insert.
    """
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing()
        # Row counts of INSERTs are only kept when asked for (psycopg reports -1 otherwise).
        .execution_options(preserve_rowcount=True)
    )
    # Through the session's connection: the ORM's insert path costs more and adds nothing here.
    result = cast("CursorResult[object]", session.connection().execute(statement))
    return result.rowcount == 1


def next_ledger_seq(session: Session, run_id: str) -> int:
    """Return the next ledger event number of a run, taking it in this transaction.

    The counter lives on the run's row, so deposits and fills share one sequence and two
    writers queue on the row lock instead of taking the same number.
    """
    statement = (
        update(RunRow)
        .where(RunRow.id == run_id)
        .values(ledger_events=RunRow.ledger_events + 1)
        .returning(RunRow.ledger_events)
        .execution_options(synchronize_session=False)
    )
    seq = session.execute(statement).scalar_one_or_none()
    if seq is None:
        msg = f"expected a stored run {run_id!r}, found none; create the run first"
        raise StorageError(msg)
    return int(seq)


def insert_numbered(
    connection: Connection, table: type[Base], rows: Sequence[dict[str, Any]]
) -> Sequence[int]:
    """Insert `rows` in one statement and return the ids the database gave them, in order.

    PostgreSQL says which (RETURNING, in the rows' order). SQLite numbers a new row one past
    the table's largest id, so rows inserted by one writer (transactions begin IMMEDIATE) get
    the next ids in turn; asking for them back would cost more than the insert itself.
    """
    column = table.__table__.c.id
    if connection.dialect.name != "sqlite":
        statement = insert(table).returning(column, sort_by_parameter_order=True)
        return connection.execute(statement, rows).scalars().all()
    largest = select(func.coalesce(func.max(column), 0))
    before = int(connection.execute(largest).scalar_one())
    connection.execute(insert(table), rows)
    after = int(connection.execute(largest).scalar_one())
    if after != before + len(rows):
        name, last = table.__tablename__, before + len(rows)
        msg = f"{name}: expected new ids {before + 1} to {last}, found the largest at {after}"
        raise StorageError(msg)
    return range(before + 1, after + 1)
