"""The store: migrations match the tables, unique constraints hold, activation is a compare-and-set."""

from __future__ import annotations

import asyncio
import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from bot.domain import ConversationInfo
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.repository import Store, utcnow
from bot.store.tables import metadata, subscriptions


@pytest.fixture
async def store(database_url: str):
    engine = create_engine(database_url)
    await upgrade(engine)
    yield Store(engine)
    await engine.dispose()


def conversation(
    conversation_id: str = "19:c@thread.tacv2", service_url: str = "https://smba/"
) -> ConversationInfo:
    return ConversationInfo(
        channel_id="msteams",
        conversation_id=conversation_id,
        conversation_type="channel",
        tenant_id="t",
        service_url=service_url,
        name=None,
        locale="en-US",
        reference=json.dumps({"conversation": {"id": conversation_id}}),
    )


async def test_the_migrations_create_exactly_the_declared_tables(store: Store):
    async with store.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )

    assert differences == []


async def test_migrating_twice_changes_nothing(store: Store):
    await upgrade(store.engine)

    assert await store.list_subscriptions(1) == []


async def test_the_unique_constraint_refuses_a_duplicate_subscription_written_directly(
    store: Store,
):
    conversation_ref, _ = await store.save_conversation(conversation())
    row = {
        "conversation_ref": conversation_ref,
        "name_pattern": "m",
        "name_prefix": "m",
        "source_kind": "",
        "source_name": "",
        "tags": "{}",
        "created_at": utcnow(),
    }
    async with store.engine.begin() as connection:
        await connection.execute(insert(subscriptions).values(**row))

    with pytest.raises(IntegrityError):
        async with store.engine.begin() as connection:
            await connection.execute(insert(subscriptions).values(**row))


async def test_the_foreign_key_refuses_a_subscription_of_an_unknown_conversation(store: Store):
    with pytest.raises(IntegrityError):
        await store.add_subscription(
            999, "m", source=None, tags={}, created_by=None, created_by_name=None
        )


async def test_concurrent_saves_of_a_new_conversation_activate_it_once(store: Store):
    results = await asyncio.gather(*(store.save_conversation(conversation()) for _ in range(20)))

    assert len({conversation_ref for conversation_ref, _ in results}) == 1
    assert sum(activated for _, activated in results) == 1


async def test_concurrent_identical_subscribes_make_one_subscription(store: Store):
    conversation_ref, _ = await store.save_conversation(conversation())

    results = await asyncio.gather(
        *(
            store.add_subscription(
                conversation_ref,
                "fraud-*",
                source=("workspace", "ws1"),
                tags={"a": "1"},
                created_by=None,
                created_by_name=None,
            )
            for _ in range(20)
        )
    )

    assert sum(created for _, created in results) == 1
    assert len(await store.list_subscriptions(conversation_ref)) == 1


async def test_reactivation_after_removal_is_reported_once(store: Store):
    await store.save_conversation(conversation())
    assert await store.deactivate_conversation("msteams", "19:c@thread.tacv2") is True
    assert await store.deactivate_conversation("msteams", "19:c@thread.tacv2") is False

    results = await asyncio.gather(*(store.save_conversation(conversation()) for _ in range(5)))

    assert sum(activated for _, activated in results) == 1
    async with store.engine.connect() as connection:
        assert (await connection.execute(text("SELECT active FROM conversations"))).scalar_one()


async def test_a_refresh_keeps_the_newest_reference(store: Store):
    first, _ = await store.save_conversation(conversation(service_url="https://old/"))
    second, activated = await store.save_conversation(conversation(service_url="https://new/"))

    assert (first, activated) == (second, False)
    async with store.engine.connect() as connection:
        url = (await connection.execute(text("SELECT service_url FROM conversations"))).scalar_one()
    assert url == "https://new/"
