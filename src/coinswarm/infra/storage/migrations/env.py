"""Alembic environment: migrate the connection `migrate.py` hands over, with our metadata."""

from __future__ import annotations

from alembic import context

from coinswarm.infra.storage.models import Base

_config = context.config
_connection = _config.attributes["connection"]

context.configure(
    connection=_connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=_connection.dialect.name == "sqlite",
    compare_type=True,
    # SQLite can roll DDL back too (our connections begin real transactions): a process killed
    # halfway through a migration leaves the database as it was, not half built.
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
