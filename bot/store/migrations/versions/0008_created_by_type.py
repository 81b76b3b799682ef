"""What registered a model version (Azure ML's ``systemData.createdByType``), and since when the bot
watches each source: its first poll announces the versions created since, so a version registered
while that poll runs is not taken for an old one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("created_by_type", sa.String(32), nullable=True))
    with op.batch_alter_table("registry_sources") as batch:
        batch.add_column(sa.Column("watched_since", Timestamp, nullable=True))
    op.execute("UPDATE registry_sources SET watched_since = baselined_at")
    with op.batch_alter_table("registry_sources") as batch:
        batch.alter_column("watched_since", existing_type=Timestamp, nullable=False)
        batch.alter_column("baselined_at", existing_type=Timestamp, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM registry_sources WHERE baselined_at IS NULL")
    with op.batch_alter_table("registry_sources") as batch:
        batch.alter_column("baselined_at", existing_type=Timestamp, nullable=False)
        batch.drop_column("watched_since")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("created_by_type")
