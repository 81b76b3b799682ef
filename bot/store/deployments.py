"""Deployments in SQL: claimed by one worker at a time (a compare-and-set with a lease), started
exactly once, then followed to their end. Claims are numbered: a worker renews its claim, and
changes the row, only while no other worker has claimed it since. Every change bumps the card of
their approval in the same transaction, so the card in Teams follows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.approvals import WRITER_CLAIM, bump_card
from bot.store.claims import Lease, claim, renew
from bot.store.clock import aware, utcnow
from bot.store.tables import approvals, deployments, model_versions
from domain.records import ApprovalRecord, DeploymentJob, DeploymentRecord, RunUpdate
from domain.statuses import DeploymentStatus, RunStatus

LEASE = Lease(deployments, deployments.c.claimed_until, deployments.c.claims)
RUNNING = (DeploymentStatus.REQUESTED, DeploymentStatus.TRIGGERED)


def job_for(record: ApprovalRecord, deployment: DeploymentRecord) -> DeploymentJob:
    """The job of a deployment just requested by ``record``'s decision."""
    return DeploymentJob(
        id=deployment.id,
        approval_id=record.id,
        key=deployment.key,
        target=deployment.target,
        status=deployment.status,
        attempts=deployment.attempts,
        claims=WRITER_CLAIM,
        run_id=deployment.run_id,
        run_status=deployment.run_status,
        model_name=record.version.name,
        model_version=record.version.version,
        source=record.version.source_name,
        requested_by=deployment.requested_by,
        created_at=deployment.created_at,
    )


class DeploymentStore:
    """The deployments table, for the dispatcher and the tracker."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(self, limit: int, lease: timedelta) -> list[DeploymentJob]:
        """Claim due deployments (to start or to follow) that nobody else holds."""
        due = deployments.c.status.in_(RUNNING) & (deployments.c.next_attempt_at <= utcnow())
        order = (deployments.c.next_attempt_at, deployments.c.id)
        async with self.engine.begin() as connection:
            ids = await claim(connection, LEASE, due, order_by=order, limit=limit, hold=lease)
            return await _jobs(connection, ids)

    async def renew(self, job: DeploymentJob, lease: timedelta) -> bool:
        """Hold the claim on ``job`` for ``lease`` from now; False if another worker has claimed
        the deployment since (this claim ran out meanwhile)."""
        still = deployments.c.status == job.status
        async with self.engine.begin() as connection:
            return await renew(connection, LEASE, job.id, job.claims, lease, still)

    async def triggered(self, job: DeploymentJob, run: RunUpdate, next_check: timedelta) -> None:
        """Azure DevOps has the run: remember it (found again, or just created)."""
        await self._change(
            job,
            DeploymentStatus.REQUESTED,
            status=DeploymentStatus.FINISHED if run.final else DeploymentStatus.TRIGGERED,
            attempts=0,
            next_attempt_at=utcnow() + next_check,
            error_code=None,
            last_error=None,
            **_run_values(run),
        )

    async def progressed(self, job: DeploymentJob, run: RunUpdate, next_check: timedelta) -> None:
        """The run was read again; the card changes only when what it shows changed."""
        changed = run.status != job.run_status
        await self._change(
            job,
            DeploymentStatus.TRIGGERED,
            bump=changed,
            status=DeploymentStatus.FINISHED if run.final else DeploymentStatus.TRIGGERED,
            attempts=0 if changed else job.attempts + 1,
            next_attempt_at=utcnow() + next_check,
            **_run_values(run),
        )

    async def retry(self, job: DeploymentJob, delay: timedelta, code: str, error: str) -> None:
        """Azure DevOps did not answer as hoped; try again after ``delay``."""
        await self._change(
            job,
            job.status,
            bump=job.status == DeploymentStatus.REQUESTED and job.attempts == 0,
            attempts=job.attempts + 1,
            next_attempt_at=utcnow() + delay,
            error_code=code,
            last_error=error[:512],
        )

    async def failed(self, job: DeploymentJob, code: str, error: str) -> None:
        """Azure DevOps refused for good (or would not answer for too long): show what to fix."""
        await self._change(
            job, job.status, status=DeploymentStatus.ERROR, error_code=code, last_error=error[:512]
        )

    async def hint(self, kind: str, run_id: int) -> bool:
        """A service hook says the run changed: check it now rather than at the next poll."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(deployments)
                .where(
                    deployments.c.status == DeploymentStatus.TRIGGERED,
                    deployments.c.run_id == run_id,
                    deployments.c.target.like(f"{kind}:%"),
                )
                .values(next_attempt_at=utcnow())
            )
            return bool(result.rowcount)

    async def _change(
        self, job: DeploymentJob, expected_status: str, *, bump: bool = True, **values: Any
    ) -> None:
        if values.get("status") == DeploymentStatus.FINISHED:
            values["finished_at"] = utcnow()
        async with self.engine.begin() as connection:
            changed = await connection.execute(
                update(deployments)
                .where(_held(job), deployments.c.status == expected_status)
                .values(claimed_until=None, updated_at=utcnow(), **values)
            )
            if changed.rowcount and bump:
                await bump_card(connection, job.approval_id)


def _held(job: DeploymentJob) -> ColumnElement[bool]:
    """The row of ``job``, unless another worker has claimed it since."""
    return and_(deployments.c.id == job.id, deployments.c.claims == job.claims)


def _run_values(run: RunUpdate) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "run_name": run.name[:256],
        "run_status": run.status,
        "web_url": run.web_url,
        "logs_url": run.logs_url,
        "detail": (run.detail or None) and run.detail[:512],
    }


async def _jobs(connection: AsyncConnection, ids: list[int]) -> list[DeploymentJob]:
    if not ids:
        return []
    rows = await connection.execute(
        select(
            deployments,
            model_versions.c.name.label("model_name"),
            model_versions.c.version.label("model_version"),
            model_versions.c.source_name,
        )
        .join(approvals, approvals.c.id == deployments.c.approval_id)
        .join(model_versions, model_versions.c.id == deployments.c.model_version_id)
        .where(deployments.c.id.in_(ids))
        .order_by(deployments.c.id)
    )
    return [
        DeploymentJob(
            id=row.id,
            approval_id=row.approval_id,
            key=row.deployment_key,
            target=row.target,
            status=DeploymentStatus(row.status),
            attempts=row.attempts,
            claims=row.claims,
            run_id=row.run_id,
            run_status=RunStatus(row.run_status) if row.run_status else None,
            model_name=row.model_name,
            model_version=row.model_version,
            source=row.source_name,
            requested_by=row.requested_by,
            created_at=aware(row.created_at),
        )
        for row in rows
    ]
