"""Event Grid push to Teams: the official samples in both schemas and casings, through the real bot
reading the versions they name from the loopback Azure ML (the real azure-ai-ml client)."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
from aiohttp import ClientSession

from bot.cards.verbs import VIEW
from bot.cloud import CLOUDS, CloudName
from tests.support.activities import installation
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, card_title, execute_actions
from tests.support.events import (
    ANNOUNCING,
    SECRET,
    SUBSCRIPTION,
    WORKSPACE_ID,
    announcement_cards,
    entra_token,
    post_events,
    registered,
    sample,
)


@pytest.fixture
async def bot(start_bot) -> BotUnderTest:
    """The bot watching one workspace, installed in the release channel subscribed to sklearn_*."""
    bot_under_test: BotUnderTest = await start_bot(**ANNOUNCING)
    await bot_under_test.post(installation(bot_under_test.connector.url, "add", scope="channel"))
    await bot_under_test.say("subscribe sklearn_* workspace=ml-prod", scope="channel")
    return bot_under_test


@pytest.mark.parametrize("casing", ["sample", "schema"])
@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
async def test_a_registered_version_reaches_the_subscribed_channel_as_a_card(
    bot: BotUnderTest, schema, casing
):
    calls_before = len(bot.connector.calls)
    body = (
        [sample(schema, casing=casing)] if schema == "eventgrid" else sample(schema, casing=casing)
    )
    content_type = "application/json" if schema == "eventgrid" else "application/cloudevents+json"

    status, answer = await post_events(bot, registered(bot.arm, body), content_type=content_type)
    await bot.connector.wait_for_calls(calls_before + 1)

    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})
    call = bot.connector.calls[-1]
    assert (
        call.path == "/v3/conversations/19:release-channel@thread.tacv2/activities"
    )  # a new thread
    card = call.body["attachments"][0]["content"]
    text = card_text(card)
    assert "New version: sklearn_regression_model 20" in text
    assert "workspace ml-prod" in text
    assert "area" in text
    assert "diabetes" in text
    verbs = [action["verb"] for action in execute_actions(card)]
    assert verbs == [VIEW]  # each viewer asks for their own buttons
    assert card["refresh"]["action"]["verb"] == VIEW
    studio = next(action["url"] for action in card["actions"] if action["type"] == "Action.OpenUrl")
    assert studio.startswith(
        "https://ml.azure.com/model/sklearn_regression_model:20/details?wsid=/subscriptions/"
    )


async def test_a_cloudevents_batch_is_accepted(bot: BotUnderTest):
    batch = [sample("cloudevents", version=1), sample("cloudevents", version=2)]

    status, answer = await post_events(
        bot, registered(bot.arm, batch), content_type="application/cloudevents-batch+json"
    )

    assert (status, answer) == (200, {"accepted": 2, "ignored": 0})


@pytest.mark.slow
async def test_the_same_event_five_times_and_out_of_order_gives_one_card_per_version(
    bot: BotUnderTest,
):
    twenty, twenty_one = registered(
        bot.arm, [sample("eventgrid", version=20), sample("eventgrid", version=21)]
    )
    deliveries = [
        [twenty_one],
        [twenty],
        [twenty, twenty_one],
        [twenty],
        [twenty_one],
        [copy.deepcopy(twenty)],
    ]

    for delivery in deliveries:
        status, _ = await post_events(bot, delivery)
        assert status == 200
    await bot.connector.wait_for_calls(4)  # greeting, subscribed, two cards
    await asyncio.sleep(0.3)

    titles = sorted(card_title(card) for card in announcement_cards(bot))
    assert titles == [
        "New version: sklearn_regression_model 20",
        "New version: sklearn_regression_model 21",
    ]


@pytest.mark.slow
async def test_every_matching_conversation_gets_one_card_and_others_none(bot: BotUnderTest):
    await bot.say("subscribe sklearn_regression_model tag:area=diabetes", scope="groupChat")
    await bot.say("subscribe sklearn_* tag:area=cardiology", scope="personal")
    await bot.say("subscribe other_model", scope="personal")
    before = len(bot.connector.calls)

    await post_events(bot, registered(bot.arm, [sample("eventgrid")]))
    await bot.connector.wait_for_calls(before + 2)
    await asyncio.sleep(0.3)

    targets = sorted(call.conversation_id for call in bot.connector.calls[before:])
    assert targets == ["19:group-chat-id@thread.v2", "19:release-channel@thread.tacv2"]


@pytest.mark.slow
async def test_a_conversation_the_bot_left_gets_nothing(bot: BotUnderTest):
    await bot.post(installation(bot.connector.url, "remove", scope="channel"))
    before = len(bot.connector.calls)

    status, answer = await post_events(bot, registered(bot.arm, [sample("eventgrid")]))
    await asyncio.sleep(0.5)

    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})
    assert len(bot.connector.calls) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "event",
    [
        sample("eventgrid", workspace_id=WORKSPACE_ID.replace("ml-prod", "someone-elses")),
        sample("eventgrid") | {"eventType": "Microsoft.MachineLearningServices.RunCompleted"},
        sample("eventgrid")
        | {
            "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z"
        },
    ],
    ids=["unconfigured workspace", "other event type", "other resource"],
)
async def test_events_we_do_not_watch_are_acknowledged_and_ignored(bot: BotUnderTest, event):
    before = len(bot.connector.calls)

    status, answer = await post_events(bot, [event])
    await asyncio.sleep(0.3)

    assert (status, answer) == (200, {"accepted": 0, "ignored": 1})
    assert len(bot.connector.calls) == before


async def test_the_subject_names_the_version_when_the_data_does_not(bot: BotUnderTest):
    event = sample("eventgrid") | {"subject": "models/sklearn_subject_model:7", "data": {}}
    bot.arm.register("sklearn_subject_model", "7")
    before = len(bot.connector.calls)

    await post_events(bot, [event])
    await bot.connector.wait_for_calls(before + 1)

    assert "New version: sklearn_subject_model 7" in card_text(bot.connector.last_card())


async def test_the_subscription_validation_handshake_is_answered(bot: BotUnderTest):
    validation = {
        "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
        "topic": WORKSPACE_ID,
        "subject": "",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2026-11-24T10:00:00Z",
        "metadataVersion": "1",
        "dataVersion": "2",
    }

    status, answer = await post_events(bot, [validation])

    assert (status, answer) == (200, {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})


async def test_the_cloudevents_abuse_protection_handshake_is_answered(bot: BotUnderTest):
    url = bot.server.make_url("/api/events/azureml").with_query(secret=SECRET)
    async with (
        ClientSession() as session,
        session.options(url, headers={"WebHook-Request-Origin": "eventgrid.azure.net"}) as response,
    ):
        assert response.status == 200
        assert response.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


@pytest.mark.slow
@pytest.mark.parametrize("secret", [None, "wrong", "", SECRET.upper()])
async def test_a_missing_or_wrong_secret_gets_401_and_stores_nothing(bot: BotUnderTest, secret):
    before = len(bot.connector.calls)

    status, _ = await post_events(bot, [sample("eventgrid")], secret=secret)
    await asyncio.sleep(0.3)

    assert status == 401
    assert len(bot.connector.calls) == before
    url = bot.server.make_url("/api/events/azureml").with_query(
        {"secret": secret} if secret else {}
    )
    async with (
        ClientSession() as session,
        session.options(url, headers={"WebHook-Request-Origin": "eventgrid.azure.net"}) as response,
    ):
        assert response.status == 401


async def test_the_secret_may_come_as_a_header(bot: BotUnderTest):
    status, _ = await post_events(
        bot, [sample("eventgrid")], secret=None, headers={"X-Releasebot-Secret": SECRET}
    )

    assert status == 200


async def test_without_a_configured_secret_every_delivery_is_refused(start_bot):
    bot = await start_bot(RELEASEBOT_AZUREML_WORKSPACES=f"{SUBSCRIPTION}/ml-rg/ml-prod")

    status, _ = await post_events(bot, [sample("eventgrid")], secret="")

    assert status == 401


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{oops", "not valid JSON"),
        (b"[]", "1 to 1000 events"),
        (b"[1]", "not a JSON object"),
        (b'[{"topic": "x"}]', "has no type"),
        (json.dumps([sample("eventgrid") | {"data": "text"}]).encode(), "data must be an object"),
        (
            json.dumps([sample("eventgrid") | {"data": {}, "subject": ""}]).encode(),
            "no model name and version",
        ),
        (
            json.dumps(
                [
                    sample("eventgrid")
                    | {"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": {}}
                ]
            ).encode(),
            "validationCode",
        ),
    ],
)
async def test_malformed_deliveries_get_400_with_the_reason(bot: BotUnderTest, body, reason):
    status, answer = await post_events(bot, body)

    assert status == 400
    assert reason in answer["error"]


async def test_the_tags_and_properties_of_an_event_are_not_read(bot: BotUnderTest):
    event = sample("eventgrid") | {
        "data": {"modelName": "m", "modelVersion": 1, "modelTags": [1], "modelProperties": "x"}
    }

    status, answer = await post_events(bot, [event])

    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})


async def test_an_oversized_delivery_gets_413(bot: BotUnderTest):
    event = sample("eventgrid")
    event["data"]["ModelTags"] = {f"tag{i}": "x" * 1000 for i in range(400)}

    status, _ = await post_events(bot, [event])

    assert status == 413


async def test_an_entra_token_for_our_audience_and_tenant_is_accepted(
    entra_bot: BotUnderTest, signing_keys
):
    token = entra_token(signing_keys, CLOUDS[CloudName.PUBLIC].entra_authority)

    status, answer = await post_events(
        entra_bot, [sample("eventgrid")], secret=None, headers={"Authorization": f"Bearer {token}"}
    )

    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "api://someone-else"},
        {"iss": "https://login.microsoftonline.com/99999999-8888-7777-6666-555555555555/v2.0"},
        {"exp": 1_000_000},
        {"key": "other"},
        {"drop": ("exp",)},
    ],
    ids=["wrong audience", "other tenant", "expired", "forged", "no expiry"],
)
async def test_a_bad_entra_token_gets_401(entra_bot: BotUnderTest, signing_keys, change):
    change = dict(change)
    if change.pop("key", None):
        change["key"] = signing_keys.other_key
    token = entra_token(signing_keys, CLOUDS[CloudName.PUBLIC].entra_authority, **change)

    status, _ = await post_events(
        entra_bot, [sample("eventgrid")], secret=None, headers={"Authorization": f"Bearer {token}"}
    )

    assert status == 401


async def test_with_entra_auth_and_no_secret_an_unauthenticated_delivery_gets_401(
    entra_bot: BotUnderTest,
):
    status, _ = await post_events(entra_bot, [sample("eventgrid")], secret="anything")

    assert status == 401
