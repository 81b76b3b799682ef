"""The outbox sender: queued announcements to Teams, within Teams' limits, nothing lost or doubled.

A row is claimed for a lease (a compare-and-set in SQL), sent, and marked sent only after the
connector accepted it, with the new activity's id. A card throttled with no wait named is tried
again at once, up to three tries, paced by Teams' limits like any other call; other throttling
and server errors are retried from the store after Retry-After or exponential backoff with jitter,
before the rows never tried; 403 and 404 (the bot was removed, the conversation is gone) switch
the conversation off instead of retrying forever, and a card still refused with 401 (the
connector does not take the bot's token) on its fifth try fails. A restart, or another
replica once the lease has run out, picks up whatever was not marked sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from bot.cards import Card
from bot.cards.announcement import PUBLIC_STUDIO
from bot.channel import Channel, DeliveryError
from bot.delivery import GONE, RETRYABLE, refused_for_good
from bot.failpoints import reached
from bot.i18n import Translator
from bot.logs import correlated, version_correlation
from bot.metrics import CARD_SEND_SECONDS, CARDS
from bot.notify import Notifier, shared_card
from bot.ratelimit import MAX_IN_FLIGHT, MIN_IN_FLIGHT
from bot.retrying import backoff
from bot.store.approvals import ApprovalStore
from bot.store.store import Store
from bot.workers import ClaimWorker
from domain.records import PendingAnnouncement, RecordedVersion

log = logging.getLogger(__name__)

THROTTLED = 429
TRIES_AT_ONCE = 3  # of a card throttled without a wait, before it backs off
RETRY_WAKE_SLACK = 0.01  # seconds after a retry's due time, so that the row is due when we look


def _throttled_without_wait(error: DeliveryError) -> bool:
    """Teams throttled the call and asked for no particular wait."""
    return error.status == THROTTLED and not error.retry_after


def in_turns(claimed: list[PendingAnnouncement]) -> list[PendingAnnouncement]:
    """``claimed`` with each conversation's cards taking turns with the others' (in their order
    otherwise): a conversation's own window (7 per second) then holds back only its second card,
    not every card behind it."""
    rounds: dict[int, int] = {}
    turns = []
    for item in claimed:
        rounds[item.conversation_ref] = rounds.get(item.conversation_ref, -1) + 1
        turns.append((rounds[item.conversation_ref], item))
    return [item for _, item in sorted(turns, key=lambda turn: turn[0])]


class OutboxSender(ClaimWorker):
    """Sends announcements: those dispatched to it at once, and any due row (``run``)."""

    def __init__(
        self,
        store: Store,
        channel: Channel,
        *,
        batch_size: int = 50,
        in_flight: Callable[[], int] = lambda: MIN_IN_FLIGHT,
        lease: timedelta = timedelta(seconds=60),
        idle_poll: float = 1.0,
        studio: str = PUBLIC_STUDIO,
        notifier: Notifier | None = None,
        on_behind: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__("outbox sender", idle_poll=idle_poll)
        self._store = store
        self._approvals = ApprovalStore(store.engine)
        self._channel = channel
        self._batch_size = batch_size
        self._in_flight = in_flight
        """How many cards of a batch to send at once (asked again for every batch)."""
        self._at_most = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.lease = lease
        """How long a claim holds: after it, another sender may take the row."""
        self._studio = studio
        self._notifier = notifier
        """Who the announcement calls (None: nobody)."""
        self._on_behind = on_behind
        """Told when a card just posted is behind its approval already (a vote came before the
        card's id was kept): the card sync brings it up to date at once, not at its next poll."""

    def dispatch(self, recorded: RecordedVersion) -> None:
        """Send the announcements the caller has just queued and claimed, without waiting for a
        poll, a few at a time; and claim the rest of the version's at once, a batch at a time."""
        if recorded.claimed:
            self._spawn(self._deliver_all(recorded.claimed))
        if recorded.unclaimed:
            self.wake()

    async def _deliver_all(self, claimed: list[PendingAnnouncement]) -> None:
        waiting = iter(claimed)

        async def deliver_waiting() -> None:
            for item in waiting:  # shared: each item goes to whichever is free first
                await self._deliver(item)

        await asyncio.gather(*(deliver_waiting() for _ in range(self._in_flight())))

    async def work_once(self) -> int:
        """Claim the due rows and send them; how many were claimed."""
        claimed = await self._store.outbox.claim(self._batch_size, self.lease)
        await self._deliver_all(in_turns(claimed))
        return len(claimed)

    async def _deliver(self, item: PendingAnnouncement) -> None:
        version = item.version
        try:
            async with self._at_most:
                with correlated(
                    version_correlation(version.source_name, version.name, version.version)
                ):
                    await self._send(item)
        except Exception:
            # Nothing is lost: the row stays claimed until its lease runs out, then is retried.
            log.exception("announcement %d failed unexpectedly; retried after its claim", item.id)

    async def _send(self, item: PendingAnnouncement) -> None:
        record = await self._approvals.get(item.approval_id)
        if record is None:  # the conversation or version was deleted meanwhile
            await self._store.outbox.failed(item.id, "its approval is gone")
            return
        t = Translator(item.locale)
        card = await shared_card(self._notifier, t, record, self._studio)
        reached("announcement_queued")
        try:
            activity_id = await self._post(item, card)
        except DeliveryError as error:
            await self._undelivered(item, error)
            return
        if activity_id is None:
            return
        if await self._store.outbox.sent(item.id, activity_id):
            self._on_behind()
        reached("card_sent")
        CARDS.labels(outcome="sent").inc()

    async def _post(self, item: PendingAnnouncement, card: Card) -> str | None:
        """Post the card if the claim is still ours: its activity id (None: not ours any more).

        Throttling that names no wait, on the card's first tries, is tried again at once: the
        retry is paced by the limits like any other send (the refused call counted against
        them), not put behind the queue. Anything else, and a third refusal, is the caller's
        to retry later, after a backoff.
        """
        for _ in range(TRIES_AT_ONCE - 1):
            try:
                return await self._post_once(item, card)
            except DeliveryError as error:
                if item.attempts or not _throttled_without_wait(error):
                    raise
                CARDS.labels(outcome="retried").inc()
        return await self._post_once(item, card)

    async def _post_once(self, item: PendingAnnouncement, card: Card) -> str | None:
        # The claim may have run out while this waited for its turn: send only if it is still
        # ours, and hold it for the longest a send can take from here.
        if not await self._store.outbox.renew(item, self.lease):
            log.info("announcement %d was taken over by another sender; not sent here", item.id)
            return None
        with CARD_SEND_SECONDS.time():
            return await self._channel.send_card(item.reference, card)

    async def _undelivered(self, item: PendingAnnouncement, error: DeliveryError) -> None:
        given_up = refused_for_good(error, item.attempts + 1)
        if given_up is not None:
            CARDS.labels(outcome="failed").inc()
            log.warning("announcement %d not sent: %s", item.id, given_up)
            await self._store.outbox.failed(item.id, given_up)
        elif error.status in GONE:
            CARDS.labels(outcome="dropped").inc()
            dropped = await self._store.outbox.drop_conversation(item.conversation_ref, str(error))
            log.warning(
                "conversation %d gone (%s): its subscriptions are off, %d queued card(s) dropped",
                item.conversation_ref,
                error.status,
                dropped,
            )
        elif error.status in RETRYABLE:
            CARDS.labels(outcome="retried").inc()
            delay = backoff(item.attempts, error.retry_after)
            log.info("announcement %d not sent (%s); next try in %.1f s", item.id, error, delay)
            await self._store.outbox.retry(item.id, timedelta(seconds=delay), str(error))
            # Look again when it falls due, rather than at the next idle poll.
            asyncio.get_running_loop().call_later(delay + RETRY_WAKE_SLACK, self.wake)
        else:
            CARDS.labels(outcome="failed").inc()
            log.error("announcement %d refused for good: %s", item.id, error)
            await self._store.outbox.failed(item.id, str(error))
