"""The store: conversations and subscriptions on SQL, through SQLAlchemy Core (async)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain import ConversationInfo, Subscription
from bot.store.tables import conversations, subscriptions

# Hot-path statements, built once: SQLAlchemy then only binds the parameters.
_LIST_SUBSCRIPTIONS = (
    select(subscriptions)
    .where(subscriptions.c.conversation_ref == bindparam("conversation_ref"))
    .order_by(subscriptions.c.id)
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Store:
    """Persistent state; every method is one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def save_conversation(self, info: ConversationInfo) -> tuple[int, bool]:
        """Store or refresh a conversation and mark it active.

        Returns its id and whether it became active by this call (new, or back after an uninstall):
        a compare-and-set, so only one of several concurrent callers sees True.
        """
        now = utcnow()
        values = _conversation_values(info) | {"active": True, "updated_at": now}
        async with self.engine.begin() as connection:
            inserted = await connection.execute(
                self._insert(conversations)
                .values(**values, created_at=now)
                .on_conflict_do_nothing(index_elements=["channel_id", "conversation_id"])
                .returning(conversations.c.id)
            )
            row = inserted.first()
            if row is not None:
                return row.id, True
            reactivated = await _update_conversation(
                connection, info, values, conversations.c.active.is_(False)
            )
            if reactivated is not None:
                return reactivated, True
            refreshed = await _update_conversation(connection, info, values)
            if refreshed is None:  # deleted between our statements: cannot happen without deletes
                raise LookupError(f"conversation {info.key} vanished")
            return refreshed, False

    async def deactivate_conversation(self, channel_id: str, conversation_id: str) -> bool:
        """Mark a conversation inactive (the bot was removed); True if it was active."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(conversations)
                .where(
                    conversations.c.channel_id == channel_id,
                    conversations.c.conversation_id == conversation_id,
                    conversations.c.active.is_(True),
                )
                .values(active=False, updated_at=utcnow())
            )
            return bool(result.rowcount)

    async def conversation_active(self, channel_id: str, conversation_id: str) -> bool | None:
        """Whether a conversation is active; None if it is unknown."""
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(conversations.c.active).where(
                        conversations.c.channel_id == channel_id,
                        conversations.c.conversation_id == conversation_id,
                    )
                )
            ).first()
            return None if row is None else bool(row.active)

    async def add_subscription(
        self,
        conversation_ref: int,
        name_pattern: str,
        *,
        source: tuple[str, str] | None,
        tags: dict[str, str],
        created_by: str | None,
        created_by_name: str | None,
    ) -> tuple[Subscription, bool]:
        """Add a subscription unless the same one exists; returns it and whether it is new."""
        key = {
            "conversation_ref": conversation_ref,
            "name_pattern": name_pattern,
            "source_kind": source[0] if source else "",
            "source_name": source[1] if source else "",
            "tags": json.dumps(tags, sort_keys=True, ensure_ascii=False),
        }
        async with self.engine.begin() as connection:
            inserted = await connection.execute(
                self._insert(subscriptions)
                .values(
                    **key,
                    created_by=created_by,
                    created_by_name=created_by_name,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing()
                .returning(*subscriptions.c)
            )
            row = inserted.first()
            if row is not None:
                return _subscription(row), True
            existing = await connection.execute(
                select(subscriptions).where(
                    and_(*(subscriptions.c[name] == value for name, value in key.items()))
                )
            )
            return _subscription(existing.one()), False

    async def list_subscriptions(self, conversation_ref: int) -> list[Subscription]:
        """A conversation's subscriptions, oldest first."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                _LIST_SUBSCRIPTIONS, {"conversation_ref": conversation_ref}
            )
            return [_subscription(row) for row in rows]

    async def remove_subscriptions(
        self,
        conversation_ref: int,
        *,
        subscription_id: int | None = None,
        name_pattern: str | None = None,
    ) -> list[Subscription]:
        """Delete this conversation's subscription by id, or all with a pattern; returns them."""
        condition = (
            subscriptions.c.id == subscription_id
            if subscription_id is not None
            else subscriptions.c.name_pattern == name_pattern
        )
        async with self.engine.begin() as connection:
            rows = await connection.execute(
                delete(subscriptions)
                .where(subscriptions.c.conversation_ref == conversation_ref, condition)
                .returning(*subscriptions.c)
            )
            return sorted((_subscription(row) for row in rows), key=lambda s: s.id)


def _conversation_values(info: ConversationInfo) -> dict[str, Any]:
    return {
        "channel_id": info.channel_id,
        "conversation_id": info.conversation_id,
        "conversation_type": info.conversation_type,
        "tenant_id": info.tenant_id,
        "service_url": info.service_url,
        "name": info.name,
        "locale": info.locale,
        "reference": info.reference,
    }


async def _update_conversation(
    connection: AsyncConnection,
    info: ConversationInfo,
    values: dict[str, Any],
    *extra: Any,
) -> int | None:
    result = await connection.execute(
        update(conversations)
        .where(
            conversations.c.channel_id == info.channel_id,
            conversations.c.conversation_id == info.conversation_id,
            *extra,
        )
        .values(**values)
        .returning(conversations.c.id)
    )
    row = result.first()
    return None if row is None else int(row.id)


def _subscription(row: Row[Any]) -> Subscription:
    tags: dict[str, str] = json.loads(row.tags)
    return Subscription(
        id=row.id,
        conversation_ref=row.conversation_ref,
        name_pattern=row.name_pattern,
        source_kind=row.source_kind or None,
        source_name=row.source_name or None,
        tags=tags,
        created_by=row.created_by,
        created_by_name=row.created_by_name,
        created_at=row.created_at,
    )
