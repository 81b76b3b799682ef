"""Each person sees their own approval card (Teams' user-specific views): the refresh invoke
(``trigger: automatic``) and "Review and decide" (manual) answer, over HTTP with signed
activities, with the buttons this person may use and the reason when they may not."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import update

from app import STORE
from bot.cards.verbs import APPROVE, REJECT, VIEW
from bot.store.tables import model_versions
from fakes.identity import TENANT_ID
from tests.support.activities import ALICE, BOB, CONVERSATIONS, USER_ID, card_action
from tests.support.approvals import announce, announced_card, click, start, wait_for_update
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, execute_actions
from tests.support.connector import roster_entry

CAROL = "00000000-0000-0000-0000-0000000ca201"


async def view(
    bot: BotUnderTest, approval_id: int, *, trigger: str = "automatic", **who: Any
) -> dict[str, Any]:
    """The card Teams gets for this person's refresh (or their "Review and decide")."""
    activity = card_action(bot.connector.url, VIEW, {"approvalId": approval_id}, **who)
    activity["value"]["trigger"] = trigger
    status, body = await bot.post(activity)
    assert status == 200, body
    answer: dict[str, Any] = json.loads(body)
    assert answer["statusCode"] == 200, answer
    return answer


def buttons(answer: dict[str, Any]) -> list[str]:
    return [action["verb"] for action in execute_actions(answer["value"])]


async def creator_is(bot: BotUnderTest, creator: str) -> None:
    async with bot.server.app[STORE].engine.begin() as connection:  # as the poller records it
        await connection.execute(update(model_versions).values(created_by=creator))


async def test_an_approver_who_has_not_voted_gets_approve_and_reject(start_bot):
    bot = await start(start_bot)
    approval_id = await announce(bot)
    await creator_is(bot, "Carol")

    answer = await view(bot, approval_id)

    assert buttons(answer) == ["approve", "reject"]
    assert answer["value"]["refresh"]["userIds"] == ["29:alice"]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en-US", "You approved this version"), ("de-DE", "Sie haben diese Version")],
)
async def test_an_approver_who_voted_sees_when_and_no_buttons(start_bot, locale, expected):
    bot = await start(start_bot, RELEASEBOT_REQUIRED_APPROVALS="2")
    approval_id = await announce(bot)
    await creator_is(bot, "Carol")
    await click(bot, APPROVE, {"approvalId": approval_id})

    answer = await view(bot, approval_id, locale=locale)

    assert expected in card_text(answer["value"])
    assert buttons(answer) == []


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en-US", "You registered this version, so someone else must approve it."),
        ("de-DE", "Sie haben diese Version registriert"),
    ],
)
async def test_the_creator_is_told_why_and_may_only_reject(start_bot, locale, expected):
    bot = await start(start_bot)
    approval_id = await announce(bot)
    await creator_is(bot, ALICE)

    answer = await view(bot, approval_id, locale=locale)

    assert expected in card_text(answer["value"])
    assert buttons(answer) == ["reject"]


async def test_the_requester_is_told_why_and_may_only_withdraw(start_bot):
    bot = await start(start_bot)
    announced = await announce(bot)
    await click(bot, REJECT, {"approvalId": announced, "reason": "not yet"})
    await wait_for_update(bot, "not yet")  # the card sync's update, before the command's answer
    requested = await bot.say("deploy sklearn_regression_model 20", scope="channel")
    approval_id = execute_actions(requested)[0]["data"]["approvalId"]
    await creator_is(bot, "Carol")

    answer = await view(bot, approval_id, user=USER_ID, name="Ada Lovelace")

    assert "You asked for this deployment, so someone else must approve it." in card_text(
        answer["value"]
    )
    assert buttons(answer) == ["reject"]


