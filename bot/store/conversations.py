"""The conversations the bot is in: stored on every activity, activated on install, deactivated
on removal or when their tenant is no longer served."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.clock import utcnow
from bot.store.engine import dialect_insert
from bot.store.tables import conversations
from domain.records import ConversationInfo


class Conversations:
    """The conversations table; every method is one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = dialect_insert(engine)

    async def save(self, info: ConversationInfo) -> tuple[int, bool]:
        """Store or refresh a conversation and mark it active.

        Returns its id and whether it became active by this call (new, or back after an uninstall):
        a compare-and-set, so only one of several concurrent callers sees True.
        """
        now = utcnow()
        values = conversation_values(info) | {"active": True, "updated_at": now}
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

    async def deactivate_other_tenants(self, allowed: frozenset[str]) -> int:
        """Deactivate the conversations of tenants no longer served (stored before the tenant
        allow-list, or of a tenant the operator removed): they get no more cards. A tenant served
        again comes back with its next activity. How many were deactivated."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(conversations)
                .where(
                    conversations.c.active.is_(True),
                    or_(
                        conversations.c.tenant_id.is_(None),
                        func.lower(conversations.c.tenant_id).not_in(sorted(allowed)),
                    ),
                )
                .values(active=False, updated_at=utcnow())
            )
            return int(result.rowcount or 0)

    async def deactivate(self, channel_id: str, conversation_id: str) -> bool:
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


def conversation_values(info: ConversationInfo) -> dict[str, Any]:
    """The columns of a conversation (without its activity and times)."""
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
