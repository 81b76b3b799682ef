"""Approve and reject from the card over HTTP: the invoke answers with the card at once, the card
everyone sees is updated in place, every decision is audited, refusals say why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import STORE
from bot.cards.verbs import APPROVE, REJECT
from bot.store.clock import utcnow
from bot.store.tables import approval_audit, approvals, deployments, model_versions
from tests.support.activities import BOB
from tests.support.approvals import announce, click, start, wait_for_update
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, execute_actions


async def audit(bot: BotUnderTest) -> list[tuple[str, str | None, str | None]]:
    engine = bot.server.app[STORE].engine
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                approval_audit.c.action, approval_audit.c.actor_name, approval_audit.c.detail
            ).order_by(approval_audit.c.id)
        )
        return [tuple(row) for row in rows]


@pytest.mark.slow
async def test_approve_answers_with_the_approved_card_and_updates_it_for_everyone(start_bot):
    bot = await start(start_bot)
    approval_id = await announce(bot)

    answer = await click(bot, APPROVE, {"approvalId": approval_id})

    assert answer["statusCode"] == 200
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    text = card_text(answer["value"])
    assert "Approved" in text
    assert "✔ Alice approved" in text
    assert execute_actions(answer["value"]) == []  # decided: no buttons left
    update = await wait_for_update(bot, "✔ Alice approved")
    assert "Approved" in card_text(update)
    assert await audit(bot) == [("approve", "Alice", None)]


@pytest.mark.slow
async def test_two_of_two_approvals_by_different_people(start_bot):
    bot = await start(start_bot, RELEASEBOT_REQUIRED_APPROVALS="2")
    approval_id = await announce(bot)

    first = await click(bot, APPROVE, {"approvalId": approval_id})
    again = await click(bot, APPROVE, {"approvalId": approval_id})
    second = await click(bot, APPROVE, {"approvalId": approval_id}, user=BOB, name="Bob")

    assert "1 of 2 approvals so far" in card_text(first["value"])
    assert "You have already approved this version." in card_text(again["value"])
    assert "Approved" in card_text(second["value"])
    assert "✔ Bob approved" in card_text(second["value"])
    assert [row[0] for row in await audit(bot)] == ["approve", "refused", "approve"]


@pytest.mark.slow
async def test_reject_needs_a_reason_and_shows_it(start_bot):
    bot = await start(start_bot, RELEASEBOT_REQUIRED_APPROVALS="2")
    approval_id = await announce(bot)

    empty = await click(bot, REJECT, {"approvalId": approval_id, "reason": "  "})
    rejected = await click(
        bot, REJECT, {"approvalId": approval_id, "reason": "AUC dropped"}, locale="de-DE"
    )
    late = await click(bot, APPROVE, {"approvalId": approval_id}, user=BOB, name="Bob")

    assert "Please give a reason for the rejection." in card_text(empty["value"])
    assert "Abgelehnt" in card_text(rejected["value"])
    assert "Alice: „AUC dropped“" in card_text(rejected["value"])
    assert "This version was already rejected." in card_text(late["value"])
    assert (await audit(bot))[1] == ("reject", "Alice", "AUC dropped")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en-US", "You are not one of the approvers for this model."),
        ("de-DE", "Sie gehören nicht zu den Genehmigenden für dieses Modell."),
    ],
)
async def test_only_the_named_approvers_may_approve(start_bot, locale, expected):
    bot = await start(start_bot, RELEASEBOT_APPROVERS=BOB)
    approval_id = await announce(bot)

    refused = await click(bot, APPROVE, {"approvalId": approval_id}, locale=locale)
    allowed = await click(bot, APPROVE, {"approvalId": approval_id}, user=BOB, name="Bob")

    assert expected in card_text(refused["value"])
    assert "✔ Bob approved" in card_text(allowed["value"])


@pytest.mark.slow
async def test_approvers_named_by_upn_are_recognised_through_the_connector(start_bot):
    bot = await start(start_bot, RELEASEBOT_APPROVERS="bob@contoso.com")
    bot.connector.upns = {"29:bob": "Bob@Contoso.com", "29:alice": "alice@contoso.com"}
    approval_id = await announce(bot)

    refused = await click(bot, APPROVE, {"approvalId": approval_id})
    allowed = await click(bot, APPROVE, {"approvalId": approval_id}, user=BOB, name="Bob")

    assert "You are not one of the approvers for this model." in card_text(refused["value"])
    assert "✔ Bob approved" in card_text(allowed["value"])
    assert [row[0] for row in await audit(bot)] == ["refused", "approve"]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en-US", "You registered this version, so someone else must approve it."),
        ("de-DE", "Sie haben diese Version registriert, also muss jemand anderes sie genehmigen."),
    ],
)
async def test_the_creator_may_not_approve_their_own_version(start_bot, locale, expected):
    bot = await start(start_bot)
    bot.connector.upns = {"29:alice": "Alice@Contoso.com", "29:bob": "bob@contoso.com"}
    approval_id = await announce(bot)
    async with bot.server.app[STORE].engine.begin() as connection:  # as the poller records it
        await connection.execute(update(model_versions).values(created_by="alice@contoso.com"))

    refused = await click(bot, APPROVE, {"approvalId": approval_id}, locale=locale)
    allowed = await click(bot, APPROVE, {"approvalId": approval_id}, user=BOB, name="Bob")

    assert expected in card_text(refused["value"])
    assert "✔ Bob approved" in card_text(allowed["value"])


async def test_a_click_after_the_expiry_shows_expired(start_bot):
    bot = await start(start_bot, RELEASEBOT_APPROVAL_EXPIRY_HOURS="1")
    approval_id = await announce(bot)
    engine = bot.server.app[STORE].engine
    async with engine.begin() as connection:
        await connection.execute(  # asked for two hours ago
            update(approvals)
            .where(approvals.c.id == approval_id)
            .values(
                requested_at=utcnow() - timedelta(hours=2), expires_at=utcnow() - timedelta(hours=1)
            )
        )

    answer = await click(bot, APPROVE, {"approvalId": approval_id})

    assert "This approval request has expired." in card_text(answer["value"])
    assert "Expired without a decision" in card_text(answer["value"])
    assert [row[0] for row in await audit(bot)] == ["expire"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "data",
    [
        {},
        {"approvalId": "7"},
        {"approvalId": -1},
        {"approvalId": True},
        {"approvalId": 2**63},
        None,
    ],
    ids=["missing", "text", "negative", "bool", "beyond 64 bits", "no data"],
)
async def test_malformed_actions_get_a_bad_request_and_change_nothing(start_bot, data):
    bot = await start(start_bot)
    await announce(bot)

    answer = await click(bot, APPROVE, data)

    assert answer["statusCode"] == 400
    assert await audit(bot) == []


async def test_an_approval_of_another_conversation_is_not_found(start_bot):
    bot = await start(start_bot)
    approval_id = await announce(bot)

    answer = await click(bot, APPROVE, {"approvalId": approval_id + 1000})

    assert answer["type"] == "application/vnd.microsoft.activity.message"
    assert answer["value"] == "This approval request no longer exists."


@pytest.mark.both_stores
async def test_quorum_writes_the_deployment_row_in_the_same_transaction(start_bot):
    bot = await start(start_bot, RELEASEBOT_DEPLOY_TARGET="pipeline:42")
    approval_id = await announce(bot)

    await click(bot, APPROVE, {"approvalId": approval_id})

    engine = bot.server.app[STORE].engine
    async with engine.connect() as connection:
        rows = (await connection.execute(select(deployments))).all()
    assert [(row.approval_id, row.target, row.requested_by) for row in rows] == [
        (approval_id, "pipeline:42", "Alice")
    ]


async def test_an_unknown_verb_gets_a_bad_request(start_bot):
    bot = await start(start_bot)
    approval_id = await announce(bot)

    answer = await click(bot, "deploy-now", {"approvalId": approval_id})

    assert answer["statusCode"] == 400
    assert "approve, reject, view" in answer["value"]["message"]
