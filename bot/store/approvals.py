"""Approvals in SQL: the state machine of dialogs/approval.py persisted as compare-and-sets.

Every change of an approval is one transaction that checks the revision it read: of two
concurrent clicks only one commits, the other reads again and decides anew (usually "already
approved"). The vote, the audit row, the deployment row (when the quorum is reached) and the card's
new revision are written in that same transaction, so a crash leaves all of them or none.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.approval_records import load_approval
from bot.store.audit import audit_approval
from bot.store.claims import Lease, claim, renew
from bot.store.clock import aware, utcnow
from bot.store.rows import deployment_record
from bot.store.tables import approval_votes, approvals, deployments
from dialogs.approval import (
    Approval,
    Approve,
    Event,
    Expire,
    Person,
    Reject,
    approval_of,
    decide,
    needs_upn,
)
from dialogs.policy import policy_to_json
from dialogs.reminders import first_reminder
from domain.policy import Policy, Refused
from domain.records import ApprovalRecord, Decision, DeploymentRecord, Vote
from domain.statuses import ApprovalState, DeploymentStatus

MAX_CAS_ATTEMPTS = 50
DISPATCH_LEASE = timedelta(seconds=120)
"""How long the writer of a new deployment row holds it (another worker may take it after)."""
WRITER_CLAIM = 1
"""The number of the claim the writer of a new deployment row holds: its first."""
CARD_LEASE = Lease(approvals, approvals.c.card_claimed_until, approvals.c.card_claims)


class Needed(Enum):
    """The answer to a click that needs a look-up first: nothing was decided yet."""

    UPN = "the clicker's UPN"
    CREATOR = "who registered the version"


UPN_NEEDED = Needed.UPN
CREATOR_NEEDED = Needed.CREATOR


class ApprovalBusyError(RuntimeError):
    """Too many concurrent changes to one approval: the click should be tried again."""


class ApprovalStore:
    """Approvals, their votes and audit trail, and the deployments they start."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, approval_id: int) -> ApprovalRecord | None:
        """An approval with its version, votes and deployment; None if there is no such id."""
        async with self.engine.connect() as connection:
            return await load_approval(connection, approval_id)

    async def decide(
        self,
        approval_id: int,
        event: Event,
        conversation_ref: int | None,
        *,
        creator_looked_up: bool = False,
    ) -> Decision | Needed | None:
        """Apply a click (or, with ``conversation_ref`` None, the expiry) to an approval: a
        compare-and-set on its revision, retried on a lost race. None if there is no such
        approval in that conversation. Nothing is done when a look-up is needed first:
        :data:`UPN_NEEDED` if the approval names people by UPN and the clicker's is not known,
        :data:`CREATOR_NEEDED` if who registered the version is not known and
        ``creator_looked_up`` is false; look it up and click again."""
        for _ in range(MAX_CAS_ATTEMPTS):
            async with self.engine.begin() as connection:
                record = await load_approval(connection, approval_id)
                if record is None or conversation_ref not in (None, record.conversation_ref):
                    return None
                if _needs_upn(record, event):
                    return UPN_NEEDED
                if not creator_looked_up and _needs_creator(record, event):
                    return CREATOR_NEEDED
                outcome = decide(approval_of(record), event, record.policy)
                if isinstance(outcome, Refused):
                    await _audit(connection, record.id, conversation_ref, event, outcome.key)
                    return Decision(record, outcome, changed=False)
                committed = await _commit(connection, record, outcome, event, conversation_ref)
                if committed is not False:
                    changed = _after(record, outcome, committed)
                    refusal = _refusal_of_late_click(outcome, event)
                    return Decision(changed, refusal, changed=True, new_deployment=committed)
        raise ApprovalBusyError(f"approval {approval_id} changed {MAX_CAS_ATTEMPTS} times")

    async def refuse(self, approval_id: int, event: Event, conversation_ref: int, key: str) -> bool:
        """Write the audit row of a click refused before it reached the policy (``key`` says
        why); False, and nothing written, if there is no such approval in that conversation."""
        async with self.engine.begin() as connection:
            here = await connection.scalar(
                select(approvals.c.id).where(
                    approvals.c.id == approval_id, approvals.c.conversation_ref == conversation_ref
                )
            )
            if here is None:
                return False
            await _audit(connection, approval_id, conversation_ref, event, key)
            return True

    async def due_expiries(self, now: datetime, limit: int = 100) -> list[int]:
        """Pending approvals whose time has run out."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(approvals.c.id)
                .where(
                    approvals.c.state == ApprovalState.PENDING.value, approvals.c.expires_at <= now
                )
                .order_by(approvals.c.expires_at)
                .limit(limit)
            )
            return list(rows.scalars())

    async def soonest_expiry(self) -> datetime | None:
        """When the pending approval that expires first expires; None: none is pending."""
        async with self.engine.connect() as connection:
            soonest = await connection.scalar(
                select(func.min(approvals.c.expires_at)).where(
                    approvals.c.state == ApprovalState.PENDING.value
                )
            )
        return aware(soonest) if isinstance(soonest, datetime) else None

    async def pending_in(self, conversation_ref: int) -> list[ApprovalRecord]:
        """This conversation's approvals waiting for a decision, the soonest to expire first."""
        async with self.engine.connect() as connection:
            ids = await connection.execute(
                select(approvals.c.id)
                .where(
                    approvals.c.conversation_ref == conversation_ref,
                    approvals.c.state == ApprovalState.PENDING.value,
                    approvals.c.expires_at > utcnow(),
                )
                .order_by(approvals.c.expires_at, approvals.c.id)
                .limit(50)
            )
            return [
                r for i in ids.scalars() if (r := await load_approval(connection, i)) is not None
            ]

    async def claim_card_updates(self, limit: int, lease: timedelta) -> list[ApprovalRecord]:
        """Approvals whose card in Teams is behind, claimed for ``lease`` (compare-and-set)."""
        behind = approvals.c.activity_id.is_not(None) & (
            approvals.c.shown_revision < approvals.c.card_revision
        )
        async with self.engine.begin() as connection:
            ids = await claim(
                connection, CARD_LEASE, behind, order_by=(approvals.c.id,), limit=limit, hold=lease
            )
            return [r for i in ids if (r := await load_approval(connection, i)) is not None]

    async def renew_card_claim(self, record: ApprovalRecord, lease: timedelta) -> bool:
        """Hold the card claim of ``record`` for ``lease`` from now, right before posting into its
        thread; False if another sender claimed the card since (this claim ran out meanwhile)."""
        async with self.engine.begin() as connection:
            return await renew(connection, CARD_LEASE, record.id, record.card_claims, lease)

    async def card_shown(
        self, approval_id: int, revision: int, *, retry_in: timedelta | None = None
    ) -> None:
        """Teams shows the card of ``revision`` (or, with ``retry_in``, the update failed)."""
        async with self.engine.begin() as connection:
            if retry_in is not None:
                values: dict[str, Any] = {"card_claimed_until": utcnow() + retry_in}
            else:
                values = {
                    "shown_revision": func.max(approvals.c.shown_revision, revision)
                    if connection.dialect.name == "sqlite"
                    else func.greatest(approvals.c.shown_revision, revision),
                    "card_claimed_until": None,
                }
            await connection.execute(
                update(approvals).where(approvals.c.id == approval_id).values(**values)
            )

    async def result_reported(self, deployment_id: int) -> None:
        """The result of the deployment was posted into the card's thread."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(deployments)
                .where(deployments.c.id == deployment_id)
                .values(result_reported=True)
            )


def new_approval_values(
    conversation_ref: int,
    version_id: int,
    policy: Policy,
    target: str | None,
    *,
    kind: str = "announce",
    announcement_id: int | None = None,
    requested_by: Person | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The row of a new, pending approval."""
    return {
        "conversation_ref": conversation_ref,
        "model_version_id": version_id,
        "announcement_id": announcement_id,
        "kind": kind,
        "state": ApprovalState.PENDING.value,
        "revision": 1,
        "policy": policy_to_json(policy),
        "target": target,
        "requested_by": requested_by.object_id if requested_by else None,
        "requested_by_name": requested_by.name if requested_by else None,
        "requested_at": now,
        "expires_at": now + policy.expiry,
        "next_reminder_at": first_reminder(now, now + policy.expiry),
        "card_revision": 1,
        "shown_revision": 1,
    }


