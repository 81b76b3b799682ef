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
    UniqueConstraint(
        "conversation_ref",
        "name_pattern",
        "source_kind",
        "source_name",
        "tags",
        name="uq_subscriptions_filter",
    ),
)

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
    # When the poller first recorded every existing version of the source, without announcing.
    Column("baselined_at", DateTime(timezone=True), nullable=False),
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
