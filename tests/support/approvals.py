"""Approvals through the real bot: a version announced, a button clicked, the card updated."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select

from app import STORE
from bot.store.tables import approvals
from tests.support.activities import card_action, installation
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, execute_actions
from tests.support.events import ANNOUNCING, post_events, registered, sample
from tests.support.waiting import wait_until


async def click(bot: BotUnderTest, verb: str, data: dict[str, Any], **who: Any) -> dict[str, Any]:
    """Click a button; the invoke response (status 200) as JSON."""
    status, body = await bot.post(card_action(bot.connector.url, verb, data, **who))
    assert status == 200, body
    answer: dict[str, Any] = json.loads(body)
    return answer


async def decide(bot: BotUnderTest, verb: str, data: dict[str, Any], **who: Any) -> None:
    """Click a card's button and wait until the card sync has updated every card, so that its
    update does not land between a command and its answer."""
    await click(bot, verb, data, **who)
    behind = (
        select(func.count())
        .select_from(approvals)
        .where(
            approvals.c.activity_id.is_not(None),
            approvals.c.shown_revision < approvals.c.card_revision,
        )
    )
    async with asyncio.timeout(5):
        while True:
            async with bot.server.app[STORE].engine.connect() as connection:
                if not await connection.scalar(behind):
                    return
            await asyncio.sleep(0.02)


async def announce(bot: BotUnderTest, version: int = 20) -> int:
    """Register a version; the approval id its card carries."""
    card = await announced_card(bot, version)
    approval_id: int = execute_actions(card)[0]["data"]["approvalId"]
    return approval_id


async def announced_card(bot: BotUnderTest, version: int) -> dict[str, Any]:
    """Register a version; the card that announced it (a new message, not an update or reply)."""
    before = len(bot.connector.calls)
    status, _ = await post_events(bot, registered(bot.arm, [sample("eventgrid", version=version)]))
    assert status == 200

    def new_messages() -> list[dict[str, Any]]:
        return [
            _card(call.body)
            for call in bot.connector.calls[before:]
            if call.method == "POST" and call.path.endswith("/activities")
        ]

    await wait_until(new_messages)
    return new_messages()[0]


async def wait_for_update(
    bot: BotUnderTest, containing: str, within: float = 5.0
) -> dict[str, Any]:
    """The card of the newest in-place update (PUT) whose text contains ``containing``."""
    async with asyncio.timeout(within):
        while True:
            for call in reversed(bot.connector.calls):
                if call.method == "PUT" and containing in card_text(_card(call.body)):
                    return _card(call.body)
            await asyncio.sleep(0.02)


def _card(body: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = body["attachments"][0]["content"]
    return content


async def start(start_bot: Any, **settings: str) -> BotUnderTest:
    """The bot watching ml-prod, installed in the release channel subscribed to sklearn_*."""
    bot: BotUnderTest = await start_bot(**ANNOUNCING, **settings)
    await bot.post(installation(bot.connector.url, "add", scope="channel"))
    await bot.say("subscribe sklearn_* workspace=ml-prod", scope="channel")
    return bot