async def bump_card(connection: AsyncConnection, approval_id: int) -> None:
    """The card of this approval must be shown anew (its approval or deployment changed)."""
    await connection.execute(
        update(approvals)
        .where(approvals.c.id == approval_id)
        .values(card_revision=approvals.c.card_revision + 1)
    )


async def _commit(
    connection: AsyncConnection,
    record: ApprovalRecord,
    outcome: Approval,
    event: Event,
    conversation_ref: int | None,
) -> DeploymentRecord | Literal[False] | None:
    """Write the outcome if nobody changed the approval meanwhile (False if somebody did); the
    deployment requested by reaching the quorum, if any."""
    changed = await connection.execute(
        update(approvals)
        .where(approvals.c.id == record.id, approvals.c.revision == record.revision)
        .values(
            state=outcome.state.value,
            revision=record.revision + 1,
            card_revision=approvals.c.card_revision + 1,
            decided_at=outcome.decided_at,
            rejected_by_name=_name(outcome.rejected_by) if outcome.rejected_by else None,
            reason=outcome.reason,
        )
    )
    if not changed.rowcount:
        return False
    expired = outcome.state is ApprovalState.EXPIRED
    if expired:
        event = Expire(event.at)  # a click after the expiry time expires the request
    if isinstance(event, Approve):
        await connection.execute(
            insert(approval_votes).values(
                approval_id=record.id,
                voter_id=event.person.object_id.lower(),
                voter_upn=event.person.upn,
                voter_name=event.person.name,
                voted_at=event.at,
            )
        )
    await _audit(connection, record.id, conversation_ref, event, outcome.reason)
    if outcome.state is ApprovalState.APPROVED and record.target:
        return await _request_deployment(connection, record, outcome)
    return None


