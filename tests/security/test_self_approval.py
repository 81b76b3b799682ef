"""No self-approval, failing closed: the creator is compared by object id, UPN or display name;
when who registered a version is unknown at the click, Azure ML is asked then, and if it stays
unknown the approval is refused; a failed member look-up is not remembered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app import STORE
from bot.store.tables import approval_audit, approval_votes, model_versions
from domain.records import ModelVersion
from fakes.azureml import FakeArm
from tests.support.approvals import click
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text
from tests.support.store import count
from tests.support.waiting import until_polled

ADA = "00000000-0000-0000-0000-00000000ada0"
BOB = "00000000-0000-0000-0000-000000000b0b"
UNKNOWN = "Who registered this version cannot be checked yet"
SELF = "You registered this version, so someone else must approve it."


async def announced(
    bot: BotUnderTest, created_by: str | None, version: str = "1", created_by_type: str = "User"
) -> int:
    """fraud_model ``version`` of workspace ml-prod announced in a subscribed channel."""
    await bot.say("subscribe fraud_model", scope="channel")
    pushed = ModelVersion(
        "workspace",
        "ml-prod",
        "fraud_model",
        version,
        created_by=created_by,
        created_by_type=created_by_type,
    )
    recorded = await bot.server.app[STORE].versions.record(pushed, "event", timedelta(seconds=60))
    return recorded.claimed[0].approval_id


async def refusals(bot: BotUnderTest) -> list[str]:
    async with bot.server.app[STORE].engine.connect() as connection:
        rows = await connection.execute(
            select(approval_audit.c.detail).where(approval_audit.c.action == "refused")
        )
        return list(rows.scalars())


async def test_an_unknown_creator_refuses_the_approval(bot: BotUnderTest):
    approval_id = await announced(bot, created_by=None)

    answer = await click(bot, "approve", {"approvalId": approval_id}, user=BOB, name="Bob")

    assert UNKNOWN in card_text(answer) + str(answer.get("value"))
    assert await count(bot, approval_votes) == 0
    assert await refusals(bot) == ["approve: approval.creator_unknown"]


async def test_an_unknown_creator_is_read_from_azure_ml_at_the_click(start_bot, arm: FakeArm):
    bot = await start_bot(registries=[arm.registry()])
    await until_polled(bot)  # its first poll is done: what Azure ML holds from now on is new
    arm.register("fraud_model", "2", createdBy="Ada Lovelace")  # Azure ML knows; the push did not
    approval_id = await announced(bot, created_by=None, version="2")

    ada = await click(bot, "approve", {"approvalId": approval_id}, user=ADA, name="Ada Lovelace")
    bob = await click(bot, "approve", {"approvalId": approval_id}, user=BOB, name="Bob")

    assert SELF in card_text(ada["value"])
    assert "Approved" in card_text(bob["value"])
    async with bot.server.app[STORE].engine.connect() as connection:
        creator = await connection.scalar(
            select(model_versions.c.created_by).where(model_versions.c.version == "2")
        )
    assert creator == "Ada Lovelace"


async def test_a_creator_named_by_display_name_cannot_approve(bot: BotUnderTest):
    approval_id = await announced(bot, created_by="  ada   LOVELACE ")

    answer = await click(bot, "approve", {"approvalId": approval_id}, user=ADA, name="Ada Lovelace")

    assert SELF in card_text(answer["value"])
    assert await count(bot, approval_votes) == 0


async def test_a_failed_member_lookup_refuses_and_is_asked_again_at_the_next_click(
    bot: BotUnderTest,
):
    approval_id = await announced(bot, created_by="ada@contoso.com")
    bot.connector.member_refusals.append(503)  # the connector fails the first look-up

    failed = await click(bot, "approve", {"approvalId": approval_id}, user=ADA, name="Ada")
    bot.connector.upns["29:ada"] = "ada@contoso.com"
    second = await click(bot, "approve", {"approvalId": approval_id}, user=ADA, name="Ada")

    assert "could not confirm who you are" in str(failed["value"])
    assert SELF in card_text(second["value"])
    assert await count(bot, approval_votes) == 0
    assert await refusals(bot) == [
        "approve: approval.identity_unchecked",
        "approve: approval.no_self_approval",
    ]


async def test_a_member_the_connector_does_not_know_is_refused(bot: BotUnderTest):
    approval_id = await announced(bot, created_by="ada@contoso.com")  # no UPN known: 404

    answer = await click(bot, "approve", {"approvalId": approval_id}, user=ADA, name="Ada")

    assert "could not confirm who you are" in str(answer["value"])
    assert await count(bot, approval_votes) == 0


async def test_a_version_an_application_registered_may_be_approved_and_says_so(bot: BotUnderTest):
    approval_id = await announced(bot, "ml-training-pipeline", created_by_type="Application")

    answer = await click(bot, "approve", {"approvalId": approval_id}, user=BOB, name="Bob")

    text = card_text(answer["value"])
    assert "Approved" in text
    assert "ml-training-pipeline (an application)" in text


async def test_a_creator_read_at_the_click_named_by_upn_is_checked_through_the_connector(
    start_bot, arm: FakeArm
):
    bot = await start_bot(registries=[arm.registry()])
    await until_polled(bot)
    arm.register("fraud_model", "3", createdBy="ada@contoso.com")
    approval_id = await announced(bot, created_by=None, version="3")
    bot.connector.upns["29:ada"] = "ada@contoso.com"

    answer = await click(bot, "approve", {"approvalId": approval_id}, user=ADA, name="Ada")

    assert SELF in card_text(answer["value"])  # one click: read from Azure ML, then the UPN


async def test_a_guest_registered_by_email_cannot_approve_under_their_guest_upn(
    bot: BotUnderTest,
):
    approval_id = await announced(bot, created_by="ada@gmail.com")
    bot.connector.upns["29:ada"] = "ada_gmail.com#ext#@contoso.com"
    bot.connector.emails["29:ada"] = "ada@gmail.com"

    answer = await click(bot, "approve", {"approvalId": approval_id}, user=ADA, name="Ada")

    assert SELF in card_text(answer["value"])
    assert await count(bot, approval_votes) == 0
