"""Nothing waits unseen: at half the expiry and an hour before it, one reply in the card's thread
calls the approvers who have not voted yet, once across replicas and restarts; an expiry takes the
buttons off the card without a click; ``pending`` lists the soonest expiry first. Time is the
test's own clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from bot.cardsync import CardSync
from bot.notify import Notifier, NotifyMode
from bot.reminders import Reminders
from bot.roster import Roster
from bot.store.approvals import ApprovalStore
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.reminders import ReminderStore
from bot.store.store import Store
from bot.store.tables import approval_votes, approvals
from dialogs.policy import PolicyDefaults
from domain.records import Member, ModelVersion
from tests.support.activities import ALICE, BOB
from tests.support.cards import card_text
from tests.support.store import conversation

pytestmark = pytest.mark.both_stores

EXPIRY = timedelta(hours=10)
MEMBERS = [
    Member("29:alice", ALICE, "Alice Example", "alice@contoso.com"),
    Member("29:bob", BOB, "Bob Example", "bob@contoso.com"),
    Member("29:carol", "00000000-0000-0000-0000-0000000ca401", "Carol Example", "carol@c.com"),
]


class Thread:
    """A Channel that records the replies into cards' threads and the cards updated in place."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, dict[str, Any]]] = []
        self.updates: list[tuple[str, dict[str, Any]]] = []

    async def send_card(self, reference: str, card: dict[str, Any]) -> str:
        raise AssertionError(f"nothing new is posted: {reference} {card}")

    async def update_card(self, reference: str, activity_id: str, card: dict[str, Any]) -> None:
        assert reference
        self.updates.append((activity_id, card))

    async def reply_card(self, reference: str, activity_id: str, card: dict[str, Any]) -> str:
        assert reference
        self.replies.append((activity_id, card))
        return f"reply-{len(self.replies)}"

    def mentioned(self) -> list[list[str]]:
        """The user ids each reply mentions."""
        return [
            [e["mentioned"]["id"] for e in card.get("msteams", {}).get("entities", [])]
            for _, card in self.replies
        ]


class Members:
    """The conversation's roster, in one page; it can fail."""

    def __init__(self) -> None:
        self.failing = False

    async def members_page(
        self, reference: str, continuation: str | None
    ) -> tuple[list[Member], str | None]:
        assert reference
        assert continuation is None  # one page: no token was handed out
        if self.failing:
            raise ConnectionError("no answer")
        return MEMBERS, None


