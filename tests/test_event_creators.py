"""Who registered a pushed version: an Event Grid event does not say, so the bot reads the version
from the workspace (the real azure-ai-ml client against the loopback ARM) before it announces;
when it cannot, the event announces nothing and the poller announces the version, with its
creator. No self-approval holds either way.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from sqlalchemy import select

from app import STORE, WATCHER
from bot.cards.verbs import APPROVE
from bot.registry import eventgrid
from bot.registry.azureml import AzureMLRegistry
from bot.store.tables import model_versions, registry_sources
from fakes.azureml import FakeArm, FakeCredential
from tests.support.activities import ALICE, BOB, installation
from tests.support.approvals import click
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, execute_actions
from tests.support.events import ANNOUNCING, announcement_cards, post_events, sample
from tests.support.waiting import until_polled, wait_until

MODEL = "sklearn_regression_model"  # the model of Microsoft's sample event
SELF_APPROVAL = "You registered this version, so someone else must approve it."
TOKEN_ERROR = "AADSTS7000215: invalid client secret provided: secret=abc"


@pytest.fixture
async def arm(tmp_path):
    fake = FakeArm()
    fake.register(MODEL, "19", createdBy="bob@contoso.com")
    await fake.start(tmp_path)
    yield fake
    await fake.close()


async def watching(start_bot: Any, registry: AzureMLRegistry) -> BotUnderTest:
    """The bot polling ``registry`` (the workspace its events come from), in the release channel
    subscribed to the sample's model."""
    bot: BotUnderTest = await start_bot(registries=[registry], **ANNOUNCING)
    await bot.post(installation(bot.connector.url, "add", scope="channel"))
    await bot.say("subscribe sklearn_* workspace=ml-prod", scope="channel")
    return bot


async def push(bot: BotUnderTest, version: int = 20) -> dict[str, Any]:
    """Deliver the sample event; the card it announced."""
    status, answer = await post_events(bot, [sample("eventgrid", version=version)])
    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})
    await wait_until(lambda: announcement_cards(bot))
    return announcement_cards(bot)[-1]


async def stored_creator(bot: BotUnderTest, version: str = "20") -> str | None:
    async with bot.server.app[STORE].engine.connect() as connection:
        creator: str | None = await connection.scalar(
            select(model_versions.c.created_by).where(
                model_versions.c.name == MODEL, model_versions.c.version == version
            )
        )
    return creator


async def poll_once(bot: BotUnderTest, registry: AzureMLRegistry) -> dict[str, Any]:
    """The bot's poller polls ``registry`` now, as it does every interval, and announces one
    version: its card."""
    assert await bot.server.app[WATCHER].poll(registry) == 1
    await wait_until(lambda: announcement_cards(bot))
    [card] = announcement_cards(bot)
    return card


async def deferred(bot: BotUnderTest, caplog: pytest.LogCaptureFixture) -> str:
    """Deliver the sample event for version 20, which the bot cannot read now: nothing is stored
    or announced; the warning it logs."""
    with caplog.at_level(logging.WARNING, logger=eventgrid.__name__):
        status, answer = await post_events(bot, [sample("eventgrid", version=20)])
    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})
    assert await stored_creator(bot) is None
    assert announcement_cards(bot) == []
    [warning] = [r for r in caplog.records if r.name == eventgrid.__name__]
    assert warning.exc_info is None
    return warning.getMessage()


async def assert_no_self_approval(bot: BotUnderTest, card: dict[str, Any]) -> None:
    """Alice (who registered the version) is refused; Bob may approve."""
    approval_id = execute_actions(card)[0]["data"]["approvalId"]
    refused = await click(bot, APPROVE, {"approvalId": approval_id}, user=ALICE, name="Alice")
    allowed = await click(bot, APPROVE, {"approvalId": approval_id}, user=BOB, name="Bob")
    assert SELF_APPROVAL in card_text(refused["value"])
    assert "✔ Bob approved" in card_text(allowed["value"])


