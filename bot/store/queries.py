"""What chat commands ask about a model's releases: its history in a conversation, what is
deployed now, and requests to deploy a version or roll back, which become approvals.

Every public method is one transaction. Model names compare without regard to case, as the
subscriptions match them.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.approvals import aware, deployment_record
from bot.store.repository import (
    _matching_conversations,  # the rule that picks a conversation's subscription, shared
    model_version,
    new_approval_values,
    utcnow,
)
from bot.store.tables import (
    announcements,
    approval_audit,
    approval_votes,
    approvals,
    deployments,
    model_versions,
)
from dialogs.approval import Person
from dialogs.policy import PolicyDefaults, policy_from_json, resolve
from domain.policy import Policy, PolicyOverrides
from domain.records import DeploymentRecord, ModelVersion
from domain.releases import (
    ApprovalRequest,
    DecisionSummary,
    Deployed,
    ModelStatus,
    NoRollback,
    VersionHistory,
    VersionNotFound,
)
from domain.statuses import DEPLOYED, ApprovalState, RunStatus

HISTORY_LIMIT = 15
# Per version in the history, newest first: enough to tell the story, small enough for a card.
DECISIONS_PER_VERSION = 5
DEPLOYMENTS_PER_VERSION = 5
MAX_SUGGESTIONS = 3
MAX_KNOWN_VERSIONS = 5
# How many model names the closest-name suggestion compares with, at most.
MAX_NAMES_COMPARED = 5000


class ModelReleases:
    """History, status and deploy or rollback requests of models."""

    def __init__(self, engine: AsyncEngine, defaults: PolicyDefaults) -> None:
        self.engine = engine
        self.defaults = defaults

    async def history(self, conversation_ref: int, name: str) -> list[VersionHistory]:
        """The newest versions of a model announced or requested in this conversation (at most
        :data:`HISTORY_LIMIT`), each with its approvals here and all its deployments."""
        here = or_(
            model_versions.c.id.in_(
                select(approvals.c.model_version_id).where(
                    approvals.c.conversation_ref == conversation_ref
                )
            ),
            model_versions.c.id.in_(
                select(announcements.c.model_version_id).where(
                    announcements.c.conversation_ref == conversation_ref
                )
            ),
        )
        newest = func.coalesce(model_versions.c.created_at, model_versions.c.received_at)
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(model_versions)
                    .where(_named(name), here)
                    .order_by(newest.desc(), model_versions.c.id.desc())
                    .limit(HISTORY_LIMIT)
                )
            ).all()
            ids = [row.id for row in rows]
            decisions = await _decisions(connection, conversation_ref, ids)
            runs = await _deployments_of(connection, ids)
        return [
            VersionHistory(
                model_version(row._mapping),
                tuple(decisions.get(row.id, ())[:DECISIONS_PER_VERSION]),
                tuple(runs.get(row.id, ())[:DEPLOYMENTS_PER_VERSION]),
            )
            for row in rows
        ]

    async def status(self, name: str) -> ModelStatus:
        """The model's latest successful deployment in any conversation, and the newest one
        after it that is still running or failed."""
        async with self.engine.connect() as connection:
            current = await _current(connection, name)
            newer = await _newer_than(connection, name, current)
        return ModelStatus(current, newer)

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
            condition = [_named(name), model_versions.c.version == version]
            if source is not None:
                condition.append(_from_source(source))
            row = (
                await connection.execute(
                    select(model_versions)
                    .where(*condition)
                    .order_by(model_versions.c.received_at.desc(), model_versions.c.id.desc())
                    .limit(1)
                )
            ).first()
            if row is None:
                return await _not_found(connection, name, version, source)
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
            latest = await _current(connection, name)
            if latest is None:
                return NoRollback(name, None)
            # One policy and target for the whole request: those that cover what runs now.
            here = await self._policy_here(connection, conversation_ref, latest.version)
            target = here[1]
            current = latest if target is None else await _current(connection, name, target)
            if current is None:
                return NoRollback(name, None, target)
            previous = await _previous(connection, name, current)
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
        audience = (await _matching_conversations(connection, version)).get(conversation_ref)
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
        await connection.execute(
            insert(approval_audit).values(
                approval_id=approval_id,
                conversation_ref=conversation_ref,
                actor_id=requester.object_id if requester else None,
                actor_name=requester.name if requester else None,
                action="request",
                detail=kind,
                at=now,
            )
        )
        return ApprovalRequest(approval_id, created=True, has_card=False)


def _named(name: str) -> ColumnElement[bool]:
    return func.lower(model_versions.c.name) == name.lower()


def _from_source(source: tuple[str, str]) -> ColumnElement[bool]:
    return and_(
        model_versions.c.source_kind == source[0],
        func.lower(model_versions.c.source_name) == source[1].lower(),
    )


def _ended() -> ColumnElement[datetime]:
    """When a deployment ended (or last changed, for rows without an end time): what "latest"
    orders by."""
    return func.coalesce(deployments.c.finished_at, deployments.c.updated_at)


def _deployed_query() -> Any:
    return select(
        deployments, *(c.label(f"mv_{c.name}") for c in model_versions.c if c.name != "id")
    ).join(model_versions, model_versions.c.id == deployments.c.model_version_id)


def _deployed(row: Row[Any]) -> Deployed:
    version = model_version({k[3:]: v for k, v in row._mapping.items() if k.startswith("mv_")})
    ended = aware(row.finished_at or row.updated_at)
    return Deployed(version, row.model_version_id, deployment_record(row), ended)


async def _current(
    connection: AsyncConnection, name: str, target: str | None = None
) -> Deployed | None:
    """The latest successful deployment of the model (to ``target``, if given)."""
    condition = [_named(name), deployments.c.run_status.in_(DEPLOYED)]
    if target is not None:
        condition.append(deployments.c.target == target)
    row = (
        await connection.execute(
            _deployed_query()
            .where(*condition)
            .order_by(_ended().desc(), deployments.c.id.desc())
            .limit(1)
        )
    ).first()
    return _deployed(row) if row else None


async def _newer_than(
    connection: AsyncConnection, name: str, current: Deployed | None
) -> Deployed | None:
    condition = [
        _named(name),
        or_(deployments.c.run_status.is_(None), deployments.c.run_status.not_in(DEPLOYED)),
    ]
    if current is not None:
        condition.append(deployments.c.id > current.deployment.id)
    row = (
        await connection.execute(
            _deployed_query().where(*condition).order_by(deployments.c.id.desc()).limit(1)
        )
    ).first()
    return _deployed(row) if row else None


async def _previous(connection: AsyncConnection, name: str, current: Deployed) -> int | None:
    """The version of the last fully successful deployment to the current one's target that
    ended before it, of another version than the current one."""
    ended = current.ended_at
    return await connection.scalar(
        select(deployments.c.model_version_id)
        .join(model_versions, model_versions.c.id == deployments.c.model_version_id)
        .where(
            _named(name),
            deployments.c.run_status == RunStatus.SUCCEEDED,
            deployments.c.target == current.deployment.target,
            deployments.c.model_version_id != current.version_id,
            or_(
                _ended() < ended, and_(_ended() == ended, deployments.c.id < current.deployment.id)
            ),
        )
        .order_by(_ended().desc(), deployments.c.id.desc())
        .limit(1)
    )


async def _decisions(
    connection: AsyncConnection, conversation_ref: int, version_ids: list[int]
) -> dict[int, list[DecisionSummary]]:
    rows = (
        await connection.execute(
            select(approvals)
            .where(
                approvals.c.conversation_ref == conversation_ref,
                approvals.c.model_version_id.in_(version_ids),
            )
            .order_by(approvals.c.id.desc())
        )
    ).all()
    voters: dict[int, list[str]] = {}
    votes = await connection.execute(
        select(approval_votes)
        .where(approval_votes.c.approval_id.in_([row.id for row in rows]))
        .order_by(approval_votes.c.voted_at, approval_votes.c.id)
    )
    for vote in votes:
        voters.setdefault(vote.approval_id, []).append(vote.voter_name or vote.voter_id)
    found: dict[int, list[DecisionSummary]] = {}
    for row in rows:
        found.setdefault(row.model_version_id, []).append(
            DecisionSummary(
                approval_id=row.id,
                kind=row.kind,
                state=ApprovalState(row.state),
                required=policy_from_json(row.policy).required_approvals,
                approved_by=tuple(voters.get(row.id, ())),
                rejected_by=row.rejected_by_name,
                reason=row.reason,
                requested_by=row.requested_by_name,
                requested_at=aware(row.requested_at),
                expires_at=aware(row.expires_at),
                decided_at=aware(row.decided_at),
            )
        )
    return found


async def _deployments_of(
    connection: AsyncConnection, version_ids: list[int]
) -> dict[int, list[DeploymentRecord]]:
    rows = await connection.execute(
        select(deployments)
        .where(deployments.c.model_version_id.in_(version_ids))
        .order_by(deployments.c.created_at.desc(), deployments.c.id.desc())
    )
    found: dict[int, list[DeploymentRecord]] = {}
    for row in rows:
        found.setdefault(row.model_version_id, []).append(deployment_record(row))
    return found


async def _not_found(
    connection: AsyncConnection, name: str, version: str, source: tuple[str, str] | None
) -> VersionNotFound:
    if source is not None:  # the answer names the source; its versions would not help more
        return VersionNotFound(name, version, source, (), ())
    known = await connection.execute(
        select(model_versions.c.version)
        .where(_named(name))
        .order_by(model_versions.c.received_at.desc(), model_versions.c.id.desc())
        .limit(MAX_KNOWN_VERSIONS * 4)
    )
    versions = tuple(dict.fromkeys(known.scalars()))[:MAX_KNOWN_VERSIONS]
    similar = () if versions else await _similar_names(connection, name)
    return VersionNotFound(name, version, None, versions, similar)


async def _similar_names(connection: AsyncConnection, name: str) -> tuple[str, ...]:
    names = await connection.execute(
        select(model_versions.c.name).distinct().limit(MAX_NAMES_COMPARED)
    )
    by_lower = {known.lower(): known for known in names.scalars()}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=MAX_SUGGESTIONS, cutoff=0.6)
    return tuple(by_lower[match] for match in close)
