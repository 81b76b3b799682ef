"""The store: migrations match the tables, unique constraints hold, activation is a compare-and-set."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from bot.store.clock import utcnow
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.store import Store
from bot.store.tables import metadata, model_versions, subscriptions
from domain.policy import PolicyOverrides
from domain.records import ModelVersion, RecordedVersion
from tests.support.store import conversation

pytestmark = pytest.mark.both_stores


@pytest.fixture
async def store(database_url: str):
    engine = create_engine(database_url)
    await upgrade(engine)
    store = Store(engine)
    yield store
    store.close()
    await engine.dispose()


# SQLite cannot reflect an index on an expression (lower(name)): PostgreSQL compares it, and
# test_store_indexes.py shows it in use on both stores.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
@pytest.mark.slow
async def test_the_migrations_create_exactly_the_declared_tables(store: Store):
    async with store.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )

    assert differences == []


async def test_migrating_twice_changes_nothing(store: Store):
    await upgrade(store.engine)

    assert await store.subscriptions.in_conversation(1) == []


async def test_replicas_starting_together_migrate_an_empty_store_once(database_url: str):
    replicas = [create_engine(database_url) for _ in range(3)]

    await asyncio.gather(*(upgrade(engine) for engine in replicas))

    async with replicas[0].connect() as connection:
        versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    assert len(versions) == 1
    for engine in replicas:
        await engine.dispose()


async def test_a_source_baselined_before_migration_0008_stays_baselined_watched_since(
    database_url: str,
):
    engine = create_engine(database_url)
    baselined = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    await upgrade(engine, "0007")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO registry_sources (source_kind, source_name, baselined_at) "
                "VALUES ('workspace', 'ml-prod', :at)"
            ),
            {"at": baselined},
        )

    await upgrade(engine)

    store = Store(engine)
    assert await store.sources.watermarks("workspace", "ml-prod") == {}
    since = await store.sources.start_watching("workspace", "ml-prod")
    assert since.replace(tzinfo=UTC) == baselined
    await engine.dispose()


@pytest.mark.slow
async def test_the_unique_constraint_refuses_a_duplicate_subscription_written_directly(
    store: Store,
):
    conversation_ref, _ = await store.conversations.save(conversation())
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
        await store.subscriptions.add(
            999, "m", source=None, tags={}, created_by=None, created_by_name=None
        )


@pytest.mark.slow
async def test_concurrent_saves_of_a_new_conversation_activate_it_once(store: Store):
    results = await asyncio.gather(*(store.conversations.save(conversation()) for _ in range(20)))

    assert len({conversation_ref for conversation_ref, _ in results}) == 1
    assert sum(activated for _, activated in results) == 1


@pytest.mark.slow
async def test_concurrent_identical_subscribes_make_one_subscription(store: Store):
    conversation_ref, _ = await store.conversations.save(conversation())

    results = await asyncio.gather(
        *(
            store.subscriptions.add(
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

    assert sum(change.created for change in results) == 1
    assert len(await store.subscriptions.in_conversation(conversation_ref)) == 1


async def test_a_conversations_subscriptions_read_back_as_they_were_written(store: Store):
    """The read path of a chat turn (on SQLite its own connections) returns the records the
    writes returned, the latest write included."""
    ref, _ = await store.conversations.save(conversation())
    policy = PolicyOverrides(frozenset({"ada@contoso.com"}), 2, 24, "pipeline:42")
    added = [
        (
            await store.subscriptions.add(
                ref,
                pattern,
                source=source,
                tags=tags,
                created_by="0000-ada",
                created_by_name="Ada",
                policy=policy if source else None,
            )
        ).subscription
        for pattern, source, tags in (
            ("fraud-*", ("workspace", "ml-prod"), {"stage": "prod"}),
            ("churn", None, {}),
            ("*", ("registry", "shared"), {"team": "risk", "tier": "1"}),
        )
    ]
    await store.subscriptions.remove(ref, subscription_id=added[1].id)

    listed = await store.subscriptions.in_conversation(ref)

    assert listed == [added[0], added[2]]
    assert listed[0].policy == policy
    assert listed[0].created_at is not None


async def test_reactivation_after_removal_is_reported_once(store: Store):
    await store.conversations.save(conversation())
    assert await store.conversations.deactivate("msteams", "19:c@thread.tacv2") is True
    assert await store.conversations.deactivate("msteams", "19:c@thread.tacv2") is False

    results = await asyncio.gather(*(store.conversations.save(conversation()) for _ in range(5)))

    assert sum(activated for _, activated in results) == 1
    async with store.engine.connect() as connection:
        assert (await connection.execute(text("SELECT active FROM conversations"))).scalar_one()


async def test_a_refresh_keeps_the_newest_reference(store: Store):
    first, _ = await store.conversations.save(conversation(service_url="https://old/"))
    second, activated = await store.conversations.save(conversation(service_url="https://new/"))

    assert (first, activated) == (second, False)
    async with store.engine.connect() as connection:
        url = (await connection.execute(text("SELECT service_url FROM conversations"))).scalar_one()
    assert url == "https://new/"


async def stored_creator(store: Store, version: ModelVersion) -> tuple[str | None, object]:
    async with store.engine.connect() as connection:
        row = (
            await connection.execute(
                select(model_versions.c.created_by, model_versions.c.created_at).where(
                    model_versions.c.name == version.name,
                    model_versions.c.version == version.version,
                )
            )
        ).one()
    return row.created_by, row.created_at


PUSHED = ModelVersion("workspace", "ml-prod", "fraud", "3")
"""A version as an Event Grid event tells it: nobody knows who registered it."""
REGISTERED_AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


async def test_a_known_version_without_creator_gets_it_from_a_later_record(store: Store):
    conversation_ref, _ = await store.conversations.save(conversation())
    await store.subscriptions.add(
        conversation_ref, "*", source=None, tags={}, created_by=None, created_by_name=None
    )
    first = await store.versions.record(PUSHED, "event", timedelta(0))
    polled = replace(PUSHED, created_by="grace@contoso.com", created_at=REGISTERED_AT)

    again = await store.versions.record(polled, "poll", timedelta(0))

    assert (first.new, len(first.claimed)) == (True, 1)
    assert again == RecordedVersion(new=False)  # no second announcement
    created_by, created_at = await stored_creator(store, PUSHED)
    assert created_by == "grace@contoso.com"
    assert created_at is not None
    assert created_at.replace(tzinfo=UTC) == REGISTERED_AT


async def test_a_first_poll_fills_in_the_creator_of_a_version_pushed_before_it(store: Store):
    await store.versions.record(PUSHED, "event", timedelta(0))

    older = replace(PUSHED, version="2", created_by="ada@contoso.com")

    await store.versions.remember(
        [replace(PUSHED, created_by="grace@contoso.com"), older, replace(PUSHED, version="1")],
        "poll",
    )

    assert (await stored_creator(store, PUSHED))[0] == "grace@contoso.com"
    assert (await stored_creator(store, older))[0] == "ada@contoso.com"


async def test_a_poll_records_only_what_the_store_lacks(store: Store):
    await store.versions.record(PUSHED, "event", timedelta(0))  # without its creator
    complete = replace(PUSHED, version="2", created_by="ada@contoso.com")
    await store.versions.record(complete, "poll", timedelta(0))
    creator_now_known = replace(PUSHED, created_by="grace@contoso.com")
    new = replace(PUSHED, version="4")
    elsewhere = replace(PUSHED, source_name="ml-dev", version="2")

    news = await store.versions.news([creator_now_known, complete, replace(PUSHED), new, elsewhere])

    assert news == [creator_now_known, new, elsewhere]


async def test_a_known_creator_is_never_overwritten(store: Store):
    await store.versions.record(
        replace(PUSHED, created_by="grace@contoso.com"), "poll", timedelta(0)
    )
    other = replace(PUSHED, created_by="mallory@contoso.com", created_at=REGISTERED_AT)

    again = await store.versions.record(other, "event", timedelta(0))
    await store.versions.remember([other], "poll")
    await store.versions.record(PUSHED, "event", timedelta(0))  # and none does not erase it

    assert again == RecordedVersion(new=False)
    assert await stored_creator(store, PUSHED) == ("grace@contoso.com", None)
