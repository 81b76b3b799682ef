"""Claims are numbered, an announcement's and an approval card's: a sender renews its claim right
before it posts, and only if no other sender claimed the row since (its claim ran out while it
waited).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("announcements") as batch:
        batch.add_column(sa.Column("claims", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("card_claims", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("card_claims")
    with op.batch_alter_table("announcements") as batch:
        batch.drop_column("claims")
