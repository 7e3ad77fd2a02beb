"""Anchor the audit chain's head in each run's record.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Three nullable columns on `runs`: the sequence number and hash of the audit chain's newest
entry when the run last checkpointed or finished, and their HMAC when a key was set. Runs
stored before this migration have none; they anchor nothing until they write again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN of a nullable column works in place on SQLite too: no batch copy of `runs`.
    op.add_column("runs", sa.Column("audit_seq", sa.BigInteger(), nullable=True))
    op.add_column("runs", sa.Column("audit_hash", sa.String(64), nullable=True))
    op.add_column("runs", sa.Column("audit_mac", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("audit_mac")
        batch.drop_column("audit_hash")
        batch.drop_column("audit_seq")
