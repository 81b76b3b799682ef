"""The operator's policy is a floor: chat may tighten a subscription, never loosen it, and the
person who asks for a deployment never approves it. Each refusal says why and is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import STORE
from bot.store.subscriptions import MAX_SUBSCRIPTIONS
from bot.store.tables import approval_audit, approvals, command_audit, subscriptions
from domain.records import ModelVersion
from tests.support.activities import USER_ID, card_action
from tests.support.approvals import click
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, execute_actions
from tests.support.store import count

OUTSIDER = "00000000-0000-0000-0000-0000000000ee"
ALLOWED = "00000000-0000-0000-0000-00000000a11c"
BOB = "00000000-0000-0000-0000-000000000b0b"
FLOOR = {
    "RELEASEBOT_APPROVERS": f"{ALLOWED},{BOB}",
    "RELEASEBOT_REQUIRED_APPROVALS": "2",
    "RELEASEBOT_APPROVAL_EXPIRY_HOURS": "48",
    "RELEASEBOT_DEPLOY_TARGET": "pipeline:42",
    "RELEASEBOT_DEPLOY_TARGETS": "release:7",
}


async def audit_details(bot: BotUnderTest) -> list[str]:
    async with bot.server.app[STORE].engine.connect() as connection:
        rows = await connection.execute(select(command_audit.c.detail).order_by(command_audit.c.id))
        return list(rows.scalars())


async def test_a_subscription_cannot_loosen_the_floor(start_bot):
    bot = await start_bot(**FLOOR)

    card = await bot.say(
        f"subscribe fraud* approvers={OUTSIDER} approvals=1 expiry=100h deploy=pipeline:999",
        scope="channel",
    )

    text = card_text(card)
    assert OUTSIDER in text
    assert "At least 2 approvals" in text
    assert "at most 48 hours" in text
    assert "pipeline:999 is not one your bot administrator allows" in text
    assert "pipeline:42, release:7" in text
    assert await count(bot, subscriptions) == 0
    assert await audit_details(bot) == [
        "policy.approvers_outside",
        "policy.approvals_below",
        "policy.expiry_above",
        "policy.quorum_unreachable",
        "policy.target_not_allowed",
    ]


async def test_a_subscription_may_tighten_the_floor(start_bot):
    bot = await start_bot(**FLOOR)

    card = await bot.say(
        f"subscribe fraud* approvers={BOB},{ALLOWED} approvals=2 expiry=24h deploy=release:7",
        scope="channel",
    )

    assert "Subscribed" in card_text(card)
    assert await count(bot, subscriptions) == 1


async def test_the_german_refusal_is_german(start_bot):
    bot = await start_bot(**FLOOR)

    card = await bot.say(
        "abonnieren fraud* bereitstellen=pipeline:999", scope="channel", locale="de-DE"
    )

    assert "nicht zugelassen" in card_text(card)


async def test_resubscribing_says_what_changed(bot: BotUnderTest):
    await bot.say("subscribe fraud* approvals=3", scope="channel")

    card = await bot.say("subscribe fraud* approvals=2", scope="channel")

    text = card_text(card)
    assert "changed" in text
    assert "Before:" in text
    assert "3" in text.split("Before:")[1]


@pytest.mark.slow
async def test_a_conversation_holds_at_most_a_hundred_subscriptions(bot: BotUnderTest):
    for index in range(MAX_SUBSCRIPTIONS):
        await bot.say(f"subscribe model-{index}", scope="channel")

    card = await bot.say("subscribe one-too-many", scope="channel")

    assert f"already has {MAX_SUBSCRIPTIONS} subscriptions" in card_text(card)
    assert await count(bot, subscriptions) == MAX_SUBSCRIPTIONS
    assert await audit_details(bot) == ["error.too_many_subscriptions"]


async def known_version(bot: BotUnderTest, version: str = "7") -> None:
    store = bot.server.app[STORE]
    registered = ModelVersion("workspace", "ws", "fraud_model", version, created_by="Carol")
    await store.versions.remember([registered], "poll")


async def test_the_requester_cannot_approve_their_own_deploy(bot: BotUnderTest):
    await known_version(bot)
    card = await bot.say("deploy fraud_model 7", scope="channel")
    approval_id = execute_actions(card)[0]["data"]["approvalId"]

    own = await click(bot, "approve", {"approvalId": approval_id}, user=USER_ID, name="Ada")
    other = await click(bot, "approve", {"approvalId": approval_id}, user=BOB, name="Bob")

    assert "You asked for this deployment" in card_text(own["value"])
    assert "Approved" in card_text(other["value"])
    async with bot.server.app[STORE].engine.connect() as connection:
        audit = await connection.execute(select(approval_audit.c.action, approval_audit.c.detail))
        assert ("refused", "approve: approval.own_request") in list(audit)


async def test_deploy_in_a_personal_chat_belongs_in_a_channel(bot: BotUnderTest):
    await known_version(bot)

    card = await bot.say("deploy fraud_model 7", scope="personal")

    assert "not in a personal chat" in card_text(card)
    assert await count(bot, approvals) == 0
    assert await audit_details(bot) == ["error.request_in_personal_chat"]


@pytest.mark.slow
async def test_rollback_in_a_personal_chat_belongs_in_a_channel(bot: BotUnderTest):
    card = await bot.say("rollback fraud_model", scope="personal")

    assert "not in a personal chat" in card_text(card)


async def test_a_non_manager_is_refused_and_audited(start_bot):
    bot = await start_bot(RELEASEBOT_SUBSCRIPTION_MANAGERS=OUTSIDER)

    card = await bot.say("subscribe fraud*", scope="channel")

    assert "subscription managers" in card_text(card)
    assert await audit_details(bot) == ["error.not_manager"]


async def test_a_stored_subscription_is_held_to_a_raised_floor(start_bot, database_url):
    loose = await start_bot(RELEASEBOT_DEPLOY_TARGET="pipeline:42")
    await loose.say("subscribe fraud_model approvals=1", scope="channel")
    strict = await start_bot(
        RELEASEBOT_REQUIRED_APPROVALS="2", RELEASEBOT_DEPLOY_TARGET="pipeline:42"
    )
    store = strict.server.app[STORE]
    version = ModelVersion("workspace", "ws", "fraud_model", "8", created_by="Carol")

    recorded = await store.versions.record(version, "poll", timedelta(seconds=60))
    approval_id = recorded.claimed[0].approval_id
    await click(strict, "approve", {"approvalId": approval_id}, user=BOB, name="Bob")

    async with store.engine.connect() as connection:
        state = await connection.scalar(
            select(approvals.c.state).where(approvals.c.id == approval_id)
        )
    assert state == "pending"  # one approval of the two the floor asks for


async def test_a_quorum_nobody_can_reach_is_refused(bot: BotUnderTest):
    card = await bot.say(f"subscribe fraud* approvers={BOB} approvals=2", scope="channel")

    assert "can never give the 2 approvals" in card_text(card)
    assert await count(bot, subscriptions) == 0


async def test_an_approval_in_a_personal_chat_is_refused(bot: BotUnderTest):
    await bot.say("subscribe fraud_model", scope="personal")
    version = ModelVersion("workspace", "ws", "fraud_model", "9", created_by="Carol")
    store = bot.server.app[STORE]
    recorded = await store.versions.record(version, "poll", timedelta(seconds=60))
    click_here = card_action(
        bot.connector.url, "approve", {"approvalId": recorded.claimed[0].approval_id}
    )
    click_here["conversation"] = {
        "id": "a:1personal-chat-with-ada",
        "conversationType": "personal",
        "tenantId": click_here["conversation"]["tenantId"],
    }

    status, body = await bot.post(click_here)

    assert status == 200
    assert "not in a personal chat" in body
    async with store.engine.connect() as connection:
        audit = await connection.execute(select(approval_audit.c.detail))
        assert list(audit.scalars()) == ["approve: approval.personal_chat"]
