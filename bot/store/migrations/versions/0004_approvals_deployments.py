"""Approvals (with votes and an audit trail), deployments, and the policy of a subscription.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    for column in (
        sa.Column("approvers", sa.Text(), nullable=True),
        sa.Column("required_approvals", sa.Integer(), nullable=True),
        sa.Column("expiry_hours", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(128), nullable=True),
    ):
        op.add_column("subscriptions", column)
    _create_approvals()
    _create_votes_and_audit()
    _create_deployments()


def _create_approvals() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("conversation_ref", Id, nullable=False),
        sa.Column("model_version_id", Id, nullable=False),
        sa.Column("announcement_id", Id, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("target", sa.String(128), nullable=True),
        sa.Column("requested_by", sa.String(256), nullable=True),
        sa.Column("requested_by_name", sa.String(256), nullable=True),
        sa.Column("requested_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("decided_at", When, nullable=True),
        sa.Column("rejected_by_name", sa.String(256), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("activity_id", sa.String(256), nullable=True),
        sa.Column("card_revision", sa.Integer(), nullable=False),
        sa.Column("shown_revision", sa.Integer(), nullable=False),
        sa.Column("card_claimed_until", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.ForeignKeyConstraint(
            ["conversation_ref"],
            ["conversations.id"],
            name="fk_approvals_conversation_ref_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_approvals_model_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name="fk_approvals_announcement_id_announcements",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("announcement_id", name="uq_approvals_announcement_id"),
    )
    op.create_index("ix_approvals_state_expiry", "approvals", ["state", "expires_at"])
    op.create_index("ix_approvals_conversation_state", "approvals", ["conversation_ref", "state"])
    op.create_index("ix_approvals_card_sync", "approvals", ["shown_revision", "card_revision"])


def _create_votes_and_audit() -> None:
    op.create_table(
        "approval_votes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("approval_id", Id, nullable=False),
        sa.Column("voter_id", sa.String(64), nullable=False),
        sa.Column("voter_upn", sa.String(256), nullable=True),
        sa.Column("voter_name", sa.String(256), nullable=True),
        sa.Column("voted_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approval_votes"),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name="fk_approval_votes_approval_id_approvals",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("approval_id", "voter_id", name="uq_approval_votes_once"),
    )
    op.create_table(
        "approval_audit",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("approval_id", Id, nullable=False),
        sa.Column("conversation_ref", Id, nullable=True),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("actor_name", sa.String(256), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approval_audit"),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name="fk_approval_audit_approval_id_approvals",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_approval_audit_approval_id", "approval_audit", ["approval_id"])


def _create_deployments() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("approval_id", Id, nullable=False),
        sa.Column("model_version_id", Id, nullable=False),
        sa.Column("deployment_key", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("requested_by", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_status", sa.String(24), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When, nullable=False),
        sa.Column("claimed_until", When, nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("run_name", sa.String(256), nullable=True),
        sa.Column("web_url", sa.String(1024), nullable=True),
        sa.Column("logs_url", sa.String(1024), nullable=True),
        sa.Column("detail", sa.String(512), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("finished_at", When, nullable=True),
        sa.Column("result_reported", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name="fk_deployments_approval_id_approvals",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_deployments_model_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("approval_id", name="uq_deployments_approval_id"),
        sa.UniqueConstraint("deployment_key", name="uq_deployments_deployment_key"),
    )
    op.create_index("ix_deployments_due", "deployments", ["status", "next_attempt_at"])
    op.create_index("ix_deployments_model_version_id", "deployments", ["model_version_id"])


def downgrade() -> None:
    op.drop_table("deployments")
    op.drop_table("approval_audit")
    op.drop_table("approval_votes")
    op.drop_table("approvals")
    for name in ("target", "expiry_hours", "required_approvals", "approvers"):
        with op.batch_alter_table("subscriptions") as batch:
            batch.drop_column(name)
