"""The outbox: throttling and failures lose nothing and send nothing twice; Teams' limits hold."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.channel import DeliveryError
from bot.outbox import OutboxSender, in_turns
from bot.ratelimit import MAX_IN_FLIGHT, MIN_IN_FLIGHT, CannotBook, RateLimiter, sends_in_flight
from bot.retrying import backoff
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.store import Store
from bot.store.tables import announcements, approvals
from domain.records import ModelVersion, PendingAnnouncement, RecordedVersion
from tests.support.activities import installation
from tests.support.bot import BotUnderTest
from tests.support.events import ANNOUNCING, post_events, registered, sample
from tests.support.outbox import IN_FLIGHT, RecordingChannel, queued_store
from tests.support.store import conversation, rows
from tests.support.waiting import wait_until


@pytest.fixture
async def bot(start_bot) -> BotUnderTest:
    """Announcing bot with the channel and the group chat subscribed."""
    bot_under_test: BotUnderTest = await start_bot(**ANNOUNCING)
    await bot_under_test.post(installation(bot_under_test.connector.url, "add", scope="channel"))
    for scope in ("channel", "groupChat"):
        await bot_under_test.say("subscribe sklearn_*", scope=scope)
    return bot_under_test


async def wait_for_statuses(bot: BotUnderTest, expected: list[str], within: float = 10.0) -> None:
    """Wait until the announcement rows have exactly these statuses (in any order)."""
    try:
        async with asyncio.timeout(within):
            while True:
                statuses = sorted(row["status"] for row in await rows(bot))
                if statuses == sorted(expected):
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"statuses stayed {[r['status'] for r in await rows(bot)]}") from None


def announced_conversations(bot: BotUnderTest, since: int) -> list[str]:
    return sorted(call.conversation_id for call in bot.connector.calls[since:])


@pytest.mark.slow
@pytest.mark.parametrize(
    "refusals",
    [
        [(429, {"Retry-After": "0"}), (429, {"Retry-After": "0"})],
        [(429, {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"})],
        [(503, {})],
        [(502, {"Retry-After": "0"}), (412, {"Retry-After": "0"}), (504, {"Retry-After": "0"})],
    ],
    ids=["429 twice", "429 with a date", "503 without Retry-After", "502 412 504"],
)
async def test_throttling_and_server_errors_lose_nothing_and_send_nothing_twice(
    bot: BotUnderTest, refusals
):
    before = len(bot.connector.calls)
    bot.connector.refusals = list(refusals)

    await post_events(bot, registered(bot.arm, [sample("eventgrid")]))
    await bot.connector.wait_for_calls(before + 2, within=10)
    await wait_for_statuses(bot, ["sent", "sent"])

    assert bot.connector.refused == [status for status, _ in refusals]
    assert announced_conversations(bot, before) == [
        "19:group-chat-id@thread.v2",
        "19:release-channel@thread.tacv2",
    ]
    sent = await rows(bot)
    assert [row["status"] for row in sent] == ["sent", "sent"]
    assert all(row["activity_id"].startswith("activity-") for row in sent)
    # Each refusal cost one more try, at once or later from the store; none went twice.
    assert len(bot.connector.calls) - before == 2
    assert sum(row["attempts"] for row in sent) <= len(refusals)


@pytest.mark.slow
@pytest.mark.parametrize("status", [403, 404])
async def test_a_conversation_that_is_gone_is_switched_off_not_retried(
    bot: BotUnderTest, status, caplog
):
    bot.connector.refusals = [(status, {})]  # whichever conversation comes first is gone
    before = len(bot.connector.calls)

    await post_events(bot, registered(bot.arm, [sample("eventgrid", version=1)]))
    await wait_for_statuses(bot, ["dropped", "sent"])
    await post_events(bot, registered(bot.arm, [sample("eventgrid", version=2)]))
    await wait_for_statuses(bot, ["dropped", "sent", "sent"])

    survivor = announced_conversations(bot, before)
    assert len(survivor) == 2
    assert (
        len(set(survivor)) == 1
    )  # both versions reached the other conversation, none the gone one
    assert sorted(row["status"] for row in await rows(bot)) == ["dropped", "sent", "sent"]
    assert f"gone ({status}): its subscriptions are off" in caplog.text


@pytest.mark.slow
async def test_a_card_the_connector_refuses_for_good_is_not_retried(bot: BotUnderTest):
    bot.connector.refusals = [(400, {})]

    await post_events(bot, registered(bot.arm, [sample("eventgrid")]))
    await wait_for_statuses(bot, ["failed", "sent"])

    assert bot.connector.refused == [400]
    assert sorted(row["status"] for row in await rows(bot)) == ["failed", "sent"]


@pytest.mark.slow
async def test_a_restart_sends_what_was_queued_before(bot: BotUnderTest, start_bot, database_url):
    bot.connector.refusals = [(503, {"Retry-After": "1"})] * 2
    before = len(bot.connector.calls)
    await post_events(bot, registered(bot.arm, [sample("eventgrid")]))
    await asyncio.sleep(0.3)
    await bot.server.close()  # stops its sender; both cards are still queued
    assert bot.connector.calls[before:] == []

    await start_bot(database_url=database_url, **ANNOUNCING)
    await bot.connector.wait_for_calls(before + 2, within=10)

    assert announced_conversations(bot, before) == [
        "19:group-chat-id@thread.v2",
        "19:release-channel@thread.tacv2",
    ]


async def status_counts(store: Store) -> dict[str, int]:
    async with store.engine.connect() as connection:
        rows = await connection.execute(select(announcements.c.status))
        return dict(Counter(status for (status,) in rows))


@pytest.mark.slow
@pytest.mark.both_stores
async def test_a_sender_killed_mid_batch_loses_nothing_and_sends_nothing_twice(database_url):
    store = await queued_store(database_url, versions=10)
    lease = timedelta(seconds=1.5)
    dying = RecordingChannel(hang_after=4)
    first = OutboxSender(store, dying, lease=lease, in_flight=lambda: IN_FLIGHT)
    task = asyncio.create_task(first.work_once())
    await asyncio.wait_for(dying.all_slots_hang.wait(), 10)
    task.cancel()  # killed with 4 sent and marked, the rest claimed, 4 of them in flight

    survivor = RecordingChannel()
    second = OutboxSender(store, survivor, lease=lease)
    assert await second.work_once() == 0  # the dead sender's lease still holds
    await asyncio.sleep(1.6)
    assert await second.work_once() == 6

    titles = [title for _, title in dying.sent + survivor.sent]
    assert sorted(titles) == sorted(f"New version: m {n}" for n in range(10))
    assert await status_counts(store) == {"sent": 10}
    await store.engine.dispose()


@pytest.mark.slow
@pytest.mark.both_stores
async def test_two_senders_never_claim_the_same_row(database_url):
    store = await queued_store(database_url, versions=30)
    channels = [RecordingChannel(), RecordingChannel()]
    senders = [OutboxSender(store, channel, batch_size=7) for channel in channels]

    while sum(await asyncio.gather(*(sender.work_once() for sender in senders))):
        pass

    titles = [title for channel in channels for _, title in channel.sent]
    assert len(titles) == len(set(titles)) == 30
    await store.engine.dispose()


@pytest.mark.parametrize("store_kind", ["postgresql"], indirect=True)
async def test_on_postgresql_a_claim_skips_rows_another_replica_has_locked(database_url):
    store = await queued_store(database_url, versions=3)
    async with store.engine.connect() as other_replica, other_replica.begin():
        locked = await other_replica.execute(
            select(announcements.c.id).order_by(announcements.c.id).limit(1).with_for_update()
        )
        locked_id = locked.scalar_one()

        claimed = await asyncio.wait_for(store.outbox.claim(10, timedelta(seconds=60)), 5)

    assert len(claimed) == 2
    assert locked_id not in {item.id for item in claimed}
    await store.engine.dispose()


@pytest.mark.both_stores
async def test_only_the_first_sender_to_mark_a_card_sent_sets_the_cards_activity(database_url):
    store = await queued_store(database_url, versions=1)
    (item,) = await store.outbox.claim(1, timedelta(0))  # a claim that has run out

    await store.outbox.sent(item.id, "first-activity")
    await store.outbox.sent(item.id, "late-activity")  # a sender whose claim ran out

    async with store.engine.connect() as connection:
        activities = (
            await connection.execute(
                select(announcements.c.activity_id, approvals.c.activity_id).join_from(
                    announcements, approvals, approvals.c.announcement_id == announcements.c.id
                )
            )
        ).one()
    assert tuple(activities) == ("first-activity", "first-activity")
    await store.engine.dispose()


@pytest.mark.both_stores
async def test_a_sender_whose_claim_was_taken_over_while_it_waited_does_not_send(database_url):
    store = await queued_store(database_url, versions=1)
    (stale,) = await store.outbox.claim(1, timedelta(0))  # ran out at once
    (taken_over,) = await store.outbox.claim(1, timedelta(seconds=60))
    channel = RecordingChannel()
    sender = OutboxSender(store, channel)

    sender.dispatch(RecordedVersion(new=True, claimed=[stale]))
    await sender.stop(grace=5)
    sent_by_the_stale_claim = list(channel.sent)
    sender = OutboxSender(store, channel)
    sender.dispatch(RecordedVersion(new=True, claimed=[taken_over]))
    await sender.stop(grace=5)

    assert sent_by_the_stale_claim == []
    assert [title for _, title in channel.sent] == ["New version: m 0"]
    assert await status_counts(store) == {"sent": 1}
    await store.engine.dispose()


@pytest.mark.both_stores
async def test_a_version_recorded_twice_queues_once(database_url):
    store = await queued_store(database_url, versions=1)

    again = await store.versions.record(
        ModelVersion("workspace", "ws", "m", "0"), "poll", timedelta(0)
    )

    assert (again.new, again.claimed) == (False, [])
    assert await status_counts(store) == {"queued": 1}
    await store.engine.dispose()


@pytest.mark.both_stores
async def test_a_version_for_many_channels_is_claimed_a_batch_at_a_time(database_url):
    """The recorder claims the first few to send at once; a sender claims the rest from the
    store, and every channel gets its card once, with its own approval."""
    engine = create_engine(database_url)
    await upgrade(engine)
    store = Store(engine)
    for number in range(7):
        ref, _ = await store.conversations.save(conversation(f"19:c{number}@thread.tacv2"))
        await store.subscriptions.add(
            ref, "m", source=None, tags={}, created_by=None, created_by_name=None
        )
    channel = RecordingChannel()
    sender = OutboxSender(store, channel, batch_size=2, idle_poll=60)
    running = asyncio.create_task(sender.run())

    recorded = await store.versions.record(
        ModelVersion("workspace", "ws", "m", "1"), "event", sender.lease, claim_first=3
    )
    sender.dispatch(recorded)
    await wait_until(lambda: len(channel.sent) == 7, within=10)
    await sender.stop(grace=5)
    running.cancel()

    assert (len(recorded.claimed), recorded.unclaimed) == (3, 4)
    assert len({item.approval_id for item in recorded.claimed}) == 3
    assert sorted(conversation_id for conversation_id, _ in channel.sent) == [
        f"19:c{number}@thread.tacv2" for number in range(7)
    ]
    assert await status_counts(store) == {"sent": 7}
    await engine.dispose()


class Throttling(RecordingChannel):
    """Refuses each conversation's first ``times`` calls with ``status`` and ``retry_after``."""

    def __init__(self, status: int, retry_after: float | None, times: int) -> None:
        super().__init__()
        self.status = status
        self.retry_after = retry_after
        self.times = times
        self.calls: list[str] = []

    async def send_card(self, reference: str, card: dict) -> str:
        self.calls.append(reference)
        if self.calls.count(reference) <= self.times:
            raise DeliveryError(self.status, self.retry_after, "refused")
        return await super().send_card(reference, card)


