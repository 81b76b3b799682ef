"""Install, uninstall and membership events keep the conversation references proactive messages need."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.store.engine import create_engine
from bot.store.tables import conversations
from fakes.identity import TENANT_ID
from tests.support.activities import CONVERSATIONS, installation, members_changed, message
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text


async def stored_conversations(bot: BotUnderTest) -> list[dict]:
    engine = create_engine(bot.settings.database_url)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(select(conversations).order_by(conversations.c.id))
        ).mappings()
        result = [dict(row) for row in rows]
    await engine.dispose()
    return result


@pytest.mark.parametrize("scope", ["personal", "groupChat", "channel"])
async def test_install_stores_the_reference_and_greets_with_help(bot: BotUnderTest, scope: str):
    status, _ = await bot.post(installation(bot.connector.url, "add", scope=scope))

    assert status == 202
    [row] = await stored_conversations(bot)
    assert row["active"] is True
    assert row["conversation_id"] == CONVERSATIONS[scope]
    assert row["conversation_type"] == scope
    assert row["tenant_id"] == TENANT_ID
    assert row["service_url"] == bot.connector.url
    reference = json.loads(row["reference"])
    assert reference["conversation"]["id"] == CONVERSATIONS[scope]
    assert reference["serviceUrl"] == bot.connector.url
    assert reference["bot"]["id"].endswith("11111111-2222-3333-4444-555555555555")
    assert "Hello! I announce new Azure ML model versions here" in card_text(
        bot.connector.last_card()
    )


async def test_install_greets_in_the_installers_language(bot: BotUnderTest):
    await bot.post(installation(bot.connector.url, "add", locale="de-DE"))

    assert "Hallo!" in card_text(bot.connector.last_card())


@pytest.mark.both_stores
async def test_install_and_members_added_together_greet_once(bot: BotUnderTest):
    await bot.post(installation(bot.connector.url, "add"))
    await bot.post(members_changed(bot.connector.url, added=True))
    await bot.post(installation(bot.connector.url, "add"))

    assert len(bot.connector.cards()) == 1
    assert len(await stored_conversations(bot)) == 1


async def test_uninstall_deactivates_and_reinstall_reactivates_and_greets_again(bot: BotUnderTest):
    await bot.post(installation(bot.connector.url, "add"))
    await bot.post(installation(bot.connector.url, "remove"))
    [removed] = await stored_conversations(bot)

    await bot.post(members_changed(bot.connector.url, added=True))
    [back] = await stored_conversations(bot)

    assert removed["active"] is False
    assert back["active"] is True
    assert len(bot.connector.cards()) == 2


async def test_bot_removed_as_a_member_deactivates(bot: BotUnderTest):
    await bot.post(members_changed(bot.connector.url, added=True, scope="groupChat"))
    await bot.post(members_changed(bot.connector.url, added=False, scope="groupChat"))

    [row] = await stored_conversations(bot)
    assert row["active"] is False
    assert len(bot.connector.calls) == 1  # the greeting; nothing is sent to a conversation we left


async def test_other_members_joining_does_not_greet(bot: BotUnderTest):
    activity = members_changed(bot.connector.url, added=True) | {
        "membersAdded": [{"id": "29:new-colleague", "name": "Grace"}]
    }

    status, _ = await bot.post(activity)

    assert status == 202
    assert bot.connector.calls == []
    [row] = await stored_conversations(bot)
    assert row["active"] is True


async def test_every_activity_refreshes_the_stored_reference(bot: BotUnderTest):
    await bot.post(installation(bot.connector.url, "add", scope="channel"))
    moved = message(bot.connector.url, "help", scope="channel")
    moved["serviceUrl"] = bot.connector.url + "emea/"
    token = bot.keys.token(serviceurl=moved["serviceUrl"])

    status, _ = await bot.post(moved, token=token)

    assert status == 202
    assert bot.connector.calls[-1].path.startswith("/emea/v3/conversations/")
    [row] = await stored_conversations(bot)
    assert row["service_url"].endswith("/emea/")
    assert json.loads(row["reference"])["serviceUrl"].endswith("/emea/")
    # A thread reply is stored as the channel itself, so that announcements start new threads.
    assert row["conversation_id"] == CONVERSATIONS["channel"]


async def test_a_message_from_an_unknown_conversation_stores_it(bot: BotUnderTest):
    await bot.say("help", scope="groupChat")

    [row] = await stored_conversations(bot)
    assert row["conversation_type"] == "groupChat"
    assert row["active"] is True


async def test_an_unchanged_conversation_is_not_written_again(bot: BotUnderTest):
    await bot.say("help", scope="channel")
    [before] = await stored_conversations(bot)

    await bot.say("subscriptions", scope="channel")
    await bot.say("help", scope="channel")
    [after] = await stored_conversations(bot)

    assert after["updated_at"] == before["updated_at"]
    assert "requestId" not in json.loads(after["reference"])
