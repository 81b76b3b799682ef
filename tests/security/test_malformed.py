"""Malformed activities from an authenticated caller: 400 with a reason, one warning line, and
nothing of the SDK's (no 501, no traceback at ERROR)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support.activities import card_action
from tests.support.bot import BotUnderTest


def mutated(service_url: str, change: str) -> dict[str, Any]:
    activity = card_action(service_url, "approve", {"approvalId": 1})
    if change == "value is a string":
        activity["value"] = "approve"
    elif change == "value is a list":
        activity["value"] = [1, 2]
    elif change == "verb is a number":
        activity["value"]["action"]["verb"] = 7
    elif change == "no action":
        activity["value"] = {"trigger": "manual"}
    elif change == "data is a string":
        activity["value"]["action"]["data"] = "approvalId=1"
    elif change == "from has no id":
        activity["from"] = {"name": "Mallory", "aadObjectId": "x"}
    elif change == "from is a string":
        activity["from"] = "Mallory"
    return activity


@pytest.mark.parametrize(
    "change",
    [
        "value is a string",
        "value is a list",
        "verb is a number",
        "no action",
        "data is a string",
        "from has no id",
        "from is a string",
    ],
)
async def test_a_malformed_card_action_gets_400_and_one_warning(bot: BotUnderTest, caplog, change):
    caplog.set_level(logging.DEBUG)

    status, body = await bot.post(mutated(bot.connector.url, change))

    assert status == 400, body
    assert "error" in body
    warnings = [r for r in caplog.records if r.name == "bot.web" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_field_of_the_wrong_type_is_one_warning_without_a_traceback(
    bot: BotUnderTest, caplog
):
    caplog.set_level(logging.DEBUG)
    activity = card_action(bot.connector.url, "approve", {"approvalId": 1}) | {"locale": 42}

    status, body = await bot.post(activity)

    assert status == 400
    assert "locale" in body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


@pytest.mark.parametrize(
    "conversation_id", ["../../v3/conversations/other", "a?b=c", "x#y", "a%2Fb"]
)
async def test_a_conversation_id_that_would_steer_the_reply_url_gets_400(
    bot: BotUnderTest, conversation_id: str
):
    activity = card_action(bot.connector.url, "approve", {"approvalId": 1})
    activity["conversation"]["id"] = conversation_id

    status, body = await bot.post(activity)

    assert status == 400
    assert "conversation.id" in body
    assert bot.connector.calls == []