@pytest.mark.parametrize(
    ("status", "retry_after", "times", "outcome"),
    [
        (429, None, 1, (2, "sent", 0)),
        (429, 0.0, 2, (3, "sent", 0)),
        # Tried again later, from the store, after its backoff or Retry-After:
        (429, None, 3, (3, "queued", 1)),
        (429, 30.0, 1, (1, "queued", 1)),
        (503, None, 1, (1, "queued", 1)),
    ],
    ids=["429", "429 Retry-After 0 twice", "429 three times", "429 Retry-After 30", "503"],
)
async def test_throttling_that_names_no_wait_is_retried_at_once_not_behind_the_queue(
    database_url, status, retry_after, times, outcome
):
    store = await queued_store(database_url, versions=1)
    (item,) = await store.outbox.claim(1, timedelta(seconds=60))
    channel = Throttling(status, retry_after, times)
    sender = OutboxSender(store, channel, idle_poll=60)

    sender.dispatch(RecordedVersion(new=True, claimed=[item]))
    await sender.stop(grace=5)

    async with store.engine.connect() as connection:
        (row,) = (await connection.execute(select(announcements))).mappings().all()
    assert (len(channel.calls), row["status"], row["attempts"]) == outcome
    await store.engine.dispose()


def test_backoff_honours_retry_after_and_otherwise_grows_with_jitter():
    assert backoff(5, 12.0) == 12.0
    assert backoff(0, 99999.0) == 3600.0
    assert 0.25 <= backoff(0, None) <= 0.5
    assert 8.0 <= backoff(5, None) <= 16.0
    assert backoff(30, None) <= 300.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def send_times(
    limiter: RateLimiter, clock: FakeClock, conversations: list[str]
) -> list[float]:
    times = []
    for conversation_id in conversations:
        await limiter.acquire(conversation_id)
        times.append(clock.now)
    return times


