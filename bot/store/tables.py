"""SQLAlchemy Core tables, created by the Alembic migrations in ``migrations/``.

Unique constraints carry the exactly-once rules; portable SQL only (SQLite now, PostgreSQL later).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# SQLite only autoincrements an INTEGER primary key; PostgreSQL gets a 64-bit identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_id", String(64), nullable=False),
    Column("conversation_id", String(512), nullable=False),
    Column("conversation_type", String(32), nullable=False),
    Column("tenant_id", String(64), nullable=True),
    Column("service_url", String(512), nullable=False),
    Column("name", String(512), nullable=True),
    Column("locale", String(32), nullable=True),
    # The SDK's ConversationReference as JSON: what a proactive message needs.
    Column("reference", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("channel_id", "conversation_id", name="uq_conversations_channel_conversation"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "conversation_ref",
        Id,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name_pattern", String(255), nullable=False),
    # The pattern's lower-cased text before its first wildcard: a cheap SQL pre-filter.
    Column("name_prefix", String(255), nullable=False),
    # '' when the subscription accepts every workspace and registry, so that the unique key holds.
    Column("source_kind", String(16), nullable=False),
    Column("source_name", String(64), nullable=False),
    # Canonical JSON (sorted keys) of the tag filters, '{}' for none.
    Column("tags", String(4096), nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("created_by_name", String(256), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The approval policy and deployment target; NULL takes the global default from the settings.
    Column("approvers", Text, nullable=True),
    Column("required_approvals", Integer, nullable=True),
    Column("expiry_hours", Integer, nullable=True),
    Column("target", String(128), nullable=True),
    UniqueConstraint(
        "conversation_ref",
        "name_pattern",
        "source_kind",
        "source_name",
        "tags",
        name="uq_subscriptions_filter",
    ),
)
# Matching a version looks its name's prefixes up here, not every subscription.
Index("ix_subscriptions_name_prefix", subscriptions.c.name_prefix)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source_kind", String(16), nullable=False),
    Column("source_name", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("version", String(128), nullable=False),
    Column("tags", Text, nullable=False),
    Column("properties", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("created_by", String(256), nullable=True),
    # Azure ML's systemData.createdByType: User, Application, ManagedIdentity or Key.
    Column("created_by_type", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=True),
    Column("source_id", String(512), nullable=True),
    # How we first heard of it: 'event' (Event Grid) or 'poll'.
    Column("received_via", String(16), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # Push, poll and redelivery of the same version are one version.
    UniqueConstraint(
        "source_kind", "source_name", "name", "version", name="uq_model_versions_identity"
    ),
)
# history, status, deploy and rollback find a model's versions by name, without regard to case.
Index("ix_model_versions_name_lower", func.lower(model_versions.c.name))

announcements = Table(
    "announcements",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "conversation_ref",
        Id,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "model_version_id",
        Id,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # queued -> sent, or dropped (conversation gone) / failed (refused for good).
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    # A sender's claim on the row until this time; another sender may take it after.
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    # How many claims the row has had: the number of the current one, renewed only by its holder.
    Column("claims", Integer, nullable=False, server_default="0"),
    Column("activity_id", String(256), nullable=True),
    Column("last_error", String(512), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    # One announcement per conversation and model version.
    UniqueConstraint("conversation_ref", "model_version_id", name="uq_announcements_once"),
)
Index("ix_announcements_due", announcements.c.status, announcements.c.next_attempt_at)

registry_sources = Table(
    "registry_sources",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source_kind", String(16), nullable=False),
    Column("source_name", String(64), nullable=False),
    # When the poller first tried to list the source: versions created since are announced.
    Column("watched_since", DateTime(timezone=True), nullable=False),
    # When its first poll recorded every version it found (None until then).
    Column("baselined_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("source_kind", "source_name", name="uq_registry_sources_identity"),
)

registry_watermarks = Table(
    "registry_watermarks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source_kind", String(16), nullable=False),
    Column("source_name", String(64), nullable=False),
    Column("model_name", String(255), nullable=False),
    # The container's latest version when its versions were last listed: text, not a number.
    Column("latest_version", String(128), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint(
        "source_kind", "source_name", "model_name", name="uq_registry_watermarks_model"
    ),
)

leases = Table(
    "leases",
    metadata,
    # A job only one replica may do at a time, e.g. "poller"; its holder renews it in time.
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

rate_bookings = Table(
    "rate_bookings",
    metadata,
    # One row per message to Teams, in the database's clock, while a window may still count it:
    # scope "app" for the app-wide limit, "conversation:<hash>" for the conversation's limits.
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("scope", String(48), nullable=False),
    Column("booked_at", DateTime(timezone=True), nullable=False),
)
Index("ix_rate_bookings_scope_booked_at", rate_bookings.c.scope, rate_bookings.c.booked_at)
Index("ix_rate_bookings_booked_at", rate_bookings.c.booked_at)  # the sweep of old bookings

approvals = Table(
    "approvals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "conversation_ref",
        Id,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "model_version_id",
        Id,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The announcement whose card asks for this approval; None for deploy and rollback requests.
    Column(
        "announcement_id",
        Id,
        ForeignKey("announcements.id", ondelete="CASCADE"),
        nullable=True,
        unique=True,
    ),
    # announce, deploy or rollback: why the approval was asked for.
    Column("kind", String(16), nullable=False),
    # pending -> approved | rejected | expired (dialogs/approval.py); every change bumps revision.
    Column("state", String(16), nullable=False),
    Column("revision", Integer, nullable=False),
    # The policy and deployment target that applied when the approval was asked for (JSON).
    Column("policy", Text, nullable=False),
    Column("target", String(128), nullable=True),
    Column("requested_by", String(256), nullable=True),
    Column("requested_by_name", String(256), nullable=True),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("rejected_by_name", String(256), nullable=True),
    Column("reason", Text, nullable=True),
    # The card in Teams: its activity id, and which card revision Teams shows (behind: update it).
    Column("activity_id", String(256), nullable=True),
    Column("card_revision", Integer, nullable=False),
    Column("shown_revision", Integer, nullable=False),
    Column("card_claimed_until", DateTime(timezone=True), nullable=True),
    # How many claims the card has had: the number of the current one (see announcements.claims).
    Column("card_claims", Integer, nullable=False, server_default="0"),
    # The next reminder into the card's thread (dialogs/reminders.py); None: no more. Claimed
    # like the card, numbered, so that a reminder is posted once by one replica.
    Column("next_reminder_at", DateTime(timezone=True), nullable=True),
    Column("reminder_claimed_until", DateTime(timezone=True), nullable=True),
    Column("reminder_claims", Integer, nullable=False, server_default="0"),
    Column("reminders_sent", Integer, nullable=False, server_default="0"),
)
Index("ix_approvals_state_expiry", approvals.c.state, approvals.c.expires_at)
Index("ix_approvals_reminders", approvals.c.state, approvals.c.next_reminder_at)
# A conversation's pending approvals, the soonest to expire first (the pending command).
Index(
    "ix_approvals_conversation_pending",
    approvals.c.conversation_ref,
    approvals.c.state,
    approvals.c.expires_at,
)
# The cards Teams shows behind their approval, a partial index: finding them reads only them.
_BEHIND = approvals.c.shown_revision < approvals.c.card_revision
Index("ix_approvals_card_behind", approvals.c.id, sqlite_where=_BEHIND, postgresql_where=_BEHIND)
Index("ix_approvals_requested_at", approvals.c.requested_at)

approval_votes = Table(
    "approval_votes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("approval_id", Id, ForeignKey("approvals.id", ondelete="CASCADE"), nullable=False),
    Column("voter_id", String(64), nullable=False),
    Column("voter_upn", String(256), nullable=True),
    Column("voter_name", String(256), nullable=True),
    Column("voted_at", DateTime(timezone=True), nullable=False),
    # One approval per person and request, however often they click.
    UniqueConstraint("approval_id", "voter_id", name="uq_approval_votes_once"),
)

approval_audit = Table(
    "approval_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "approval_id",
        Id,
        ForeignKey("approvals.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("conversation_ref", Id, nullable=True),
    Column("actor_id", String(64), nullable=True),
    Column("actor_name", String(256), nullable=True),
    # approve, reject, expire, or refused (with the refusal in detail)
    Column("action", String(16), nullable=False),
    Column("detail", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_approval_audit_at", approval_audit.c.at)  # the audit export by time

# Chat commands the bot refused (who asked what, and why not): the approval audit's counterpart
# for requests that never became an approval.
command_audit = Table(
    "command_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_ref", Id, nullable=True, index=True),
    Column("tenant_id", String(64), nullable=True),
    Column("actor_id", String(64), nullable=True),
    Column("actor_name", String(256), nullable=True),
    Column("command", String(32), nullable=False),
    # refused (the catalog key of the reason in detail)
    Column("action", String(16), nullable=False),
    Column("detail", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    # The model (and version) the command named, as typed, so that the audit of a model shows it.
    Column("model", String(255), nullable=True),
    Column("version", String(128), nullable=True),
)
Index("ix_command_audit_at", command_audit.c.at)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # One deployment per approval: reaching the quorum writes it in the same transaction.
    Column(
        "approval_id",
        Id,
        ForeignKey("approvals.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column(
        "model_version_id",
        Id,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # Our id for the run, carried by the run itself (release description, run name): the marker
    # that finds it again after a crash between "DevOps accepted" and "we recorded it".
    Column("deployment_key", String(64), nullable=False, unique=True),
    Column("target", String(128), nullable=False),
    Column("requested_by", String(512), nullable=False),
    # requested -> triggered -> finished (run_status says how), or error (DevOps refused for good)
    Column("status", String(16), nullable=False),
    Column("run_status", String(24), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    # How many claims the row has had: the number of the current one (see announcements.claims).
    Column("claims", Integer, nullable=False, server_default="0"),
    Column("run_id", BigInteger, nullable=True),
    Column("run_name", String(256), nullable=True),
    Column("web_url", String(1024), nullable=True),
    Column("logs_url", String(1024), nullable=True),
    Column("detail", String(512), nullable=True),
    Column("error_code", String(32), nullable=True),
    Column("last_error", String(512), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # The reply in the card's thread that gives the result: posted once.
    Column("result_reported", Boolean, nullable=False),
)
Index("ix_deployments_due", deployments.c.status, deployments.c.next_attempt_at)
Index("ix_deployments_created_at", deployments.c.created_at)
