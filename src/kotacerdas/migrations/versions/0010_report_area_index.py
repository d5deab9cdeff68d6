"""report: an index for the lists filtered by kecamatan

Revision ID: 0010_report_area_index
Revises: 0009_hub_aggregate_cache
Create Date: 2026-11-23 01:25:00

A list filtered by kecamatan (with or without category and state) read every report of the
category and state to find the kecamatan's: 9.5 ms for the count of a public list at 100,000
reports on SQLite, against under 1 ms with this index.
"""

from alembic import op

revision = "0010_report_area_index"
down_revision = "0009_hub_aggregate_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_region_area_category_state",
            ["region_id", "area_id", "category_id", "state", "submitted_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index("ix_report_region_area_category_state")
