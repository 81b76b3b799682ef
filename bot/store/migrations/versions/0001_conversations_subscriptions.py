"""Conversations (with their proactive reference) and subscriptions.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(512), nullable=False),
        sa.Column("conversation_type", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("service_url", sa.String(512), nullable=False),
        sa.Column("name", sa.String(512), nullable=True),
        sa.Column("locale", sa.String(32), nullable=True),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        sa.UniqueConstraint(
            "channel_id", "conversation_id", name="uq_conversations_channel_conversation"
        ),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("conversation_ref", Id, nullable=False),
        sa.Column("name_pattern", sa.String(255), nullable=False),
        sa.Column("name_prefix", sa.String(255), nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_name", sa.String(64), nullable=False),
        sa.Column("tags", sa.String(4096), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_by_name", sa.String(256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.ForeignKeyConstraint(
            ["conversation_ref"],
            ["conversations.id"],
            name="fk_subscriptions_conversation_ref_conversations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "conversation_ref",
            "name_pattern",
            "source_kind",
            "source_name",
            "tags",
            name="uq_subscriptions_filter",
        ),
    )
    op.create_index("ix_subscriptions_conversation_ref", "subscriptions", ["conversation_ref"])


def downgrade() -> None:
    op.drop_index("ix_subscriptions_conversation_ref", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("conversations")
