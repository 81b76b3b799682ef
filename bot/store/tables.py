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
