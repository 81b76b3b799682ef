"""The releases read models: what chat commands ask about a model (its history in a
conversation, what is deployed now), and the look-ups deploy and rollback requests start from.

Every public method is one transaction. Model names compare without regard to case, as the
subscriptions match them.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.clock import aware
from bot.store.rows import deployment_record, model_version
from bot.store.tables import (
    announcements,
    approval_votes,
    approvals,
    deployments,
    model_versions,
)
from dialogs.policy import policy_from_json
from domain.records import DeploymentRecord
from domain.releases import (
    DecisionSummary,
    Deployed,
    ModelStatus,
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
    """History and status of models."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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
                    .where(named(name), here)
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
            current = await current_deployment(connection, name)
            newer = await _newer_than(connection, name, current)
        return ModelStatus(current, newer)


def named(name: str) -> ColumnElement[bool]:
    return func.lower(model_versions.c.name) == name.lower()


def from_source(source: tuple[str, str]) -> ColumnElement[bool]:
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


async def current_deployment(
    connection: AsyncConnection, name: str, target: str | None = None
) -> Deployed | None:
    """The latest successful deployment of the model (to ``target``, if given)."""
    condition = [named(name), deployments.c.run_status.in_(DEPLOYED)]
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
        named(name),
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


async def previous_deployment(
    connection: AsyncConnection, name: str, current: Deployed
) -> int | None:
    """The version of the last fully successful deployment to the current one's target that
    ended before it, of another version than the current one."""
    ended = current.ended_at
    return await connection.scalar(
        select(deployments.c.model_version_id)
        .join(model_versions, model_versions.c.id == deployments.c.model_version_id)
        .where(
            named(name),
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


async def version_not_found(
    connection: AsyncConnection, name: str, version: str, source: tuple[str, str] | None
) -> VersionNotFound:
    if source is not None:  # the answer names the source; its versions would not help more
        return VersionNotFound(name, version, source, (), ())
    known = await connection.execute(
        select(model_versions.c.version)
        .where(named(name))
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