async def test_one_conversation_gets_at_most_7_per_second_and_60_per_30_seconds():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)

    times = await send_times(limiter, clock, ["c"] * 61)

    for index in range(len(times) - 7):
        assert times[index + 7] - times[index] >= 1.0
    assert times[60] - times[0] >= 30.0
    assert times[6] == 0.0  # the first seven go at once


async def test_the_app_gets_at_most_50_per_second_across_conversations():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)

    times = await send_times(limiter, clock, [f"c{i}" for i in range(150)])

    for index in range(len(times) - 50):
        assert times[index + 50] - times[index] >= 1.0
    assert times[-1] < 3.0  # and no slower than that


async def test_a_conversation_waiting_for_its_own_window_holds_up_no_other():
    limiter = RateLimiter(conversation_windows=((1, 0.5),), app_windows=((50, 1.0),))
    await limiter.acquire("busy")
    booked: list[str] = []

    async def send(conversation: str) -> None:
        await limiter.acquire(conversation)
        booked.append(conversation)

    await asyncio.gather(send("busy"), send("idle"))

    assert booked == ["idle", "busy"]


async def test_a_wait_longer_than_a_claim_hands_the_message_back():
    clock = FakeClock()
    limiter = RateLimiter(conversation_windows=((1, 100.0),), clock=clock, sleep=clock.sleep)
    await limiter.acquire("c")

    with pytest.raises(CannotBook) as refusal:
        await limiter.acquire("c")

    assert refusal.value.retry_after == 100.0
    assert clock.now == 0.0  # refused at once, not after waiting


