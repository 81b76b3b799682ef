"""The audit of refused chat commands (deploy, rollback, subscribe...): who asked, and why the
bot said no.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "command_audit",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("conversation_ref", Id, nullable=True),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("actor_name", sa.String(256), nullable=True),
        sa.Column("command", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_command_audit_conversation_ref", "command_audit", ["conversation_ref"])


def downgrade() -> None:
    op.drop_index("ix_command_audit_conversation_ref", "command_audit")
    op.drop_table("command_audit")