def _after(
    record: ApprovalRecord, outcome: Approval, deployment: DeploymentRecord | None
) -> ApprovalRecord:
    """The approval as written by :func:`_commit`, without reading it back."""
    return replace(
        record,
        state=outcome.state,
        revision=record.revision + 1,
        card_revision=record.card_revision + 1,
        decided_at=outcome.decided_at,
        rejected_by_name=_name(outcome.rejected_by) if outcome.rejected_by else None,
        reason=outcome.reason,
        votes=tuple(
            Vote(person.object_id.lower(), person.name, person.upn, at)
            for person, at in outcome.approvals
        ),
        deployment=deployment or record.deployment,
    )


def _needs_upn(record: ApprovalRecord, event: Event) -> bool:
    """A click whose UPN is unknown on an approval that names people by UPN (its approvers, or
    the version's creator): Teams leaves the UPN out of invokes."""
    return isinstance(event, Approve | Reject) and needs_upn(record, event.person)


def _needs_creator(record: ApprovalRecord, event: Event) -> bool:
    """An approval of a version whose creator is unknown: "no self-approval" cannot be checked."""
    approval = approval_of(record)
    unknown = not approval.creator and not approval.creator_is_app
    return isinstance(event, Approve) and unknown and record.policy.forbid_self_approval


def _refusal_of_late_click(outcome: Approval, event: Event) -> Refused | None:
    if outcome.state is ApprovalState.EXPIRED and not isinstance(event, Expire):
        return Refused("approval.already_expired")
    return None


async def _request_deployment(
    connection: AsyncConnection, record: ApprovalRecord, outcome: Approval
) -> DeploymentRecord:
    """The deployment row, claimed at once by this process for :data:`DISPATCH_LEASE`: whoever
    wrote it starts it, without a poll in between."""
    now = utcnow()
    approvers = ", ".join(_name(person) for person, _ in outcome.approvals)
    key = f"mrb-{record.id}-{secrets.token_hex(4)}"
    inserted = await connection.execute(
        insert(deployments)
        .values(
            approval_id=record.id,
            model_version_id=record.version_id,
            deployment_key=key,
            target=record.target,
            requested_by=approvers[:512],
            status=DeploymentStatus.REQUESTED,
            attempts=0,
            next_attempt_at=now,
            claimed_until=now + DISPATCH_LEASE,
            claims=WRITER_CLAIM,
            created_at=now,
            updated_at=now,
            result_reported=False,
        )
        .returning(deployments)
    )
    return deployment_record(inserted.one())


async def _audit(
    connection: AsyncConnection,
    approval_id: int,
    conversation_ref: int | None,
    event: Event,
    detail: str | None,
) -> None:
    person = event.person if isinstance(event, Approve | Reject) else None
    action = {Approve: "approve", Reject: "reject", Expire: "expire"}[type(event)]
    refused = detail is not None and detail.startswith("approval.")
    await audit_approval(
        connection,
        approval_id,
        conversation_ref,
        actor=person,
        action="refused" if refused else action,
        detail=f"{action}: {detail}" if refused else detail,
        at=event.at,
    )


def _name(person: Person) -> str:
    return person.name or person.upn or person.object_id
