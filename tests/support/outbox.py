"""The outbox without a connector: a recording channel and a store with versions queued."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.store import Store
from domain.records import ModelVersion
from tests.support.cards import card_title
from tests.support.store import conversation

IN_FLIGHT = 4


class RecordingChannel:
    """A Channel that records cards and can hang forever after a number of sends."""

    def __init__(self, hang_after: int | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.hang_after = hang_after
        self.hanging = 0
        self.all_slots_hang = asyncio.Event()

    async def send_card(self, reference: str, card: dict) -> str:
        if self.hang_after is not None and len(self.sent) >= self.hang_after:
            self.hanging += 1
            if self.hanging == IN_FLIGHT:  # every earlier send is done and marked by now
                self.all_slots_hang.set()
            await asyncio.Event().wait()  # the process dies before the connector answers
        self.sent.append((json.loads(reference)["conversation"]["id"], card_title(card)))
        return f"activity-{len(self.sent)}"


async def queued_store(database_url: str, versions: int) -> Store:
    """A migrated store: one conversation subscribed to ``m``, and ``versions`` of it queued."""
    engine = create_engine(database_url)
    await upgrade(engine)
    store = Store(engine)
    ref, _ = await store.conversations.save(conversation())
    await store.subscriptions.add(
        ref, "m", source=None, tags={}, created_by=None, created_by_name=None
    )
    for number in range(versions):
        # A lease of zero: queued, and free for any sender to claim.
        await store.versions.record(
            ModelVersion("workspace", "ws", "m", str(number)), "event", timedelta(0)
        )
    return store