@pytest.mark.slow
async def test_a_send_the_limits_put_off_is_sent_later_once(bot: BotUnderTest, monkeypatch):
    book = RateLimiter.acquire
    put_off: list[object] = []

    async def first_put_off(self: RateLimiter, conversation: object) -> None:
        if not put_off:
            put_off.append(conversation)
            raise CannotBook("Teams' limits let the next message go in 0 s", 0.2)
        await book(self, conversation)

    monkeypatch.setattr(RateLimiter, "acquire", first_put_off)
    before = len(bot.connector.calls)

    await post_events(bot, registered(bot.arm, [sample("eventgrid")]))
    await wait_for_statuses(bot, ["sent", "sent"])

    assert len(announced_conversations(bot, before)) == 2  # each conversation once
    retried = [row for row in await rows(bot) if row["attempts"] == 1]
    assert [row["last_error"] for row in retried] == [
        "Teams' limits let the next message go in 0 s"
    ]


class BrokenChannel(RecordingChannel):
    """A channel whose first send fails in a way nobody planned for."""

    async def send_card(self, reference: str, card: dict) -> str:
        if not self.sent and not getattr(self, "failed", False):
            self.failed = True
            raise RuntimeError("unexpected")
        return await super().send_card(reference, card)


@pytest.mark.slow
async def test_an_unexpected_failure_is_logged_and_the_card_sent_after_the_claim(
    database_url, caplog
):
    store = await queued_store(database_url, versions=1)
    channel = BrokenChannel()
    sender = OutboxSender(store, channel, lease=timedelta(milliseconds=200))

    assert await sender.work_once() == 1
    await asyncio.sleep(0.25)
    assert await sender.work_once() == 1

    assert "failed unexpectedly" in caplog.text
    assert [title for _, title in channel.sent] == ["New version: m 0"]
    await store.engine.dispose()


