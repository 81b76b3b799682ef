"""Approvals as their cards show them: read with their version, votes and deployment, and the
version of the same model deployed before."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.clock import aware
from bot.store.rows import deployment_record, model_version
from bot.store.tables import approval_votes, approvals, conversations, deployments, model_versions
from dialogs.policy import policy_from_json
from domain.records import ApprovalRecord, DeploymentRecord, ModelVersion, Vote
from domain.statuses import DEPLOYED, ApprovalState


async def load_approval(connection: AsyncConnection, approval_id: int) -> ApprovalRecord | None:
    """An approval with its version, votes and deployment; None if there is no such id."""
    row = (
        await connection.execute(
            select(
                approvals,
                conversations.c.reference,
                conversations.c.locale,
                *(c.label(f"mv_{c.name}") for c in model_versions.c),
            )
            .join(conversations, conversations.c.id == approvals.c.conversation_ref)
            .join(model_versions, model_versions.c.id == approvals.c.model_version_id)
            .where(approvals.c.id == approval_id)
        )
    ).first()
    if row is None:
        return None
    votes = await connection.execute(
        select(approval_votes)
        .where(approval_votes.c.approval_id == approval_id)
        .order_by(approval_votes.c.voted_at, approval_votes.c.id)
    )
    deployment = None
    if row.state == ApprovalState.APPROVED.value:  # only an approval starts a deployment
        deployment = (
            await connection.execute(
                select(deployments).where(deployments.c.approval_id == approval_id)
            )
        ).first()
    record = _record(
        row, [_vote(v) for v in votes], deployment_record(deployment) if deployment else None
    )
    return replace(record, deployed_now=await _deployed_now(connection, record))


async def _deployed_now(connection: AsyncConnection, record: ApprovalRecord) -> ModelVersion | None:
    """The version of the same model and source deployed last with success, other than this."""
    version = record.version
    row = (
        await connection.execute(
            select(model_versions)
            .join(deployments, deployments.c.model_version_id == model_versions.c.id)
            .where(
                model_versions.c.source_kind == version.source_kind,
                model_versions.c.source_name == version.source_name,
                model_versions.c.name == version.name,
                model_versions.c.id != record.version_id,
                deployments.c.run_status.in_(DEPLOYED),
            )
            .order_by(deployments.c.finished_at.desc(), deployments.c.id.desc())
            .limit(1)
        )
    ).first()
    return model_version(row._mapping) if row else None


def _record(
    row: Row[Any], votes: list[Vote], deployment: DeploymentRecord | None
) -> ApprovalRecord:
    version = model_version({k[3:]: v for k, v in row._mapping.items() if k.startswith("mv_")})
    return ApprovalRecord(
        id=row.id,
        conversation_ref=row.conversation_ref,
        reference=row.reference,
        locale=row.locale,
        version_id=row.model_version_id,
        version=version,
        kind=row.kind,
        state=ApprovalState(row.state),
        revision=row.revision,
        policy=policy_from_json(row.policy),
        target=row.target,
        requested_by=row.requested_by,
        requested_by_name=row.requested_by_name,
        requested_at=aware(row.requested_at),
        expires_at=aware(row.expires_at),
        decided_at=aware(row.decided_at),
        rejected_by_name=row.rejected_by_name,
        reason=row.reason,
        votes=tuple(votes),
        activity_id=row.activity_id,
        card_revision=row.card_revision,
        deployment=deployment,
        card_claims=row.card_claims,
    )


def _vote(row: Row[Any]) -> Vote:
    return Vote(
        voter_id=row.voter_id, name=row.voter_name, upn=row.voter_upn, at=aware(row.voted_at)
    )
