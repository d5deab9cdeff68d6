"""report: indexes for the verifiers' overdue list and filtered listings by category and state

Revision ID: 0007_report_list_indexes
Revises: 0006_hub_geo_rtree
Create Date: 2026-11-23 00:15:00
"""

from alembic import op

revision = "0007_report_list_indexes"
down_revision = "0006_hub_geo_rtree"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.create_index("ix_report_region_due", ["region_id", "due_at"], unique=False)
        batch_op.create_index(
            "ix_report_region_category_state_submitted",
            ["region_id", "category_id", "state", "submitted_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index("ix_report_region_category_state_submitted")
        batch_op.drop_index("ix_report_region_due")
