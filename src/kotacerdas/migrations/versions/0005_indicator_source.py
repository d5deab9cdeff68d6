"""indicator.data_source: the citizen figure an indicator's realisations are computed from

Revision ID: 0005_indicator_source
Revises: 0004_citizen
Create Date: 2026-11-22 23:10:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0005_indicator_source"
down_revision = "0004_citizen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_source", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.drop_column("data_source")
