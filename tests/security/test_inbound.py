"""Who may talk to the bot: Teams' channel service only, for the tenants the bot serves.

Each attack is sent as an attacker would send it: over HTTP, signed by our own test issuer.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from app import STORE
from bot.store.tables import approval_votes, command_audit, conversations, subscriptions
from domain.records import ModelVersion
from fakes.identity import ENTRA_ISSUER, TENANT_ID
from tests.support.activities import card_action, installation, message
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text
from tests.support.store import count

OTHER_TENANT = "99999999-8888-7777-6666-555555555555"
ATTACKER_APP = "0ba0ba0b-1111-2222-3333-444444444444"
APPROVER = "00000000-0000-0000-0000-00000000a11c"
ENTRA_ISSUERS = (ENTRA_ISSUER, f"https://sts.windows.net/{TENANT_ID}/")


def app_only_token(bot: BotUnderTest, issuer: str, app_id: str = ATTACKER_APP) -> str:
    """What any app of the bot's tenant gets from Entra for ``<bot app id>/.default``."""
    return bot.keys.token(iss=issuer, tid=TENANT_ID, appid=app_id, azp=app_id, ver="2.0")


async def pending_approval(bot: BotUnderTest) -> int:
    """A channel of our tenant subscribed to fraud_model, and version 7 announced to it."""
    await bot.say("subscribe fraud_model", scope="channel")
    store = bot.server.app[STORE]
    version = ModelVersion("workspace", "ws", "fraud_model", "7", created_by="Someone Else")
    recorded = await store.versions.record(version, "poll", timedelta(seconds=60))
    return recorded.claimed[0].approval_id


@pytest.mark.parametrize("issuer", ENTRA_ISSUERS)
async def test_an_app_only_entra_token_cannot_approve_as_an_approver(bot: BotUnderTest, issuer):
    approval_id = await pending_approval(bot)
    forged = card_action(bot.connector.url, "approve", {"approvalId": approval_id}, user=APPROVER)

    status, body = await bot.post(forged, token=app_only_token(bot, issuer))

    assert status == 401, body
    assert await count(bot, approval_votes) == 0


@pytest.mark.parametrize("issuer", ENTRA_ISSUERS)
async def test_an_app_only_entra_token_cannot_send_commands(bot: BotUnderTest, issuer):
    before = len(bot.connector.calls)

    status, _ = await bot.post(
        message(bot.connector.url, "subscribe *", scope="channel"),
        token=app_only_token(bot, issuer),
    )

    assert status == 401
    assert len(bot.connector.calls) == before
    assert await count(bot, subscriptions) == 0


async def test_a_named_agent_app_is_itself_never_a_person(start_bot):
    bot = await start_bot(RELEASEBOT_AGENT_APP_IDS=ATTACKER_APP)
    token = app_only_token(bot, ENTRA_ISSUER)

    status, _ = await bot.post(
        message(bot.connector.url, "subscribe *", scope="channel"), token=token
    )

    assert status == 202
    assert "Only a person signed in to Teams" in card_text(bot.connector.last_card())
    assert await count(bot, subscriptions) == 0


async def test_a_channel_token_without_a_serviceurl_claim_is_refused(bot: BotUnderTest):
    token = bot.keys.token()  # Bot Framework issuer, no serviceurl

    status, body = await bot.post(message(bot.connector.url, "help"), token=token)

    assert status == 401
    assert "serviceurl" in body


async def test_a_channel_token_for_another_connector_path_is_refused(bot: BotUnderTest):
    token = bot.keys.token(serviceurl=bot.connector.url + "emea/")

    status, _ = await bot.post(message(bot.connector.url, "help"), token=token)

    assert status == 401


async def test_a_channel_that_is_not_allowed_gets_403(bot: BotUnderTest):
    activity = message(bot.connector.url, "help") | {"channelId": "webchat"}

    status, body = await bot.post(activity)

    assert status == 403
    assert "webchat" in body
    assert bot.connector.calls == []