class Clock:
    """The test's time: ``at(hours)`` after the approval was asked for."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def at(self, hours: float) -> None:
        self.now = self.start + timedelta(hours=hours)

    def __call__(self) -> datetime:
        return self.now


async def waiting(database_url: str) -> tuple[Store, int, Clock]:
    """A card posted (activity-1) that asks Alice and Bob (2 of them) to approve within ten hours."""
    engine = create_engine(database_url)
    await upgrade(engine)
    defaults = PolicyDefaults(
        approvers=frozenset({ALICE, "bob@contoso.com"}), required_approvals=2, expiry=EXPIRY
    )
    store = Store(engine, defaults)
    ref, _ = await store.conversations.save(conversation())
    await store.subscriptions.add(
        ref, "m", source=None, tags={}, created_by=None, created_by_name=None
    )
    await store.versions.record(ModelVersion("workspace", "ws", "m", "1"), "event", timedelta(0))
    (item,) = await store.outbox.claim(1, timedelta(seconds=60))
    await store.outbox.sent(item.id, "activity-1")
    record = await ApprovalStore(engine).get(item.approval_id)
    assert record is not None
    return store, item.approval_id, Clock(record.requested_at)


def reminders(
    store: Store, thread: Thread, clock: Clock, mode: NotifyMode = NotifyMode.MENTIONS, **kw: Any
) -> Reminders:
    notifier = Notifier(mode, Roster(kw.pop("members", Members())))
    return Reminders(ReminderStore(store.engine), thread, notifier, clock=clock, **kw)


async def sent_count(store: Store, approval_id: int) -> int:
    async with store.engine.connect() as connection:
        query = select(approvals.c.reminders_sent).where(approvals.c.id == approval_id)
        return int(await connection.scalar(query) or 0)


async def test_reminders_come_at_half_the_expiry_and_an_hour_before_it_once_each(database_url):
    store, approval_id, clock = await waiting(database_url)
    thread = Thread()
    worker = reminders(store, thread, clock)

    clock.at(4.99)
    early = await worker.work_once()
    clock.at(5)
    await worker.work_once()
    clock.at(5.1)
    await worker.work_once()
    async with store.engine.begin() as connection:  # Alice approves
        await connection.execute(
            insert(approval_votes).values(
                approval_id=approval_id,
                voter_id=ALICE,
                voter_upn="alice@contoso.com",
                voter_name="Alice Example",
                voted_at=clock(),
            )
        )
    clock.at(9)
    await worker.work_once()
    clock.at(9.5)
    await worker.work_once()

    assert early == 0
    assert [activity for activity, _ in thread.replies] == ["activity-1", "activity-1"]
    assert thread.mentioned() == [["29:alice", "29:bob"], ["29:bob"]]
    first = card_text(thread.replies[0][1])
    assert "Reminder: m 1 is still waiting for approval (0 of 2 so far)." in first
    assert "<at>Alice Example</at>, <at>Bob Example</at>: please approve or reject it" in first
    assert await sent_count(store, approval_id) == 2
    await store.engine.dispose()


async def test_replicas_reminding_at_once_post_one_reply(database_url):
    store, approval_id, clock = await waiting(database_url)
    thread = Thread()
    clock.at(5)

    await asyncio.gather(*(reminders(store, thread, clock).work_once() for _ in range(3)))

    assert len(thread.replies) == 1
    assert await sent_count(store, approval_id) == 1
    await store.engine.dispose()


async def test_a_reminder_whose_claim_ran_out_is_posted_once_by_the_worker_that_took_it(
    database_url,
):
    store, approval_id, clock = await waiting(database_url)
    thread = Thread()
    clock.at(5)
    (stale,) = await ReminderStore(store.engine).claim_due(clock(), 10, timedelta(0))
    worker = reminders(store, thread, clock)

    await worker.work_once()  # takes over the claim that ran out
    await worker._remind(stale)  # the first worker wakes up late: its claim is gone

    assert len(thread.replies) == 1
    assert await sent_count(store, approval_id) == 1
    await store.engine.dispose()


async def test_a_bot_that_was_down_posts_only_the_latest_reminder_due(database_url):
    store, approval_id, clock = await waiting(database_url)
    thread = Thread()
    worker = reminders(store, thread, clock)

    clock.at(9.5)
    await worker.work_once()
    clock.at(9.9)
    await worker.work_once()

    assert len(thread.replies) == 1
    assert await sent_count(store, approval_id) == 1
    await store.engine.dispose()


@pytest.mark.parametrize("how", ["expired", "rejected"])
async def test_no_reminder_after_the_expiry_or_a_decision(database_url, how):
    store, approval_id, clock = await waiting(database_url)
    thread = Thread()
    if how == "rejected":
        async with store.engine.begin() as connection:
            await connection.execute(
                update(approvals).where(approvals.c.id == approval_id).values(state="rejected")
            )
    clock.at(10.01 if how == "expired" else 5)

    await reminders(store, thread, clock).work_once()

    assert thread.replies == []
    await store.engine.dispose()


async def test_a_roster_that_cannot_be_read_still_reminds_without_mentions(database_url):
    store, _, clock = await waiting(database_url)
    thread, members = Thread(), Members()
    members.failing = True
    clock.at(5)

    await reminders(store, thread, clock, members=members).work_once()

    assert len(thread.replies) == 1
    assert thread.mentioned() == [[]]
    assert "<at>" not in card_text(thread.replies[0][1])
    await store.engine.dispose()


@pytest.mark.parametrize(("mode", "replies"), [(NotifyMode.CHANNEL, 1), (NotifyMode.NONE, 0)])
async def test_channel_reminds_without_mentions_and_none_not_at_all(database_url, mode, replies):
    store, _, clock = await waiting(database_url)
    thread = Thread()
    clock.at(5)

    await reminders(store, thread, clock, mode).work_once()

    assert len(thread.replies) == replies
    assert thread.mentioned() == [[]] * replies
    await store.engine.dispose()


async def test_at_its_expiry_the_card_says_expired_and_loses_its_buttons_without_a_click(
    database_url,
):
    store, _, clock = await waiting(database_url)
    thread = Thread()
    sync = CardSync(ApprovalStore(store.engine), thread, clock=clock, expiry_sweep=3600.0)

    clock.at(9.99)
    await sync.work_once()  # the next sweep is due at the expiry, not an hour later
    before = list(thread.updates)
    clock.at(10.001)
    await sync.work_once()

    assert before == []
    ((activity, card),) = thread.updates
    assert activity == "activity-1"
    assert "Expired without a decision" in card_text(card)
    assert [a for a in card["actions"] if a["type"] in ("Action.Execute", "Action.ShowCard")] == []
    await store.engine.dispose()


async def test_pending_lists_the_soonest_expiry_first(database_url):
    store, first, clock = await waiting(database_url)
    await store.versions.record(ModelVersion("workspace", "ws", "m", "2"), "event", timedelta(0))
    async with store.engine.begin() as connection:  # the first asks for longer than the second
        await connection.execute(
            update(approvals)
            .where(approvals.c.id == first)
            .values(expires_at=clock.start + timedelta(hours=20))
        )
    conversation_ref = (await ApprovalStore(store.engine).get(first)).conversation_ref

    waiting_here = await ApprovalStore(store.engine).pending_in(conversation_ref)

    assert [record.version.version for record in waiting_here] == ["2", "1"]
    await store.engine.dispose()