@pytest.mark.both_stores
async def test_a_card_posted_after_a_vote_is_reported_behind_its_approval(database_url):
    store = await queued_store(database_url, versions=2)
    voted_on, untouched = await store.outbox.claim(2, timedelta(seconds=60))
    async with store.engine.begin() as connection:  # a vote came while the card was posted
        await connection.execute(
            update(approvals)
            .where(approvals.c.id == voted_on.approval_id)
            .values(card_revision=approvals.c.card_revision + 1)
        )

    behind = await store.outbox.sent(voted_on.id, "activity-1")
    current = await store.outbox.sent(untouched.id, "activity-2")
    again = await store.outbox.sent(voted_on.id, "activity-3")  # not the first: not its card

    assert (behind, current, again) == (True, False, False)
    await store.engine.dispose()


def test_a_batch_sends_each_conversations_cards_in_turns_with_the_others():
    def item(number: int, conversation_ref: int) -> PendingAnnouncement:
        version = ModelVersion("workspace", "ws", "m", str(number))
        return PendingAnnouncement(number, conversation_ref, "{}", None, 0, 1, number, version, 1)

    batch = [item(1, 7), item(2, 7), item(3, 7), item(4, 8), item(5, 9), item(6, 8)]

    assert [card.id for card in in_turns(batch)] == [1, 4, 5, 2, 6, 3]


def test_as_many_sends_are_under_way_as_keep_the_apps_rate_busy_at_teams_pace():
    assert sends_in_flight(0.0) == MIN_IN_FLIGHT  # a quick Teams: a few
    assert sends_in_flight(0.15) == 12  # 50 per 1.02 s for 0.15 s, and half again
    assert sends_in_flight(10.0) == MAX_IN_FLIGHT  # never many


class SlowChannel(RecordingChannel):
    """Answers no call until ``expected`` are under way at once (or a few seconds passed), and
    counts the most that were."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.under_way = 0
        self.most_under_way = 0
        self.all_under_way = asyncio.Event()

    async def send_card(self, reference: str, card: dict) -> str:
        self.under_way += 1
        self.most_under_way = max(self.most_under_way, self.under_way)
        if self.under_way >= self.expected:
            self.all_under_way.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_under_way.wait(), 3)
        self.under_way -= 1
        return await super().send_card(reference, card)


async def test_a_batch_has_as_many_sends_under_way_as_the_sender_is_told(database_url):
    store = await queued_store(database_url, versions=0)
    for number in range(24):
        ref, _ = await store.conversations.save(conversation(f"19:c{number}@thread.tacv2"))
        await store.subscriptions.add(
            ref, "wide", source=None, tags={}, created_by=None, created_by_name=None
        )
    channel = SlowChannel(expected=12)
    sender = OutboxSender(store, channel, in_flight=lambda: 12)

    sender.dispatch(
        await store.versions.record(
            ModelVersion("workspace", "ws", "wide", "1"), "event", sender.lease, claim_first=24
        )
    )
    await sender.stop(grace=10)

    assert (len(channel.sent), channel.most_under_way) == (24, 12)
    await store.engine.dispose()
