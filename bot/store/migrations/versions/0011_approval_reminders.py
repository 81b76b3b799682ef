"""Approval reminders: when the next reminder into a card's thread is due, its numbered claim,
and how many were posted. Requests asked for before this migration get no reminders.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("reminder_claimed_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("reminder_claims", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_index("ix_approvals_reminders", ["state", "next_reminder_at"])


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_index("ix_approvals_reminders")
        batch.drop_column("reminders_sent")
        batch.drop_column("reminder_claims")
        batch.drop_column("reminder_claimed_until")
        batch.drop_column("next_reminder_at")
