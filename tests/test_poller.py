"""Polling through the real azure-ai-ml client against a loopback ARM in the official shapes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError
from sqlalchemy import select

from bot.outbox import OutboxSender
from bot.registry.azureml import Container
from bot.registry.watcher import RegistryWatcher
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.rows import model_version
from bot.store.store import Store
from bot.store.tables import model_versions
from domain.records import ModelVersion
from fakes.azureml import FakeArm, FakeCredential
from tests.support.activities import installation
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text
from tests.support.outbox import RecordingChannel
from tests.support.store import conversation
from tests.support.waiting import until_polled


@pytest.fixture
async def arm(tmp_path):
    fake = FakeArm()
    fake.register(
        "fraud",
        "1",
        tags={"stage": "dev"},
        description="first try",
        createdBy="Grace",
        createdAt="2026-11-24T09:30:00.000Z",
    )
    fake.register("fraud", "2", tags={"stage": "prod", "accuracy": "0.91"})
    fake.register("churn", "7")
    fake.register("ltv", "a1b2")
    await fake.start(tmp_path)
    yield fake
    await fake.close()


@pytest.fixture
async def store(database_url):
    engine = create_engine(database_url)
    await upgrade(engine)
    the_store = Store(engine)
    ref, _ = await the_store.conversations.save(conversation())
    await the_store.subscriptions.add(
        ref, "*", source=None, tags={}, created_by=None, created_by_name=None
    )
    yield the_store
    await engine.dispose()


def watcher_for(
    store: Store, registry, channel: RecordingChannel
) -> tuple[RegistryWatcher, OutboxSender]:
    sender = OutboxSender(store, channel)
    return RegistryWatcher(store, [registry], sender, interval=60.0), sender


async def test_the_real_client_reads_models_and_versions(arm: FakeArm):
    registry = arm.registry()

    containers = await registry.containers()
    versions = await registry.versions("fraud")

    assert sorted(containers, key=lambda c: c.name) == [
        Container("churn", "7"),
        Container("fraud", "2"),
        Container("ltv", "a1b2"),
    ]
    first = versions[0]
    assert (first.name, first.version, first.tags, first.description) == (
        "fraud",
        "1",
        {"stage": "dev"},
        "first try",
    )
    assert (first.created_by, first.created_by_type) == ("Grace", "User")
    assert first.created_at == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    assert first.source_id.endswith("/workspaces/ml-prod")
    assert [v.version for v in versions] == ["1", "2"]


@pytest.mark.slow
async def test_the_first_poll_is_a_baseline_and_later_versions_are_announced(
    arm: FakeArm, store: Store
):
    channel = RecordingChannel()
    watcher, sender = watcher_for(store, arm.registry(), channel)

    assert await watcher.poll(arm.registry()) == 0
    arm.register("fraud", "3")
    arm.register("brand-new-model", "1")
    assert await watcher.poll(arm.registry()) == 2
    await sender.stop(grace=5)

    assert sorted(title for _, title in channel.sent) == [
        "New version: brand-new-model 1",
        "New version: fraud 3",
    ]


async def test_a_cycle_without_changes_costs_one_request_per_page(arm: FakeArm, store: Store):
    registry = arm.registry()
    watcher, _ = watcher_for(store, registry, RecordingChannel())
    await watcher.poll(registry)
    arm.requests.clear()

    await watcher.poll(registry)

    assert dict(arm.requests) == {"containers": 2}  # three models, two per page


async def test_a_version_pushed_and_polled_is_announced_once(arm: FakeArm, store: Store):
    channel = RecordingChannel()
    registry = arm.registry()
    watcher, sender = watcher_for(store, registry, channel)
    await watcher.poll(registry)
    arm.register("fraud", "3")
    pushed = await store.versions.record(
        ModelVersion("workspace", "ml-prod", "fraud", "3"), "event", timedelta(0)
    )
    sender.dispatch(pushed)

    assert await watcher.poll(registry) == 0
    await sender.stop(grace=5)

    assert [title for _, title in channel.sent] == ["New version: fraud 3"]


@pytest.mark.slow
async def test_versions_registered_while_the_bot_was_down_are_announced_after_a_restart(
    arm: FakeArm, store: Store
):
    registry = arm.registry()
    before, _ = watcher_for(store, registry, RecordingChannel())
    await before.poll(registry)
    arm.register("churn", "8")  # the bot is down

    channel = RecordingChannel()
    after, sender = watcher_for(store, arm.registry(), channel)
    await after.poll(arm.registry())
    await sender.stop(grace=5)

    assert [title for _, title in channel.sent] == ["New version: churn 8"]


async def test_an_authentication_failure_is_reported_once_and_on_readiness(
    arm: FakeArm, store: Store, caplog
):
    registry = arm.registry(
        FakeCredential(ClientAuthenticationError("token request failed: secret=abc"))
    )
    watcher, _ = watcher_for(store, registry, RecordingChannel())

    with caplog.at_level(logging.ERROR):
        delays = [await watcher._poll_safely(registry) for _ in range(3)]

    health = watcher.health()
    assert health["ok"] is False
    assert (
        "workspace ml-prod: authentication failed (ClientAuthenticationError)" in health["reason"]
    )
    assert "secret=abc" not in health["reason"]
    assert caplog.text.count("authentication failed") == 1
    assert all(delay >= 60.0 for delay in delays)


@pytest.mark.slow
async def test_the_bot_announces_a_polled_version_in_teams(arm: FakeArm, start_bot):
    bot: BotUnderTest = await start_bot(
        registries=[arm.registry()], RELEASEBOT_POLL_INTERVAL_SECONDS="1"
    )
    await bot.post(installation(bot.connector.url, "add", scope="channel"))
    await bot.say("subscribe fraud", scope="channel")
    await until_polled(bot)  # the baseline: what exists now is known, not announced
    before = len(bot.connector.calls)

    arm.register("fraud", "3", tags={"accuracy": "0.95"}, createdBy="Grace Hopper")
    await bot.connector.wait_for_calls(before + 1, within=10)

    text = card_text(bot.connector.last_card())
    assert "New version: fraud 3" in text
    assert "Grace Hopper" in text


async def test_a_registry_is_read_through_its_discovery(arm: FakeArm):
    registry = arm.registry_source()

    containers = await registry.containers()
    versions = await registry.versions("fraud")

    assert sorted(c.name for c in containers) == ["churn", "fraud", "ltv"]
    assert [(v.source_kind, v.source_name, v.version) for v in versions] == [
        ("registry", "shared-models", "1"),
        ("registry", "shared-models", "2"),
    ]
    assert arm.requests["discovery"] == 1


async def test_the_real_client_reads_one_version_of_a_workspace_and_of_a_registry(arm: FakeArm):
    arm.register("fraud", "3", createdBy="grace@contoso.com", createdAt="2026-12-01T08:00:00Z")

    in_workspace = await arm.registry().version_details("fraud", "3")
    in_registry = await arm.registry_source().version_details("fraud", "1")

    assert (in_workspace.source_kind, in_workspace.name, in_workspace.version) == (
        "workspace",
        "fraud",
        "3",
    )
    assert in_workspace.created_by == "grace@contoso.com"
    assert in_workspace.created_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert in_workspace.source_id.endswith("/workspaces/ml-prod")
    assert (in_registry.source_kind, in_registry.source_name, in_registry.created_by) == (
        "registry",
        "shared-models",
        "Grace",
    )
    assert arm.requests["version fraud 3"] == 1
    assert arm.requests["version fraud 1"] == 1


async def test_a_version_registered_by_an_application_says_so(arm: FakeArm, store: Store):
    arm.register("fraud", "3", createdBy="b7e1c0de-pipeline", createdByType="Application")
    registry = arm.registry()

    read = await registry.version_details("fraud", "3")
    await store.versions.record(read, "event", timedelta(0))

    assert (read.created_by, read.created_by_type) == ("b7e1c0de-pipeline", "Application")
    async with store.engine.connect() as connection:
        row = (
            await connection.execute(select(model_versions).where(model_versions.c.version == "3"))
        ).one()
    assert model_version(row._mapping).created_by_type == "Application"


async def test_an_unknown_version_is_not_found(arm: FakeArm):
    with pytest.raises(ResourceNotFoundError):
        await arm.registry().version_details("fraud", "99")


@pytest.mark.slow
@pytest.mark.parametrize("pushed", ["before the first poll", "after it"])
async def test_a_poll_fills_in_the_creator_a_pushed_version_lacks(
    arm: FakeArm, store: Store, pushed
):
    channel = RecordingChannel()
    registry = arm.registry()
    watcher, sender = watcher_for(store, registry, channel)
    if pushed == "after it":
        await watcher.poll(registry)
    arm.register("fraud", "3", createdBy="grace@contoso.com")
    event = ModelVersion("workspace", "ml-prod", "fraud", "3")  # no creator in an event
    sender.dispatch(await store.versions.record(event, "event", timedelta(0)))

    assert await watcher.poll(registry) == 0
    await sender.stop(grace=5)

    async with store.engine.connect() as connection:
        creator = (
            await connection.execute(
                select(model_versions.c.created_by, model_versions.c.created_by_type).where(
                    model_versions.c.version == "3"
                )
            )
        ).one()
    assert tuple(creator) == ("grace@contoso.com", "User")
    assert [title for _, title in channel.sent] == ["New version: fraud 3"]
