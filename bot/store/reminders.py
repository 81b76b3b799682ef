"""Reminders of pending approvals in SQL: which are due, claimed once across replicas, and what
was posted.

An approval keeps when its next reminder is due (``next_reminder_at``, planned when it is asked
for: dialogs/reminders.py). A worker claims the due ones for a lease (numbered claims, as the
outbox's), renews its claim right before posting, and records the post with a compare-and-set on
its claim and the reminder it posted, so that each reminder is posted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.approval_records import load_approval
from bot.store.claims import Lease, claim, renew
from bot.store.clock import aware, utcnow
from bot.store.tables import approvals, conversations
from domain.records import ApprovalRecord
from domain.statuses import ApprovalState

REMINDER_LEASE = Lease(approvals, approvals.c.reminder_claimed_until, approvals.c.reminder_claims)
PERSONAL = "personal"
"""Nobody can approve in a personal chat: its requests are reminded of never."""


@dataclass(frozen=True)
class DueReminder:
    """A claimed reminder: the approval as its card shows it, when the reminder fell due, and
    the number of the claim."""

    record: ApprovalRecord
    scheduled: datetime
    claim_number: int


class ReminderStore:
    """The reminders of pending approvals whose card was posted."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[DueReminder]:
        """Claim up to ``limit`` reminders due at ``now`` for ``lease``."""
        shared = select(conversations.c.id).where(conversations.c.conversation_type != PERSONAL)
        due = (
            (approvals.c.state == ApprovalState.PENDING.value)
            & approvals.c.activity_id.is_not(None)
            & (approvals.c.next_reminder_at <= now)
            & approvals.c.conversation_ref.in_(shared)
        )
        async with self.engine.begin() as connection:
            ids = await claim(
                connection,
                REMINDER_LEASE,
                due,
                order_by=(approvals.c.next_reminder_at, approvals.c.id),
                limit=limit,
                hold=lease,
            )
            if not ids:
                return []
            rows = await connection.execute(
                select(
                    approvals.c.id, approvals.c.next_reminder_at, approvals.c.reminder_claims
                ).where(approvals.c.id.in_(ids))
            )
            claimed = {row.id: row for row in rows}
            due_reminders = []
            for approval_id in ids:
                record = await load_approval(connection, approval_id)
                row = claimed[approval_id]
                if record is not None:
                    scheduled = aware(row.next_reminder_at)
                    due_reminders.append(DueReminder(record, scheduled, row.reminder_claims))
            return due_reminders

    async def renew(self, due: DueReminder, lease: timedelta) -> bool:
        """Hold the claim of ``due`` for ``lease`` from now, right before posting; False if
        another worker claimed it since, the reminder is no longer the one claimed, or the
        approval was decided meanwhile."""
        async with self.engine.begin() as connection:
            return await renew(
                connection,
                REMINDER_LEASE,
                due.record.id,
                due.claim_number,
                lease,
                approvals.c.next_reminder_at == due.scheduled,
                approvals.c.state == ApprovalState.PENDING.value,
            )

    async def reminded(self, due: DueReminder, next_at: datetime | None, *, posted: bool) -> bool:
        """Record that the reminder of ``due`` was handled (``posted`` into the thread, or
        dropped), and when the next is due; False if another worker's claim came between."""
        values: dict[str, object] = {"next_reminder_at": next_at, "reminder_claimed_until": None}
        if posted:
            values["reminders_sent"] = approvals.c.reminders_sent + 1
        async with self.engine.begin() as connection:
            done = await connection.execute(
                update(approvals)
                .where(
                    approvals.c.id == due.record.id,
                    approvals.c.reminder_claims == due.claim_number,
                    approvals.c.next_reminder_at == due.scheduled,
                )
                .values(values)
            )
            return bool(done.rowcount)

    async def retry(self, due: DueReminder, delay: timedelta) -> None:
        """The reminder was not posted: try again after ``delay``."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(approvals)
                .where(
                    approvals.c.id == due.record.id,
                    approvals.c.reminder_claims == due.claim_number,
                )
                .values(reminder_claimed_until=utcnow() + delay)
            )
