"""The audit trail: every step of an approval (requests, votes, refusals, expiry) and every refused
chat command is written down, with who and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.clock import utcnow
from bot.store.tables import approval_audit, command_audit
from dialogs.approval import Person


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

    async def refused(
        self,
        asker: Asker,
        command: str,
        reason: str,
        subject: tuple[str | None, str | None] = (None, None),
    ) -> None:
        """``asker``'s ``command`` was refused; ``reason`` is the catalog key that told them,
        ``subject`` the model and version the command named."""
        model, version = subject
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
                    model=model[:255] if model else None,
                    version=version[:128] if version else None,
                )
            )


async def audit_approval(
    connection: AsyncConnection,
    approval_id: int,
    conversation_ref: int | None,
    *,
    actor: Person | None,
    action: str,
    detail: str | None,
    at: datetime,
) -> None:
    """Write one step of an approval, in the transaction that made it."""
    await connection.execute(
        insert(approval_audit).values(
            approval_id=approval_id,
            conversation_ref=conversation_ref,
            actor_id=actor.object_id if actor else None,
            actor_name=actor.name if actor else None,
            action=action,
            detail=detail,
            at=at,
        )
    )
