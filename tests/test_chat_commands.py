"""Chat commands through the real bot over HTTP, in English and German, in every conversation type."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from bot.chat_commands import COMMANDS, Permission
from dialogs.commands import Command
from tests.support.activities import USER_ID, message
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text


@pytest.mark.parametrize(
    ("locale", "command", "expected"),
    [
        ("en-US", "help", "subscribe <model-name-glob> [workspace=<name>|registry=<name>]"),
        ("de-DE", "hilfe", "abonnieren <Modellname-Muster>"),
        ("de-AT", "help", "Die Abonnements dieser Unterhaltung auflisten."),
        ("fr-FR", "help", "List this conversation's subscriptions."),
    ],
)
async def test_help_lists_the_commands_in_the_users_language(
    bot: BotUnderTest, locale, command, expected
):
    card = await bot.say(command, locale=locale)

    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.5"
    assert expected in card_text(card)


@pytest.mark.parametrize("scope", ["personal", "groupChat", "channel"])
async def test_subscribe_then_list_in_each_conversation_type(bot: BotUnderTest, scope: str):
    created = await bot.say("subscribe fraud-* workspace=ml-prod tag:stage=production", scope=scope)
    listed = await bot.say("subscriptions", scope=scope)

    assert "Subscribed (#1)" in card_text(created)
    text = card_text(listed)
    assert "Subscriptions in this conversation: 1" in text
    assert "fraud-\\*" in text  # escaped: Teams shows the * as it is
    assert "workspace ml-prod, tags stage=production" in text


async def test_the_reply_goes_to_the_thread_the_channel_message_came_from(bot: BotUnderTest):
    await bot.say("help", scope="channel")

    call = bot.connector.calls[-1]
    assert call.conversation_id == "19:release-channel@thread.tacv2;messageid=1700000000000"
    assert call.body["type"] == "message"


async def test_subscribing_the_same_thing_twice_makes_one_subscription(bot: BotUnderTest):
    await bot.say("subscribe churn-model tag:b=2 tag:a=1")
    again = await bot.say("subscribe churn-model  tag:a=1 tag:b=2")
    listed = await bot.say("subscriptions")

    assert "already exists (#1)" in card_text(again)
    assert "Subscriptions in this conversation: 1" in card_text(listed)


async def test_subscriptions_are_per_conversation(bot: BotUnderTest):
    await bot.say("subscribe fraud-*", scope="channel")

    listed = await bot.say("subscriptions", scope="groupChat")

    assert "Subscriptions in this conversation: 0" in card_text(listed)


async def test_different_filters_are_different_subscriptions(bot: BotUnderTest):
    for command in (
        "subscribe m1",
        "subscribe m1 workspace=ws-one",
        "subscribe m1 registry=ws-one",
    ):
        await bot.say(command)

    listed = await bot.say("subscriptions")

    assert "Subscriptions in this conversation: 3" in card_text(listed)


@pytest.mark.slow
async def test_unsubscribe_by_number_and_by_pattern(bot: BotUnderTest):
    await bot.say("subscribe fraud-*")
    await bot.say("subscribe fraud-* workspace=ml-prod")
    await bot.say("subscribe churn")

    by_number = await bot.say("unsubscribe #3")
    by_pattern = await bot.say("unsubscribe fraud-*")
    listed = await bot.say("subscriptions")

    assert "Removed 1 subscription" in card_text(by_number)
    assert "Removed 2 subscriptions" in card_text(by_pattern)
    assert "Subscriptions in this conversation: 0" in card_text(listed)


async def test_unsubscribe_cannot_touch_another_conversations_subscription(bot: BotUnderTest):
    await bot.say("subscribe fraud-*", scope="channel")

    answer = await bot.say("unsubscribe 1", scope="personal")
    listed = await bot.say("subscriptions", scope="channel")

    assert "No subscription here matches “\\#1”" in card_text(answer)
    assert "Subscriptions in this conversation: 1" in card_text(listed)


async def test_german_commands_answer_in_german(bot: BotUnderTest):
    created = await bot.say("abonnieren betrug-* registry=shared-models", locale="de-DE")
    listed = await bot.say("abonnements", locale="de-DE")
    removed = await bot.say("abbestellen 1", locale="de-DE")

    assert "Abonniert (#1)" in card_text(created)
    assert "Registrierung shared-models" in card_text(listed)
    assert "1 Abonnement entfernt" in card_text(removed)


@pytest.mark.parametrize(
    ("locale", "command", "message_part", "usage_part"),
    [
        ("en-US", "subscribe", "Tell me which models", "subscribe <model-name-glob>"),
        ("en-US", "subscribe a b", "I did not understand “b”", "subscribe <model-name-glob>"),
        ("en-US", "subscribe m workspace=x", "not a valid workspace name", "[workspace=<name>"),
        (
            "en-US",
            "subscribe m workspace=ws1 registry=reg1",
            "either one workspace",
            "|registry=<name>]",
        ),
        ("en-US", "subscribe m tag:=v", "not a tag filter", "[tag:<key>=<value>]"),
        ("en-US", "subscribe m tag:a=1 tag:a=2", "given twice", "[tag:<key>=<value>]"),
        (
            "en-US",
            "subscribe bad/name",
            "is not a model name pattern",
            "subscribe <model-name-glob>",
        ),
        ("en-US", "unsubscribe", "which subscription", "unsubscribe <id|pattern>"),
        ("en-US", 'subscribe "m', "quotation mark is not closed", None),
        (
            "de-DE",
            "abonnieren",
            "Welche Modelle? Geben Sie einen Modellnamen",
            "abonnieren <Modellname-Muster>",
        ),
        (
            "de-DE",
            "abbestellen 1 2",
            "„2“ habe ich nicht verstanden",
            "abbestellen <Nummer|Muster>",
        ),
    ],
)
async def test_bad_arguments_show_why_and_the_correct_form(
    bot: BotUnderTest, locale, command, message_part, usage_part
):
    card = await bot.say(command, locale=locale)

    text = card_text(card)
    assert message_part in text
    if usage_part:
        assert usage_part in text
    listed = await bot.say("subscriptions")
    assert "Subscriptions in this conversation: 0" in card_text(listed)


@pytest.mark.parametrize(
    ("locale", "typed", "expected"),
    [
        ("en-US", "subscibe fraud-*", "Did you mean “subscribe”?"),
        ("en-US", "unsubscrbe 1", "Did you mean “unsubscribe”?"),
        ("de-DE", "abonieren x", "Meinten Sie „abonnieren“?"),
        ("en-US", "deploy-everything-now", "I don't know the command “deploy-everything-now”."),
    ],
)
async def test_unknown_commands_get_the_closest_known_command(
    bot: BotUnderTest, locale, typed, expected
):
    card = await bot.say(typed, locale=locale)

    assert expected in card_text(card)


async def test_only_configured_managers_may_change_subscriptions(start_bot):
    manager = "00000000-0000-0000-0000-00000000beef"
    bot = await start_bot(RELEASEBOT_SUBSCRIPTION_MANAGERS=f"{manager.upper()}, someone-else")

    refused = await bot.say("subscribe fraud-*", user_object_id=USER_ID)
    allowed = await bot.say("subscribe fraud-*", user_object_id=manager)
    refused_removal = await bot.say("unsubscribe 1", user_object_id=USER_ID)
    listed = await bot.say("subscriptions", user_object_id=USER_ID)

    assert "Only the subscription managers" in card_text(refused)
    assert "Subscribed (#1)" in card_text(allowed)
    assert "Only the subscription managers" in card_text(refused_removal)
    assert "Subscriptions in this conversation: 1" in card_text(listed)


async def test_subscriptions_survive_a_restart(start_bot, database_url):
    first = await start_bot()
    await first.say("subscribe fraud-* workspace=ml-prod", scope="channel")
    await first.server.close()

    second = await start_bot(database_url=database_url)
    listed = await second.say("subscriptions", scope="channel")

    assert "fraud-\\*" in card_text(listed)


async def test_html_in_channel_text_is_not_taken_for_arguments(bot: BotUnderTest):
    card = await bot.say("<p>subscribe&nbsp;fraud-*</p>", scope="channel")

    assert "Subscribed (#1)" in card_text(card)


async def test_a_failing_turn_answers_without_exposing_the_error(bot: BotUnderTest, monkeypatch):
    async def broken(*_args, **_kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("bot.store.subscriptions.Subscriptions.in_conversation", broken)
    status, _ = await bot.post(message(bot.connector.url, "subscriptions", locale="de-DE"))

    assert status == 202
    reply = bot.connector.calls[-1].body
    assert "Bei mir ist etwas schiefgegangen" in card_text(bot.connector.last_card())
    assert "hunter2" not in json.dumps(reply)


def test_every_command_has_its_handler_and_who_may_send_it():
    changing = {
        name.__name__: spec.permission for name, spec in COMMANDS.items() if spec.permission.changes
    }

    assert set(COMMANDS) == set(get_args(Command))
    assert changing == {
        "Deploy": Permission.REQUEST,
        "Rollback": Permission.REQUEST,
        "Subscribe": Permission.MANAGE,
        "Unsubscribe": Permission.MANAGE,
    }
