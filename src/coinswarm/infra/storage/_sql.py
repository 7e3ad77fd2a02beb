"""Small statements the store needs on both backends."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, CursorResult, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from coinswarm.infra.storage.errors import StorageError
from coinswarm.infra.storage.models import Base, RunRow

__all__ = ["chunks", "insert_rows", "insert_unless_present", "next_ledger_seq", "reserve_ids"]

_T = TypeVar("_T")
CHUNK = 500  # ids per IN (...) list: well inside every backend's limit on bound parameters


def chunks(items: Iterable[_T]) -> Iterator[list[_T]]:
    """Yield `items` in lists of at most CHUNK, for IN (...) lists of bounded length."""
    it = iter(items)
    while chunk := list(islice(it, CHUNK)):
        yield chunk


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


def reserve_ids(connection: Connection, table: type[Base], count: int) -> Sequence[int]:
    """Return the ids the next `count` rows inserted into `table` would get, taken now.

    The rows are then inserted with these ids (`insert_rows`), as if numbered by the database:
    PostgreSQL's sequence hands them out (and skips them for anyone else); SQLite numbers a
    new row one past the table's largest id, which no other writer can change before this
    transaction ends (transactions begin IMMEDIATE).
    """
    name = table.__tablename__
    if connection.dialect.name == "postgresql":
        taken = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
        )
        return sorted(connection.execute(taken, {"table": name, "count": count}).scalars())
    column = table.__table__.c.id
    largest = int(connection.execute(select(func.coalesce(func.max(column), 0))).scalar_one())
    return range(largest + 1, largest + count + 1)


def insert_rows(connection: Connection, table: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (each naming the same columns) in their order, in one go.

    PostgreSQL takes them by COPY, many times faster than an INSERT per row or batches of
    them; elsewhere one executemany does. Either way each value goes through its column's
    type first (an `ExactDecimal` refuses a float), and rows without an id are numbered in
    the order given, as single inserts would be.
    """
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    from psycopg import sql  # noqa: PLC0415 - the PostgreSQL driver, loaded only for it

    columns = list(rows[0])
    kinds = table.__table__.c
    processors = [(name, kinds[name].type.bind_processor(connection.dialect)) for name in columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.__tablename__), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    driver = connection.connection.driver_connection
    assert driver is not None  # an open connection's
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    row[name] if process is None else process(row[name])
                    for name, process in processors
                ]
            )
