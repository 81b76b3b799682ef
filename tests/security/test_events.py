"""Azure ML is the truth, events are hints: whoever can post to /api/events/azureml (the shared
secret leaked, a token of another application of the tenant) cannot have the bot announce a version
Azure ML lacks, nor one with tags, properties or a creator of their choosing. Each attack goes over
HTTP to the real bot, which reads the loopback Azure ML through the real azure-ai-ml client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import ClientSession
from azure.core.exceptions import ClientAuthenticationError
from sqlalchemy import func, select

from app import STORE, WATCHER
from bot.cloud import CLOUDS, CloudName
from bot.registry import eventgrid
from bot.registry.entra import EVENT_GRID_APP_ID, EVENT_GRID_ROLE
from bot.store.rows import model_version
from bot.store.tables import announcements, model_versions
from domain.records import ModelVersion
from fakes.azureml import FakeArm, FakeCredential
from tests.support.activities import installation
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, card_title
from tests.support.events import ANNOUNCING, announcement_cards, entra_token, post_events, sample
from tests.support.metrics import grew, scrape
from tests.support.waiting import until_polled, wait_until

MODEL = "sklearn_regression_model"  # the model of Microsoft's sample event
EVENT_VERSIONS = "releasebot_event_versions_total"
TRUE_TAGS = {"area": "oncology", "owner": "ml-platform"}
"""What Azure ML says of version 20; the sample event says area=diabetes."""


async def subscribed(start_bot: Any, **settings: Any) -> BotUnderTest:
    """The bot, installed in the release channel subscribed to the sample's model."""
    bot: BotUnderTest = await start_bot(**ANNOUNCING, **settings)
    await bot.post(installation(bot.connector.url, "add", scope="channel"))
    await bot.say("subscribe sklearn_* workspace=ml-prod", scope="channel")
    return bot


async def stored_versions(bot: BotUnderTest) -> list[tuple[str, str]]:
    """Every (model, version) the bot stored."""
    async with bot.server.app[STORE].engine.connect() as connection:
        rows = await connection.execute(select(model_versions.c.name, model_versions.c.version))
        return sorted(tuple(row) for row in rows)


async def stored_version(bot: BotUnderTest) -> ModelVersion:
    """Version 20, as the bot stored it."""
    async with bot.server.app[STORE].engine.connect() as connection:
        row = (
            await connection.execute(
                select(model_versions).where(
                    model_versions.c.name == MODEL, model_versions.c.version == "20"
                )
            )
        ).one()
    return model_version(row._mapping)


async def announcements_queued(bot: BotUnderTest) -> int:
    """How many announcements the bot ever queued, sent or not."""
    async with bot.server.app[STORE].engine.connect() as connection:
        count: int = await connection.scalar(select(func.count()).select_from(announcements))
        return count


async def nothing_announced(bot: BotUnderTest) -> None:
    """Version 20 is not stored, and no card is queued or sent."""
    assert (MODEL, "20") not in await stored_versions(bot)
    assert await announcements_queued(bot) == 0
    assert announcement_cards(bot) == []


def event_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == eventgrid.__name__]


@pytest.mark.slow
async def test_an_event_for_a_version_azure_ml_lacks_announces_nothing(start_bot, caplog):
    bot = await subscribed(start_bot)
    await until_polled(bot)
    before = await scrape(bot)

    with caplog.at_level(logging.WARNING, logger=eventgrid.__name__):
        status, answer = await post_events(bot, [sample("eventgrid", version=20)])

    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})
    await nothing_announced(bot)
    assert event_warnings(caplog) == [
        f"Azure ML does not have {MODEL} 20 (workspace ml-prod): not found (404); not announced"
    ]
    after = await scrape(bot)
    assert grew(before, after, EVENT_VERSIONS, outcome="not_found") == 1
    assert grew(before, after, EVENT_VERSIONS, outcome="recorded") == 0


@pytest.mark.slow
async def test_the_card_shows_what_azure_ml_says_not_what_the_event_says(start_bot, arm: FakeArm):
    bot = await subscribed(start_bot)
    await until_polled(bot)
    arm.register(
        MODEL,
        "20",
        tags=TRUE_TAGS,
        properties={"accuracy": "0.93"},
        description="Trained on the 2026 cohort",
        createdBy="bob@contoso.com",
    )
    forged = sample("eventgrid", version=20)
    forged["data"]["ModelTags"] = {"area": "diabetes", "security-review": "waived-by-ciso"}
    forged["data"]["ModelProperties"] = {"accuracy": "0.99"}
    before = await scrape(bot)

    status, _ = await post_events(bot, [forged])
    await wait_until(lambda: announcement_cards(bot))

    assert status == 200
    [card] = announcement_cards(bot)
    text = card_text(card)
    assert "oncology" in text
    assert "ml-platform" in text
    assert "Registered by\nbob@contoso.com" in text
    assert "0.93" in text
    assert "diabetes" not in text
    assert "waived-by-ciso" not in text
    assert "0.99" not in text
    stored = await stored_version(bot)
    assert (stored.tags, stored.properties, stored.description, stored.created_by) == (
        TRUE_TAGS,
        {"accuracy": "0.93"},
        "Trained on the 2026 cohort",
        "bob@contoso.com",
    )
    assert grew(before, await scrape(bot), EVENT_VERSIONS, outcome="recorded") == 1


