"""Card sync: a sender whose card claim ran out while it updated the card does not post the
deployment's result; the sender that claimed the card since posts it, once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update

from bot.cardsync import CardSync
from bot.store.approvals import ApprovalStore
from bot.store.clock import utcnow
from bot.store.store import Store
from bot.store.tables import approvals, deployments
from tests.support.cards import card_title
from tests.support.outbox import queued_store

pytestmark = pytest.mark.both_stores


class ThreadChannel:
    """Records card updates and replies into a card's thread: (activity, card title)."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str]] = []
        self.replies: list[tuple[str, str]] = []

    async def send_card(self, reference: str, card: dict[str, Any]) -> str:
        raise AssertionError(f"card sync posts no new cards: {reference} {card}")

    async def update_card(self, reference: str, activity_id: str, card: dict[str, Any]) -> None:
        assert reference
        self.updates.append((activity_id, card_title(card)))

    async def reply_card(self, reference: str, activity_id: str, card: dict[str, Any]) -> str:
        assert reference
        self.replies.append((activity_id, card_title(card)))
        return f"reply-{len(self.replies)}"


async def finished_deployment(store: Store) -> None:
    """The announced card's approval was approved and its run succeeded; the card is behind."""
    (item,) = await store.outbox.claim(1, timedelta(seconds=60))
    await store.outbox.sent(item.id, "activity-1")
    now = utcnow()
    async with store.engine.begin() as connection:
        await connection.execute(
            update(approvals)
            .where(approvals.c.id == item.approval_id)
            .values(state="approved", card_revision=2)
        )
        await connection.execute(
            insert(deployments).values(
                approval_id=item.approval_id,
                model_version_id=item.version_id,
                deployment_key="mrb-test-1",
                target="pipeline:42",
                requested_by="Ada",
                status="finished",
                run_status="succeeded",
                attempts=1,
                next_attempt_at=now,
                run_id=1001,
                run_name="Run-1001",
                created_at=now,
                updated_at=now,
                finished_at=now,
                result_reported=False,
            )
        )


async def test_a_card_claim_taken_over_posts_the_result_once(database_url: str):
    store = await queued_store(database_url, versions=1)
    await finished_deployment(store)
    cards = ApprovalStore(store.engine)
    (stale,) = await cards.claim_card_updates(10, timedelta(0))  # ran out at once
    (taken_over,) = await cards.claim_card_updates(10, timedelta(seconds=60))
    channel = ThreadChannel()
    sync = CardSync(cards, channel)

    await sync._sync(stale)
    replies_of_the_stale_claim = list(channel.replies)
    await sync._sync(taken_over)

    assert replies_of_the_stale_claim == []
    assert channel.replies == [("activity-1", "Result for m 0")]
    assert await cards.claim_card_updates(10, timedelta(0)) == []  # shown, nothing left to do
    await store.engine.dispose()
