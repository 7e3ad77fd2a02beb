"""Keep the discovery loop: its runs, patterns, their lineage and scores, and the trial ledger.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

The `patterns` table of 0001 was a placeholder no command ever wrote (one row per pattern,
with a single parent and two score columns). It makes way for patterns held per discovery
run. Should a database hold rows in it anyway, they are kept under the name
`patterns_before_0003` rather than dropped.

Types are spelled here as the DDL they produce, as in 0001, so this file keeps meaning what it
meant when the models change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.BigInteger()
COUNT = sa.BigInteger()
RUN_ID = sa.String(128)
PATTERN_ID = sa.String(64)
LABEL = sa.String(32)
KEPT = "patterns_before_0003"


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=f"pk_{table}")


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"],
        ["evolution_runs.run_id"],
        name=f"fk_{table}_run_id_evolution_runs",
        ondelete="CASCADE",
    )


def _pattern_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id", column],
        ["patterns.run_id", "patterns.pattern_id"],
        name=f"fk_{table}_run_id_patterns",
        ondelete="CASCADE",
    )


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def _run_id() -> sa.Column[str]:
    return sa.Column("run_id", RUN_ID, nullable=False)


def upgrade() -> None:
    """Set the placeholder aside, then create the discovery tables."""
    _set_placeholder_aside()
    op.create_table(
        "evolution_runs",
        _run_id(),
        sa.Column("created_ns", TS, nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("status", LABEL, nullable=False),
        sa.Column("last_cycle", COUNT, nullable=True),
        sa.Column("state_json", sa.Text(), nullable=True),
        sa.Column("finished_ns", TS, nullable=True),
        _pk("evolution_runs", "run_id"),
    )
    op.create_table(
        "patterns",
        _run_id(),
        sa.Column("pattern_id", PATTERN_ID, nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("source", LABEL, nullable=False),
        sa.Column("status", LABEL, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("born_cycle", COUNT, nullable=False),
        sa.Column("retired_cycle", COUNT, nullable=True),
        _run_fk("patterns"),
        _pk("patterns", "run_id", "pattern_id"),
    )
    _index("patterns", "status", "run_id")
    _index("patterns", "pattern_id")
    op.create_table(
        "pattern_lineage",
        _run_id(),
        sa.Column("child_id", PATTERN_ID, nullable=False),
        sa.Column("parent_id", PATTERN_ID, nullable=False),
        _pattern_fk("pattern_lineage", "child_id"),
        _pk("pattern_lineage", "run_id", "child_id", "parent_id"),
    )
    _index("pattern_lineage", "child_id")
    _create_scores_and_trials()


def _create_scores_and_trials() -> None:
    op.create_table(
        "pattern_scores",
        _run_id(),
        sa.Column("pattern_id", PATTERN_ID, nullable=False),
        sa.Column("seq", COUNT, autoincrement=False, nullable=False),
        sa.Column("sample", sa.String(16), nullable=False),
        sa.Column("start_ns", TS, nullable=False),
        sa.Column("end_ns", TS, nullable=False),
        sa.Column("instruments", sa.Text(), nullable=False),
        sa.Column("timeframe", sa.String(16), nullable=False),
        sa.Column("cycle", COUNT, nullable=False),
        sa.Column("trades", COUNT, nullable=False),
        sa.Column("net_return", sa.Double(), nullable=False),
        sa.Column("sharpe", sa.Double(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        _pattern_fk("pattern_scores", "pattern_id"),
        _pk("pattern_scores", "run_id", "pattern_id", "seq"),
    )
    op.create_table(
        "evolution_trials",
        _run_id(),
        sa.Column("seq", COUNT, autoincrement=False, nullable=False),
        sa.Column("cycle", COUNT, nullable=False),
        sa.Column("kind", LABEL, nullable=False),
        sa.Column("pattern_id", PATTERN_ID, nullable=True),
        sa.Column("in_sample_sharpe", sa.Double(), nullable=False),
        sa.Column("out_of_sample_sharpe", sa.Double(), nullable=True),
        sa.Column("trades", COUNT, nullable=False),
        sa.Column("extras", sa.Text(), nullable=False),
        _run_fk("evolution_trials"),
        _pk("evolution_trials", "run_id", "seq"),
    )


def _set_placeholder_aside() -> None:
    held = op.get_bind().execute(sa.text("SELECT count(*) FROM patterns")).scalar_one()
    if not held:
        op.drop_table("patterns")
        return
    op.rename_table("patterns", KEPT)
    # PostgreSQL names a primary key's index in the schema's namespace: the new table's
    # `pk_patterns` would collide with it. SQLite's are private to their table.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {KEPT} RENAME CONSTRAINT pk_patterns TO pk_{KEPT}")


def downgrade() -> None:
    """Drop the discovery tables and bring the placeholder back, with any rows it kept."""
    for table in ("evolution_trials", "pattern_scores", "pattern_lineage", "patterns"):
        op.drop_table(table)
    op.drop_table("evolution_runs")
    if sa.inspect(op.get_bind()).has_table(KEPT):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {KEPT} RENAME CONSTRAINT pk_{KEPT} TO pk_patterns")
        op.rename_table(KEPT, "patterns")
        return
    op.create_table(
        "patterns",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("in_sample_score", sa.Double(), nullable=True),
        sa.Column("out_of_sample_score", sa.Double(), nullable=True),
        sa.Column("created_ts", TS, nullable=False),
        sa.Column("updated_ts", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["patterns.id"], name="fk_patterns_parent_id_patterns"
        ),
        _pk("patterns", "id"),
    )
