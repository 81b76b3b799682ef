"""The announcement outbox: one row per card to send to one conversation, claimed by a sender
for a lease, marked sent with the activity id Teams gave it, retried, failed or dropped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.claims import Lease, claim, renew
from bot.store.clock import utcnow
from bot.store.rows import model_version
from bot.store.tables import announcements, approvals, conversations, model_versions
from domain.records import PendingAnnouncement
from domain.statuses import AnnouncementStatus

LEASE = Lease(announcements, announcements.c.claimed_until, announcements.c.claims)
QUEUED = announcements.c.status == AnnouncementStatus.QUEUED


class Outbox:
    """The announcements table; every method is one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(self, limit: int, lease: timedelta) -> list[PendingAnnouncement]:
        """Claim up to ``limit`` due announcements for ``lease`` (see :mod:`bot.store.claims`),
        those tried before first."""
        due = QUEUED & (announcements.c.next_attempt_at <= utcnow())
        # Retries first: a card refused once is not put behind a version's thousands of others.
        order = (
            announcements.c.attempts.desc(),
            announcements.c.next_attempt_at,
            announcements.c.id,
        )
        async with self.engine.begin() as connection:
            claimed = await claim(connection, LEASE, due, order_by=order, limit=limit, hold=lease)
            if not claimed:
                return []
            rows = await connection.execute(
                select(
                    announcements.c.id,
                    announcements.c.conversation_ref,
                    announcements.c.attempts,
                    announcements.c.claims,
                    conversations.c.reference,
                    conversations.c.locale,
                    approvals.c.id.label("approval_id"),
                    model_versions.c.id.label("version_id"),
                    *(column for column in model_versions.c if column.name != "id"),
                )
                .join(conversations, conversations.c.id == announcements.c.conversation_ref)
                .join(model_versions, model_versions.c.id == announcements.c.model_version_id)
                .join(approvals, approvals.c.announcement_id == announcements.c.id)
                .where(announcements.c.id.in_(claimed))
                .order_by(announcements.c.id)
            )
            return [_pending(row) for row in rows]

    async def renew(self, item: PendingAnnouncement, lease: timedelta) -> bool:
        """Hold the claim of ``item`` for ``lease`` from now, right before sending it; False if
        another sender claimed the row since (this claim ran out while it waited)."""
        async with self.engine.begin() as connection:
            return await renew(connection, LEASE, item.id, item.claims, lease, QUEUED)

    async def sent(self, announcement_id: int, activity_id: str) -> bool:
        """The connector accepted the card: remember the activity id for later updates, on the
        announcement and on the approval its card asks for, unless another sender (one of two
        whose claims overlapped in time) marked it first: its card is the one updated later.
        Whether the card is behind its approval already (a vote came while it was posted)."""
        async with self.engine.begin() as connection:
            first = await _finish(
                connection,
                announcement_id,
                status=AnnouncementStatus.SENT,
                activity_id=activity_id,
                sent_at=utcnow(),
            )
            if not first:
                return False
            marked = await connection.execute(
                update(approvals)
                .where(approvals.c.announcement_id == announcement_id)
                .values(activity_id=activity_id or None)
                .returning(approvals.c.shown_revision, approvals.c.card_revision)
            )
            return any(row.shown_revision < row.card_revision for row in marked)

    async def retry(self, announcement_id: int, delay: timedelta, error: str) -> None:
        """Release the claim and try again after ``delay``."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(announcements)
                .where(
                    announcements.c.id == announcement_id,
                    announcements.c.status == AnnouncementStatus.QUEUED,
                )
                .values(
                    attempts=announcements.c.attempts + 1,
                    next_attempt_at=utcnow() + delay,
                    claimed_until=None,
                    last_error=error[:512],
                )
            )

    async def failed(self, announcement_id: int, error: str) -> None:
        """The connector refused the card for good (not a transient error)."""
        async with self.engine.begin() as connection:
            await _finish(
                connection,
                announcement_id,
                status=AnnouncementStatus.FAILED,
                last_error=error[:512],
            )

    async def drop_conversation(self, conversation_ref: int, error: str) -> int:
        """The bot can no longer post there: deactivate the conversation (so its subscriptions
        match nothing) and drop its queued announcements; returns how many were dropped."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(conversations)
                .where(conversations.c.id == conversation_ref)
                .values(active=False, updated_at=utcnow())
            )
            dropped = await connection.execute(
                update(announcements)
                .where(
                    announcements.c.conversation_ref == conversation_ref,
                    announcements.c.status == AnnouncementStatus.QUEUED,
                )
                .values(
                    status=AnnouncementStatus.DROPPED, claimed_until=None, last_error=error[:512]
                )
            )
            return int(dropped.rowcount)


async def _finish(connection: AsyncConnection, announcement_id: int, **values: Any) -> bool:
    """Set the final state of a queued announcement; False if it was no longer queued."""
    finished = await connection.execute(
        update(announcements)
        .where(
            announcements.c.id == announcement_id,
            announcements.c.status == AnnouncementStatus.QUEUED,
        )
        .values(claimed_until=None, **values)
    )
    return bool(finished.rowcount)


def _pending(row: Row[Any]) -> PendingAnnouncement:
    return PendingAnnouncement(
        id=row.id,
        conversation_ref=row.conversation_ref,
        reference=row.reference,
        locale=row.locale,
        attempts=row.attempts,
        claims=row.claims,
        version_id=row.version_id,
        version=model_version(row._mapping),
        approval_id=row.approval_id,
    )
