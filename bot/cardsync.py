"""Keeps every approval card in Teams current, and expires requests nobody answered.

A change to an approval or its deployment bumps the card's revision in the same transaction; this
worker claims the approvals whose card Teams shows an older revision of (a compare-and-set with a
lease), updates the activity in place, and posts the deployment's result into the card's thread
once. Nothing is lost across a crash: the revision stays behind until Teams took the update.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.cards import adaptive_card, text_block
from bot.cards.announcement import PUBLIC_STUDIO
from bot.cards.status import status_section
from bot.cards.text import NAME_LIMIT, plain
from bot.channel import Channel, DeliveryError
from bot.delivery import FailuresInARow
from bot.failpoints import reached
from bot.i18n import Translator
from bot.notify import Notifier, shared_card
from bot.store.approvals import ApprovalStore
from bot.store.clock import utcnow
from bot.workers import ClaimWorker
from dialogs.approval import Expire
from domain.records import ApprovalRecord, Decision
from domain.statuses import DeploymentStatus

log = logging.getLogger(__name__)


class CardSync(ClaimWorker):
    """Updates cards that are behind their approval, replies with results, sweeps expiries."""

    def __init__(
        self,
        approvals: ApprovalStore,
        channel: Channel,
        *,
        lease: timedelta = timedelta(seconds=60),
        idle_poll: float = 5.0,
        batch_size: int = 50,
        expiry_sweep: float = 30.0,
        studio: str = PUBLIC_STUDIO,
        clock: Callable[[], datetime] = utcnow,
        notifier: Notifier | None = None,
    ) -> None:
        super().__init__("card sync", idle_poll=idle_poll)
        self._approvals = approvals
        self._channel = channel
        self._lease = lease
        self._batch_size = batch_size
        self._expiry_sweep = timedelta(seconds=expiry_sweep)
        self._studio = studio
        self._clock = clock
        self._notifier = notifier
        """Who is refreshed and called on the edited cards (None: nobody)."""
        self._next_sweep: datetime | None = None
        self._failures = FailuresInARow()

    async def _sweep_when_due(self) -> None:
        """Expire requests every ``expiry_sweep`` seconds, and when the soonest pending one
        runs out (within an idle poll), not on every card update."""
        now = self._clock()
        if self._next_sweep is None or now >= self._next_sweep:
            await self.expire_due()
            soonest = await self._approvals.soonest_expiry()
            self._next_sweep = min(now + self._expiry_sweep, soonest or now + self._expiry_sweep)

    async def expire_due(self) -> int:
        """Expire the pending approvals whose time ran out; how many."""
        expired = 0
        for approval_id in await self._approvals.due_expiries(self._clock()):
            decision = await self._approvals.decide(approval_id, Expire(self._clock()), None)
            expired += isinstance(decision, Decision) and decision.changed
        return expired

    async def work_once(self) -> int:
        """Expire the requests whose time ran out (every ``expiry_sweep`` seconds), and update
        the cards that are behind; how many were claimed."""
        await self._sweep_when_due()
        records = await self._approvals.claim_card_updates(self._batch_size, self._lease)
        await asyncio.gather(*(self._sync(record) for record in records))
        return len(records)

    async def _sync(self, record: ApprovalRecord) -> None:
        assert record.activity_id is not None  # noqa: S101 - claimed only with an activity
        t = Translator(record.locale)
        try:
            card = await shared_card(self._notifier, t, record, self._studio)
            await self._channel.update_card(record.reference, record.activity_id, card)
            if not await self._report_result(record, t):
                return  # another sender has the card now, and finishes it
        except DeliveryError as error:
            await self._undelivered(record, error)
            return
        self._failures.delivered(record.id)
        await self._approvals.card_shown(record.id, record.card_revision)

    async def _report_result(self, record: ApprovalRecord, t: Translator) -> bool:
        """Post the deployment's result into the card's thread, once it has one; False if the
        card was claimed by another sender meanwhile (which then posts it)."""
        deployment = record.deployment
        if deployment is None or deployment.result_reported:
            return True
        if (
            not (deployment.run_status and deployment.run_status.final)
            and deployment.status != DeploymentStatus.ERROR
        ):
            return True
        assert record.activity_id is not None  # noqa: S101 - as above
        # The claim may have run out while the card was updated: post only if it is still ours.
        if not await self._approvals.renew_card_claim(record, self._lease):
            log.info("approval %d: its card was taken over; the result is posted there", record.id)
            return False
        version = record.version
        title = t(
            "deploy.reply",
            name=plain(version.name, NAME_LIMIT),
            version=plain(version.version, NAME_LIMIT),
        )
        card = adaptive_card([text_block(title, weight="Bolder"), *status_section(t, record)])
        await self._channel.reply_card(record.reference, record.activity_id, card)
        await self._approvals.result_reported(deployment.id)
        reached("result_posted")
        return True

    async def _undelivered(self, record: ApprovalRecord, error: DeliveryError) -> None:
        verdict = self._failures.judge(record.id, error)
        if verdict.given_up is not None:
            log.warning("card of approval %d cannot be updated (%s)", record.id, verdict.given_up)
            await self._approvals.card_shown(record.id, record.card_revision)
            return
        log.info(
            "card of approval %d not updated (%s); next try in %.1f s",
            record.id,
            error,
            verdict.delay,
        )
        await self._approvals.card_shown(
            record.id, record.card_revision, retry_in=timedelta(seconds=verdict.delay)
        )
        asyncio.get_running_loop().call_later(verdict.delay, self.wake)
