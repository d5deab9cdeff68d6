"""hub: a cache of per-period aggregates of the history, and the epochs that invalidate it

Revision ID: 0009_hub_aggregate_cache
Revises: 0008_report_public_index
Create Date: 2026-11-23 01:30:00

An hourly average over 30 days of one-minute history read 43,200 history rows' JSON (250 ms on
SQLite); with the periods' aggregates kept and checked against an index-only stamp of the rows, a
repeated query reads the stamp and the cached rows (kotacerdas.hub.aggregate_cache).
"""

from alembic import op
import sqlalchemy as sa

revision = "0009_hub_aggregate_cache"
down_revision = "0008_report_public_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_aggregate_cache",
        sa.Column("entity_pk", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("query_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("period_us", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("phase", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("stamp_count", sa.BigInteger(), nullable=False),
        sa.Column("stamp_high", sa.BigInteger(), nullable=False),
        sa.Column("stamp_low", sa.BigInteger(), nullable=False),
        sa.Column("stats", sa.Text(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_hub_aggregate_cache_region_id_region"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "entity_pk", "query_key", "period_us", "phase", "start", name=op.f("pk_hub_aggregate_cache")
        ),
    )
    with op.batch_alter_table("hub_aggregate_cache", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hub_aggregate_cache_region_id"), ["region_id"], unique=False)
    op.create_table(
        "hub_aggregate_epoch",
        sa.Column("entity_pk", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("entity_pk", name=op.f("pk_hub_aggregate_epoch")),
    )


def downgrade() -> None:
    op.drop_table("hub_aggregate_epoch")
    with op.batch_alter_table("hub_aggregate_cache", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_aggregate_cache_region_id"))
    op.drop_table("hub_aggregate_cache")
