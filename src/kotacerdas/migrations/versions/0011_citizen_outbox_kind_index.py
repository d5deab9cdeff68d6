"""citizen_outbox: the pending index knows each row's kind

Revision ID: 0011_citizen_outbox_kind_index
Revises: 0010_report_area_index
Create Date: 2026-11-23 04:00:00

Without an SMTP server, e-mails wait in the outbox (they go out once one is configured) while
webhooks are sent. Every poll of the citizen worker then counted the waiting e-mails and looked for
a due webhook past all of them, reading each row for its kind: work that grew with the backlog, on
every poll, for as long as SMTP stayed unset. With the kind in the index, both are index ranges.
The index replaces the one without the kind (one index to keep up on every filing, not two).
"""

from alembic import op

revision = "0011_citizen_outbox_kind_index"
down_revision = "0010_report_area_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("citizen_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_citizen_outbox_pending")
        batch_op.create_index(
            "ix_citizen_outbox_pending", ["sent_at", "dead", "kind", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("citizen_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_citizen_outbox_pending")
        batch_op.create_index(
            "ix_citizen_outbox_pending", ["sent_at", "dead", "next_attempt_at"], unique=False
        )