@pytest.mark.slow
@pytest.mark.parametrize("trouble", ["5xx", "slow"])
async def test_when_azure_ml_cannot_answer_the_event_stores_nothing_and_a_poll_announces_once(
    start_bot, arm: FakeArm, caplog, monkeypatch, trouble
):
    monkeypatch.setattr(eventgrid, "LOOKUP_SECONDS", 0.3)
    bot = await subscribed(start_bot)
    await until_polled(bot)
    arm.register(MODEL, "20", tags=TRUE_TAGS)
    if trouble == "5xx":
        arm.version_error = 503
    else:
        arm.version_delay = 1.0
    before = await scrape(bot)

    with caplog.at_level(logging.WARNING, logger=eventgrid.__name__):
        status, answer = await post_events(bot, [sample("eventgrid", version=20)])
    arm.version_error, arm.version_delay = None, 0.0

    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})
    await nothing_announced(bot)
    [warning] = event_warnings(caplog)
    assert f"{MODEL} 20 (workspace ml-prod): no answer within 0.3 s" in warning
    assert grew(before, await scrape(bot), EVENT_VERSIONS, outcome="deferred") == 1
    # The poller's next cycle finds the version; a redelivery of the event changes nothing.
    assert await bot.server.app[WATCHER].poll(arm.registry()) == 1
    await wait_until(lambda: announcement_cards(bot))
    await post_events(bot, [sample("eventgrid", version=20)])
    assert await bot.server.app[WATCHER].poll(arm.registry()) == 0
    [card] = announcement_cards(bot)
    assert "oncology" in card_text(card)
    assert "diabetes" not in card_text(card)


async def test_an_event_for_a_workspace_the_bot_does_not_poll_announces_nothing(
    start_bot, arm: FakeArm
):
    bot = await subscribed(start_bot, registries=[])  # configured for events, but not polled
    arm.register(MODEL, "20")
    before = await scrape(bot)

    status, answer = await post_events(bot, [sample("eventgrid", version=20)])

    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})
    await nothing_announced(bot)
    assert grew(before, await scrape(bot), EVENT_VERSIONS, outcome="unwatched") == 1
    assert arm.requests[f"version {MODEL} 20"] == 0


async def test_a_version_the_first_poll_saw_before_its_event_is_announced_once(
    start_bot, arm: FakeArm
):
    arm.register(MODEL, "19")  # before the bot watches the workspace
    credential = FakeCredential(ClientAuthenticationError("Azure is not reachable yet"))
    registry = arm.registry(credential)
    bot = await subscribed(start_bot, registries=[registry])
    await first_poll_failed(bot)  # the bot watches the workspace from now on
    arm.register(MODEL, "20", tags=TRUE_TAGS)
    credential.error = None

    assert await bot.server.app[WATCHER].poll(registry) == 1  # the first poll sees version 20
    status, _ = await post_events(bot, [sample("eventgrid", version=20)])  # then its event comes
    await wait_until(lambda: announcement_cards(bot))

    assert status == 200
    [card] = announcement_cards(bot)
    assert card_title(card) == f"New version: {MODEL} 20"
    assert (MODEL, "19") in await stored_versions(bot)  # older than the watch: known, not announced


async def first_poll_failed(bot: BotUnderTest) -> None:
    """Wait until /readyz reports that the bot's first poll of its source failed."""
    async with asyncio.timeout(30), ClientSession() as session:
        while True:
            async with session.get(bot.server.make_url("/readyz")) as response:
                check = (await response.json())["checks"]["azure_ml"]
            if "authentication failed" in check.get("reason", ""):
                return
            await asyncio.sleep(0.05)


def event_grid_token(keys: Any, **claims: Any) -> str:
    """A token for our audience from our tenant (the entra_bot's loopback Entra), with ``claims``."""
    return entra_token(keys, CLOUDS[CloudName.PUBLIC].entra_authority, **claims)


@pytest.mark.parametrize(
    "claims",
    [
        {"appid": "11111111-2222-3333-4444-555555555555"},
        {"appid": None, "azp": "11111111-2222-3333-4444-555555555555"},
        {"appid": "11111111-2222-3333-4444-555555555555", "roles": ["Reader"]},
        {"appid": "11111111-2222-3333-4444-555555555555", "roles": EVENT_GRID_ROLE},
    ],
    ids=["another app (v1)", "another app (v2)", "another role", "roles not a list"],
)
async def test_an_entra_token_of_another_application_gets_401(
    entra_bot: BotUnderTest, signing_keys, claims
):
    token = event_grid_token(signing_keys, **claims)

    status, _ = await post_events(
        entra_bot, [sample("eventgrid", version=20)], secret=None, headers=bearer(token)
    )

    assert status == 401
    assert (MODEL, "20") not in await stored_versions(entra_bot)


@pytest.mark.slow
@pytest.mark.parametrize(
    "claims",
    [
        {"appid": EVENT_GRID_APP_ID},
        {"appid": None, "azp": EVENT_GRID_APP_ID},
        {"appid": "11111111-2222-3333-4444-555555555555", "roles": [EVENT_GRID_ROLE]},
    ],
    ids=["Event Grid's app (v1)", "Event Grid's app (v2)", "Event Grid's role"],
)
async def test_an_entra_token_event_grid_got_is_accepted(
    entra_bot: BotUnderTest, signing_keys, claims
):
    entra_bot.arm.register(MODEL, "20")
    token = event_grid_token(signing_keys, **claims)

    status, answer = await post_events(
        entra_bot, [sample("eventgrid", version=20)], secret=None, headers=bearer(token)
    )

    assert (status, answer) == (200, {"accepted": 1, "ignored": 0})
    assert (MODEL, "20") in await stored_versions(entra_bot)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