async def test_a_bystander_gets_the_neutral_view_and_is_told_why_only_when_asking(start_bot):
    bot = await start(start_bot, RELEASEBOT_APPROVERS=BOB)
    approval_id = await announce(bot)
    await creator_is(bot, "Carol")

    automatic = await view(bot, approval_id, user=CAROL, name="Carol")
    manual = await view(bot, approval_id, trigger="manual", user=CAROL, name="Carol")
    approver = await view(bot, approval_id, user=BOB, name="Bob")

    assert buttons(automatic) == buttons(manual) == []
    assert "not one of the approvers" not in card_text(automatic["value"])
    assert "You are not one of the approvers for this model." in card_text(manual["value"])
    assert buttons(approver) == ["approve", "reject"]


async def test_once_decided_everyone_sees_the_same_card_without_buttons(start_bot):
    bot = await start(start_bot)
    approval_id = await announce(bot)
    await creator_is(bot, "Carol")
    await click(bot, APPROVE, {"approvalId": approval_id})

    views = [
        await view(bot, approval_id, user=who, name=name)
        for who, name in ((ALICE, "Alice"), (BOB, "Bob"))
    ]

    assert [buttons(answer) for answer in views] == [[], []]
    assert "refresh" not in views[1]["value"]


async def test_a_view_of_another_conversations_approval_shows_nothing_of_it(start_bot):
    bot = await start(start_bot)
    approval_id = await announce(bot)
    activity = card_action(bot.connector.url, VIEW, {"approvalId": approval_id})
    activity["conversation"]["id"] = "19:another-channel@thread.tacv2"
    activity["value"]["trigger"] = "automatic"

    status, body = await bot.post(activity)

    assert status == 200
    assert "sklearn_regression_model" not in body
    assert "no longer exists" in body


@pytest.mark.parametrize("data", [{}, {"approvalId": "7"}, {"approvalId": -1}])
async def test_a_view_without_a_valid_approval_id_is_a_bad_request(start_bot, data):
    bot = await start(start_bot)
    activity = card_action(bot.connector.url, VIEW, data)

    status, body = await bot.post(activity)

    assert status == 200
    assert json.loads(body)["statusCode"] == 400


async def test_the_refresh_names_the_approvers_who_are_members_and_nobody_else(start_bot):
    approvers = [f"00000000-0000-0000-0000-{n:012d}" for n in range(1, 51)]  # as many as allowed
    bot = await start(start_bot, RELEASEBOT_APPROVERS=",".join(approvers))
    bot.connector.roster = [
        roster_entry(f"29:member-{n}", f"Member {n}", object_id, f"m{n}@contoso.com")
        for n, object_id in enumerate([*approvers, *(str(uuid.uuid4()) for _ in range(20))])
    ]

    card = await announced_card(bot, 20)

    user_ids = card["refresh"]["userIds"]
    assert sorted(user_ids) == sorted(f"29:member-{n}" for n in range(50))  # at most 60 allowed


async def test_in_a_personal_chat_nobody_gets_buttons_and_is_told_where_approvals_are_given(
    start_bot,
):
    bot = await start(start_bot)
    await bot.say("subscribe sklearn_* workspace=ml-prod")  # in the personal chat, too
    await announce(bot)
    personal = CONVERSATIONS["personal"]
    (posted,) = [
        call.body["attachments"][0]["content"]
        for call in bot.connector.calls
        if call.method == "POST"
        and call.conversation_id == personal
        and "attachments" in call.body
        and "refresh" in call.body["attachments"][0]["content"]
    ]
    activity = card_action(
        bot.connector.url, VIEW, execute_actions(posted)[0]["data"], user=USER_ID, name="Ada"
    )
    activity["conversation"] = {
        "id": personal,
        "conversationType": "personal",
        "tenantId": TENANT_ID,
    }
    activity["value"]["trigger"] = "automatic"

    status, body = await bot.post(activity)

    answer = json.loads(body)
    assert status == 200
    assert buttons(answer) == []
    assert "Approvals are given where others can see them" in card_text(answer["value"])
