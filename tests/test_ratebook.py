"""Teams' limits shared by replicas: two limiters on one PostgreSQL keep the windows together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ratelimit import CannotBook, RateLimiter
from bot.store import ratebook
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.ratebook import APP_SCOPE, SharedRateLimiter, conversation_scope, rate_limiter
from bot.store.tables import rate_bookings
from fakes.ports import free_port
from fakes.postgres import PostgresServer

APP = ((5, 0.5),)
CONVERSATION = ((3, 0.5),)


@pytest.fixture
async def engines(postgres: PostgresServer) -> AsyncIterator[list[AsyncEngine]]:
    """Two replicas' engines on one new PostgreSQL database."""
    url = await postgres.new_database()
    replicas = [create_engine(url), create_engine(url)]
    await upgrade(replicas[0])
    yield replicas
    for engine in replicas:
        await engine.dispose()


def limiters(engines: list[AsyncEngine]) -> list[SharedRateLimiter]:
    return [SharedRateLimiter(engine, CONVERSATION, APP) for engine in engines]


async def booked(engine: AsyncEngine, scope: str) -> list[float]:
    """The booking times of ``scope``, oldest first, in the database's clock."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(rate_bookings.c.booked_at)
            .where(rate_bookings.c.scope == scope)
            .order_by(rate_bookings.c.booked_at)
        )
        return [booked_at.timestamp() for (booked_at,) in rows]


def assert_at_most(times: list[float], count: int, seconds: float) -> None:
    for first, later in zip(times, times[count:], strict=False):
        assert later - first >= seconds, f"more than {count} in {seconds} s: {times}"


async def test_replicas_together_keep_the_apps_limit(engines: list[AsyncEngine]):
    replicas = limiters(engines)

    await asyncio.gather(*(replicas[n % 2].acquire(f"19:c{n}@thread") for n in range(16)))

    times = await booked(engines[0], APP_SCOPE)
    assert len(times) == 16
    assert_at_most(times, 5, 0.5)
    assert times[-1] - times[0] < 2.0  # and not much slower: 16 at 5 per 0.5 s take 1.5 s


async def test_replicas_together_keep_a_conversations_limit(engines: list[AsyncEngine]):
    replicas = limiters(engines)

    await asyncio.gather(*(replicas[n % 2].acquire("19:busy@thread") for n in range(7)))

    times = await booked(engines[0], conversation_scope("19:busy@thread"))
    assert len(times) == 7
    assert_at_most(times, 3, 0.5)


async def test_a_conversation_waiting_for_its_own_window_holds_up_no_other_send(
    engines: list[AsyncEngine],
):
    first, second = limiters(engines)
    for _ in range(3):
        await second.acquire("19:busy@thread")  # another replica filled its window
    booked_in_order: list[str] = []

    async def send(conversation: str) -> None:
        await first.acquire(conversation)
        booked_in_order.append(conversation)

    await asyncio.gather(send("19:busy@thread"), send("19:idle@thread"))

    assert booked_in_order == ["19:idle@thread", "19:busy@thread"]


async def test_a_wait_longer_than_a_claim_hands_the_message_back(engines: list[AsyncEngine]):
    limiter = SharedRateLimiter(engines[0], ((1, 100.0),), APP)
    await limiter.acquire("19:c@thread")

    with pytest.raises(CannotBook) as refusal:
        await limiter.acquire("19:c@thread")

    assert refusal.value.retry_after is not None
    assert 99.0 < refusal.value.retry_after <= 100.0


async def test_without_its_database_the_limiter_hands_the_message_back():
    engine = create_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none")

    with pytest.raises(CannotBook) as refusal:
        await SharedRateLimiter(engine).acquire("19:c@thread")

    assert refusal.value.retry_after is None
    assert "the database could not book the message" in str(refusal.value)
    await engine.dispose()


async def test_bookings_no_window_counts_are_swept(engines, monkeypatch):
    monkeypatch.setattr(ratebook, "PRUNE_EVERY", 1)
    old_conversation = conversation_scope("19:old@thread")
    async with engines[0].begin() as connection:
        now = await connection.scalar(select(func.clock_timestamp()))
        hour_ago = now - timedelta(hours=1, seconds=1)
        await connection.execute(
            insert(rate_bookings),
            [
                {"scope": APP_SCOPE, "booked_at": hour_ago},
                {"scope": old_conversation, "booked_at": hour_ago},
            ],
        )

    await limiters(engines)[0].acquire("19:new@thread")

    assert len(await booked(engines[0], APP_SCOPE)) == 1
    assert await booked(engines[0], old_conversation) == []
    assert len(await booked(engines[0], conversation_scope("19:new@thread"))) == 1


async def test_postgresql_shares_the_limits_and_sqlite_keeps_them_in_the_process(
    engines: list[AsyncEngine], tmp_path
):
    sqlite = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")

    assert isinstance(rate_limiter(engines[0]), SharedRateLimiter)
    assert isinstance(rate_limiter(sqlite), RateLimiter)
    await sqlite.dispose()


def test_a_conversations_scope_has_a_fixed_length_whatever_its_id():
    scopes = {conversation_scope("a:" + "x" * n) for n in (1, 500, 5000)}

    assert len(scopes) == 3
    assert {len(scope) for scope in scopes} == {len("conversation:") + 32}
