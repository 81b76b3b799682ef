"""The poller's durable state: baselined sources and a watermark per model.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "registry_sources",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_name", sa.String(64), nullable=False),
        sa.Column("baselined_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_sources"),
        sa.UniqueConstraint("source_kind", "source_name", name="uq_registry_sources_identity"),
    )
    op.create_table(
        "registry_watermarks",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_name", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("latest_version", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_watermarks"),
        sa.UniqueConstraint(
            "source_kind", "source_name", "model_name", name="uq_registry_watermarks_model"
        ),
    )


def downgrade() -> None:
    op.drop_table("registry_watermarks")
    op.drop_table("registry_sources")