@pytest.mark.slow
@pytest.mark.parametrize("creator", ["Alice@Contoso.com", ALICE], ids=["by UPN", "by object id"])
async def test_a_pushed_version_is_announced_with_its_creator_who_may_not_approve_it(
    arm: FakeArm, start_bot, creator
):
    registry = arm.registry()
    bot = await watching(start_bot, registry)
    bot.connector.upns = {"29:alice": "alice@contoso.com", "29:bob": "bob@contoso.com"}
    await until_polled(bot)  # the first poll is over: only the event brings version 20
    arm.register(MODEL, "20", createdBy=creator)

    card = await push(bot)

    assert f"Registered by\n{creator}" in card_text(card)
    assert await stored_creator(bot) == creator
    assert arm.requests[f"version {MODEL} 20"] == 1
    await assert_no_self_approval(bot, card)


async def watching_since(bot: BotUnderTest) -> bool:
    """Whether the bot's poller has begun watching a source (its first poll has started)."""
    async with bot.server.app[STORE].engine.connect() as connection:
        return await connection.scalar(select(registry_sources.c.watched_since)) is not None


@pytest.mark.slow
async def test_when_the_credential_fails_the_event_announces_nothing_and_the_first_poll_does(
    arm: FakeArm, start_bot, caplog
):
    credential = FakeCredential(ClientAuthenticationError(TOKEN_ERROR))
    registry = arm.registry(credential)
    bot = await watching(start_bot, registry)  # its first poll fails too, and waits a minute
    await wait_until(lambda: watching_since(bot))  # that first poll has begun the watch
    arm.register(MODEL, "20", createdBy="alice@contoso.com")

    warning = await deferred(bot, caplog)

    assert warning == (
        f"no answer from Azure ML for {MODEL} 20 (workspace ml-prod): authentication failed "
        "(ClientAuthenticationError): check the AZURE_* settings or the managed identity, and "
        "its role on the workspace; not recorded from the event, the next poll announces it"
    )
    credential.error = None
    # The first poll: version 20 was registered after the bot began watching, so it is new.
    card = await poll_once(bot, registry)
    assert "Registered by\nalice@contoso.com" in card_text(card)
    assert await stored_creator(bot) == "alice@contoso.com"
    bot.connector.upns = {"29:alice": "alice@contoso.com", "29:bob": "bob@contoso.com"}
    await assert_no_self_approval(bot, card)


@pytest.mark.slow
async def test_when_the_workspace_fails_the_event_is_not_held_and_the_next_poll_announces(
    arm: FakeArm, start_bot, caplog, monkeypatch
):
    # azure-core retries a 500 for about five seconds: longer than the look-up may take.
    monkeypatch.setattr(eventgrid, "LOOKUP_SECONDS", 0.5)
    registry = arm.registry()
    bot = await watching(start_bot, registry)
    await until_polled(bot)
    arm.register(MODEL, "20", createdBy=ALICE)
    arm.version_error = 500

    started = time.monotonic()
    warning = await deferred(bot, caplog)
    took = time.monotonic() - started
    arm.version_error = None

    assert took < 2.0
    assert f"{MODEL} 20 (workspace ml-prod): no answer within 0.5 s" in warning
    card = await poll_once(bot, registry)
    assert f"Registered by\n{ALICE}" in card_text(card)
    await assert_no_self_approval(bot, card)


@pytest.mark.slow
async def test_a_version_the_poller_recorded_first_keeps_its_creator(arm: FakeArm, start_bot):
    registry = arm.registry()
    bot = await watching(start_bot, registry)
    await until_polled(bot)  # version 19, registered by Bob, is known
    arm.models[MODEL][0]["createdBy"] = "mallory@contoso.com"  # whatever the workspace says now

    status, _ = await post_events(bot, [sample("eventgrid", version=19)])

    assert status == 200
    assert await stored_creator(bot, "19") == "bob@contoso.com"
    assert announcement_cards(bot) == []
