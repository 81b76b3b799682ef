"""The audit trail can be read back: a refused command keeps the model (and version) it named,
and the audit export by time finds its rows by index.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_approval_audit_at", "approval_audit", "at"),
    ("ix_command_audit_at", "command_audit", "at"),
    ("ix_approvals_requested_at", "approvals", "requested_at"),
    ("ix_deployments_created_at", "deployments", "created_at"),
)


def upgrade() -> None:
    with op.batch_alter_table("command_audit") as batch:
        batch.add_column(sa.Column("model", sa.String(255), nullable=True))
        batch.add_column(sa.Column("version", sa.String(128), nullable=True))
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in INDEXES:
        op.drop_index(name, table)
    with op.batch_alter_table("command_audit") as batch:
        batch.drop_column("version")
        batch.drop_column("model")
