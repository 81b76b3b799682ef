"""Rate bookings: the messages sent to Teams, shared by the replicas so that together they keep
Teams' limits per conversation and for the whole app.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_bookings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("scope", sa.String(48), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rate_bookings"),
    )
    op.create_index("ix_rate_bookings_scope_booked_at", "rate_bookings", ["scope", "booked_at"])
    op.create_index("ix_rate_bookings_booked_at", "rate_bookings", ["booked_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_bookings_booked_at", table_name="rate_bookings")
    op.drop_index("ix_rate_bookings_scope_booked_at", table_name="rate_bookings")
    op.drop_table("rate_bookings")
