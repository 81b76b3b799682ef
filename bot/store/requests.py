"""Deploy and rollback requests from chat: each becomes a pending approval in the conversation
that asked (or finds the one pending there), under that conversation's policy and target.

Every public method is one transaction. Model names compare without regard to case, as the
subscriptions match them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.approvals import new_approval_values
from bot.store.audit import audit_approval
from bot.store.clock import utcnow
from bot.store.releases import (
    current_deployment,
    from_source,
    named,
    previous_deployment,
    version_not_found,
)
from bot.store.rows import model_version
from bot.store.subscriptions import matching_conversations
from bot.store.tables import approvals, model_versions
from dialogs.approval import Person
from dialogs.policy import PolicyDefaults, resolve
from domain.policy import Policy, PolicyOverrides
from domain.records import ModelVersion
from domain.releases import ApprovalRequest, NoRollback, VersionNotFound
from domain.statuses import ApprovalState


class ReleaseRequests:
    """Deploy and rollback requests of models, as approvals."""

    def __init__(self, engine: AsyncEngine, defaults: PolicyDefaults) -> None:
        self.engine = engine
        self.defaults = defaults

    async def request_deploy(
        self,
        conversation_ref: int,
        name: str,
        version: str,
        *,
        source: tuple[str, str] | None,
        requester: Person | None,
    ) -> ApprovalRequest | VersionNotFound:
        """Ask this conversation to approve deploying a known version (the newest received,
        when several sources hold it), unless an approval of it is pending here already."""
        async with self.engine.begin() as connection:
            condition = [named(name), model_versions.c.version == version]
            if source is not None:
                condition.append(from_source(source))
            row = (
                await connection.execute(
                    select(model_versions)
                    .where(*condition)
                    .order_by(model_versions.c.received_at.desc(), model_versions.c.id.desc())
                    .limit(1)
                )
            ).first()
            if row is None:
                return await version_not_found(connection, name, version, source)
            return await self._request(
                connection, conversation_ref, row, "deploy", requester=requester
            )

    async def request_rollback(
        self, conversation_ref: int, name: str, *, requester: Person | None
    ) -> ApprovalRequest | NoRollback:
        """Ask this conversation to approve deploying again, with its own target and policy,
        the version that succeeded there before the one deployed there now (without a target
        here: before the latest successful deployment anywhere, to be approved only)."""
        async with self.engine.begin() as connection:
            latest = await current_deployment(connection, name)
            if latest is None:
                return NoRollback(name, None)
            # One policy and target for the whole request: those that cover what runs now.
            here = await self._policy_here(connection, conversation_ref, latest.version)
            target = here[1]
            current = (
                latest if target is None else await current_deployment(connection, name, target)
            )
            if current is None:
                return NoRollback(name, None, target)
            previous = await previous_deployment(connection, name, current)
            if previous is None:
                return NoRollback(name, current, target)
            row = (
                await connection.execute(
                    select(model_versions).where(model_versions.c.id == previous)
                )
            ).one()
            return await self._request(
                connection, conversation_ref, row, "rollback", requester=requester, here=here
            )

    async def card_posted(self, approval_id: int, activity_id: str) -> None:
        """The card of a requested approval is in Teams: the card sync updates it from now on.
        A card posted earlier keeps its place."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(approvals)
                .where(approvals.c.id == approval_id, approvals.c.activity_id.is_(None))
                .values(activity_id=activity_id)
            )

    async def _policy_here(
        self, connection: AsyncConnection, conversation_ref: int, version: ModelVersion
    ) -> tuple[Policy, str | None]:
        """The policy and target of this conversation's subscription to ``version`` (the
        defaults if none matches it)."""
        audience = (await matching_conversations(connection, version)).get(conversation_ref)
        return resolve(audience.policy if audience else PolicyOverrides(), self.defaults)

    async def _request(
        self,
        connection: AsyncConnection,
        conversation_ref: int,
        version_row: Row[Any],
        kind: str,
        *,
        requester: Person | None,
        here: tuple[Policy, str | None] | None = None,
    ) -> ApprovalRequest:
        """Ask for the approval of ``version_row`` here (or find the one pending), under the
        policy and target ``here`` (default: this conversation's for that version)."""
        # A write first, so that concurrent requests for this version wait for each other before
        # they look for a pending approval: a row lock on PostgreSQL, the write lock on SQLite.
        # (Not of the key: SQLite would check every table that refers to it.)
        await connection.execute(
            update(model_versions)
            .where(model_versions.c.id == version_row.id)
            .values(name=model_versions.c.name)
        )
        now = utcnow()
        pending = (
            await connection.execute(
                select(approvals.c.id, approvals.c.activity_id)
                .where(
                    approvals.c.conversation_ref == conversation_ref,
                    approvals.c.model_version_id == version_row.id,
                    approvals.c.state == ApprovalState.PENDING.value,
                    approvals.c.expires_at > now,
                )
                .order_by(approvals.c.id)
                .limit(1)
            )
        ).first()
        if pending is not None:
            return ApprovalRequest(pending.id, created=False, has_card=bool(pending.activity_id))
        policy, target = here or await self._policy_here(
            connection, conversation_ref, model_version(version_row._mapping)
        )
        values = new_approval_values(
            conversation_ref,
            version_row.id,
            policy,
            target,
            kind=kind,
            requested_by=requester,
            now=now,
        )
        approval_id = int(
            (
                await connection.execute(insert(approvals).values(values).returning(approvals.c.id))
            ).scalar_one()
        )
        await audit_approval(
            connection,
            approval_id,
            conversation_ref,
            actor=requester,
            action="request",
            detail=kind,
            at=now,
        )
        return ApprovalRequest(approval_id, created=True, has_card=False)
