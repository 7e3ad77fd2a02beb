"""Keep the alerts and their outbox: each alert, and one delivery row per channel it goes to.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14

A delivery row is written in the same transaction as its alert, before anything is sent, and
stays `pending` until its channel took it: a server killed mid-send, or a channel down for
an hour, loses nothing. Types are spelled here as the DDL they produce, as in 0001 and 0003,
so this file keeps meaning what it meant when the models change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.BigInteger()
COUNT = sa.BigInteger()


def upgrade() -> None:
    """Create the alerts and the outbox of their deliveries."""
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=True),
        sa.Column("mode", sa.String(16), nullable=True),
        sa.Column("ts_ns", TS, nullable=False),
        sa.Column("created_ns", TS, nullable=False),
        sa.Column("attachments", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_created_ns", "alerts", ["created_ns"])
    op.create_table(
        "alert_deliveries",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", COUNT, nullable=False),
        sa.Column("next_attempt_ns", TS, nullable=False),
        sa.Column("lease_until_ns", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_ns", TS, nullable=True),
        sa.Column("updated_ns", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name="fk_alert_deliveries_alert_id_alerts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "channel", name="pk_alert_deliveries"),
    )
    op.create_index(
        "ix_alert_deliveries_status_next_attempt_ns",
        "alert_deliveries",
        ["status", "next_attempt_ns"],
    )


def downgrade() -> None:
    """Drop the outbox and the alerts (their audit entries stay in the audit log)."""
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
