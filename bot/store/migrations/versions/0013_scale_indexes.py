"""Indexes for a full store (issue #16, bench/scale.py): a model's versions by name without regard
to case, the subscriptions whose literal prefix a new version's name starts with, a conversation's
pending approvals by expiry, and only the cards that are behind their approval.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BEHIND = sa.text("shown_revision < card_revision")


def upgrade() -> None:
    op.create_index("ix_model_versions_name_lower", "model_versions", [sa.text("lower(name)")])
    op.create_index("ix_subscriptions_name_prefix", "subscriptions", ["name_prefix"])
    op.create_index(
        "ix_approvals_conversation_pending",
        "approvals",
        ["conversation_ref", "state", "expires_at"],
    )
    # The new index begins with the old one's columns: the old one would only cost writes.
    op.drop_index("ix_approvals_conversation_state", "approvals")
    op.create_index(
        "ix_approvals_card_behind",
        "approvals",
        ["id"],
        sqlite_where=BEHIND,
        postgresql_where=BEHIND,
    )
    # Its columns are compared with each other, which no index on them can look up.
    op.drop_index("ix_approvals_card_sync", "approvals")


def downgrade() -> None:
    op.create_index("ix_approvals_card_sync", "approvals", ["shown_revision", "card_revision"])
    op.drop_index("ix_approvals_card_behind", "approvals")
    op.create_index("ix_approvals_conversation_state", "approvals", ["conversation_ref", "state"])
    op.drop_index("ix_approvals_conversation_pending", "approvals")
    op.drop_index("ix_subscriptions_name_prefix", "subscriptions")
    op.drop_index("ix_model_versions_name_lower", "model_versions")
