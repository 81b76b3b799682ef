"""Nothing waits unseen: each pending approval is reminded of in its card's thread, at half its
expiry and an hour before it ends (dialogs/reminders.py), once, whichever replica is running.

A reminder is claimed for a lease (numbered claims, as the outbox's), the claim renewed right
before the reply is posted (and only while the approval still waits), and the post recorded with
a compare-and-set on that claim. The reply calls the approvers who have not voted yet, as
``RELEASEBOT_NOTIFY`` says (bot/notify.py). Throttling and server errors are retried with backoff;
a conversation that is gone, or a connector that keeps refusing the bot, drops the reminder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.channel import Channel, DeliveryError
from bot.delivery import FailuresInARow
from bot.i18n import Translator
from bot.notify import Notifier
from bot.store.clock import utcnow
from bot.store.reminders import DueReminder, ReminderStore
from bot.workers import ClaimWorker
from dialogs.reminders import due_now, reminder_after

log = logging.getLogger(__name__)


class Reminders(ClaimWorker):
    """Posts the due reminders of pending approvals into their cards' threads."""

    def __init__(
        self,
        reminders: ReminderStore,
        channel: Channel,
        notifier: Notifier,
        *,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = timedelta(seconds=60),
        idle_poll: float = 30.0,
        batch_size: int = 20,
    ) -> None:
        super().__init__("reminders", idle_poll=idle_poll)
        self._reminders = reminders
        self._channel = channel
        self._notifier = notifier
        self._clock = clock
        self._lease = lease
        self._batch_size = batch_size
        self._failures = FailuresInARow()

    async def work_once(self) -> int:
        """Claim the reminders due now and post them; how many were claimed (none when
        ``RELEASEBOT_NOTIFY=none``)."""
        if not self._notifier.reminds:
            return 0
        claimed = await self._reminders.claim_due(self._clock(), self._batch_size, self._lease)
        await asyncio.gather(*(self._remind(due) for due in claimed))
        return len(claimed)

    async def _remind(self, due: DueReminder) -> None:
        record = due.record
        at = due_now(record.requested_at, record.expires_at, due.scheduled, self._clock())
        if at is None:  # it expired meanwhile: the card says so, no reminder is needed
            await self._reminders.reminded(due, None, posted=False)
            return
        card = await self._notifier.reminder(Translator(record.locale), record)
        if not await self._reminders.renew(due, self._lease):
            log.info("approval %d: its reminder was taken over or is moot; not posted", record.id)
            return
        assert record.activity_id is not None  # noqa: S101 - claimed only with a card
        try:
            await self._channel.reply_card(record.reference, record.activity_id, card)
        except DeliveryError as error:
            await self._undelivered(due, error)
            return
        self._failures.delivered(record.id)
        next_at = reminder_after(record.requested_at, record.expires_at, at)
        await self._reminders.reminded(due, next_at, posted=True)

    async def _undelivered(self, due: DueReminder, error: DeliveryError) -> None:
        approval_id = due.record.id
        verdict = self._failures.judge(approval_id, error)
        if verdict.given_up is not None:
            log.warning("reminder of approval %d dropped (%s)", approval_id, verdict.given_up)
            await self._reminders.reminded(due, None, posted=False)
            return
        log.info(
            "reminder of approval %d not posted (%s); next try in %.1f s",
            approval_id,
            error,
            verdict.delay,
        )
        await self._reminders.retry(due, timedelta(seconds=verdict.delay))
        asyncio.get_running_loop().call_later(verdict.delay, self.wake)
