"""The audit of refused chat commands: every "no" the bot says to a request is written down."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.repository import utcnow
from bot.store.tables import command_audit


@dataclass(frozen=True)
class Asker:
    """Who sent a command, as the Teams channel says, and from where."""

    object_id: str | None
    name: str | None
    tenant_id: str | None
    conversation_ref: int | None


class CommandAudit:
    """Writes one row per refused command."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def refused(self, asker: Asker, command: str, reason: str) -> None:
        """``asker``'s ``command`` was refused; ``reason`` is the catalog key that told them."""
        async with self.engine.begin() as connection:
            await connection.execute(
                insert(command_audit).values(
                    conversation_ref=asker.conversation_ref,
                    tenant_id=asker.tenant_id,
                    actor_id=asker.object_id,
                    actor_name=(asker.name or "")[:256] or None,
                    command=command[:32],
                    action="refused",
                    detail=reason,
                    at=utcnow(),
                )
            )