def foreign(activity: dict[str, Any], tenant: str = OTHER_TENANT) -> dict[str, Any]:
    """``activity`` as Teams sends it from a team of another organisation."""
    activity["conversation"]["tenantId"] = tenant
    activity["channelData"]["tenant"] = {"id": tenant}
    return activity


async def test_another_tenant_cannot_subscribe_and_is_told_once_per_message(
    bot: BotUnderTest, caplog
):
    caplog.set_level(logging.WARNING, "bot.admission")
    for _ in range(2):
        status, _ = await bot.post(
            foreign(message(bot.connector.url, "subscribe *", scope="channel"))
        )
        assert status == 202

    assert [call.body.get("text") for call in bot.connector.calls] == [
        "This bot serves another organisation, so it cannot do anything here. Ask your own "
        "administrators for a release bot of your organisation."
    ] * 2
    assert await count(bot, subscriptions) == 0
    assert await count(bot, conversations) == 0
    assert [r.getMessage() for r in caplog.records].count(
        f"activities from tenant {OTHER_TENANT} are refused: it is not an allowed tenant"
    ) == 1
    assert "subscribe" not in caplog.text


async def test_another_tenant_installing_gets_no_greeting_and_nothing_stored(bot: BotUnderTest):
    status, _ = await bot.post(foreign(installation(bot.connector.url, "add")))

    assert status == 202
    assert bot.connector.calls == []
    assert await count(bot, conversations) == 0


async def test_another_tenant_cannot_deploy(bot: BotUnderTest):
    status, _ = await bot.post(
        foreign(message(bot.connector.url, "deploy fraud_model 7", scope="channel"))
    )

    assert status == 202
    assert "serves another organisation" in bot.connector.calls[-1].body["text"]
    assert await count(bot, command_audit) == 0  # nothing of theirs is stored


async def test_another_tenant_cannot_approve_a_version_of_ours(bot: BotUnderTest):
    approval_id = await pending_approval(bot)
    click = foreign(card_action(bot.connector.url, "approve", {"approvalId": approval_id}))

    status, body = await bot.post(click)

    assert status == 200
    answer = json.loads(body)
    assert answer["statusCode"] == 403
    assert answer["type"] == "application/vnd.microsoft.error"
    assert "another organisation" in answer["value"]["message"]
    assert await count(bot, approval_votes) == 0


async def test_two_tenants_in_one_activity_are_refused(bot: BotUnderTest):
    activity = message(bot.connector.url, "subscribe *", scope="channel")
    activity["channelData"]["tenant"] = {"id": OTHER_TENANT}

    status, _ = await bot.post(activity)

    assert status == 202
    assert await count(bot, subscriptions) == 0


async def test_the_operator_may_serve_other_tenants(start_bot):
    bot = await start_bot(RELEASEBOT_ALLOWED_TENANTS=f"{TENANT_ID},{OTHER_TENANT}")

    card = await bot.say("subscribe fraud_model", scope="channel", locale="en-US")
    status, _ = await bot.post(
        foreign(message(bot.connector.url, "subscriptions", scope="groupChat"))
    )

    assert "Subscribed" in card_text(card)
    assert status == 202
    assert "ubscription" in card_text(bot.connector.last_card())


@pytest.mark.slow
async def test_conversations_of_a_tenant_no_longer_served_get_no_cards(start_bot):
    both = await start_bot(RELEASEBOT_ALLOWED_TENANTS=f"{TENANT_ID},{OTHER_TENANT}")
    await both.post(foreign(message(both.connector.url, "subscribe fraud_model", scope="channel")))
    ours_only = await start_bot()  # the operator no longer serves OTHER_TENANT
    version = ModelVersion("workspace", "ws", "fraud_model", "7", created_by="Someone Else")

    recorded = await ours_only.server.app[STORE].versions.record(
        version, "poll", timedelta(seconds=60)
    )

    assert recorded.claimed == []


async def test_a_service_url_with_user_info_is_refused(bot: BotUnderTest):
    service_url = bot.connector.url.replace("http://", "http://user:pass@")
    token = bot.keys.token(serviceurl=service_url)

    status, _ = await bot.post(message(service_url, "help"), token=token)

    assert status == 400
