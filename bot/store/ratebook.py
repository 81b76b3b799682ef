"""Teams' rate limits shared by the replicas: every message is booked in PostgreSQL.

Each booking is one short transaction under a transaction-scoped advisory lock, in the database's
clock, so that replicas on several hosts count the same windows with the same time. SQLite means
one process, whose limiter keeps its windows in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, DateTime, and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.ratelimit import (
    APP_WINDOWS,
    CONVERSATION_WINDOWS,
    Limiter,
    RateLimiter,
    Window,
    window_wait,
)
from bot.store.tables import rate_bookings

APP_SCOPE = "app"
LOCK_KEY = 0x5242_5241_5445  # ours alone among the database's advisory locks
PRUNE_EVERY = 256  # bookings between sweeps of the rows no window counts any more


def rate_limiter(engine: AsyncEngine) -> Limiter:
    """The limiter for the store behind ``engine``: shared on PostgreSQL, in memory on SQLite."""
    if engine.dialect.name == "postgresql":
        return SharedRateLimiter(engine)
    return RateLimiter()


def conversation_scope(conversation: Hashable) -> str:
    """The booking scope of a conversation: fixed length, whatever the length of Teams' id."""
    digest = hashlib.sha256(str(conversation).encode()).hexdigest()[:32]
    return f"conversation:{digest}"


class SharedRateLimiter:
    """Waits until one more message fits every window of its conversation and of the app,
    counting the messages of every replica on the same PostgreSQL database."""

    def __init__(
        self,
        engine: AsyncEngine,
        conversation_windows: tuple[Window, ...] = CONVERSATION_WINDOWS,
        app_windows: tuple[Window, ...] = APP_WINDOWS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._engine = engine
        self._conversation_windows = conversation_windows
        self._app_windows = app_windows
        self._sleep = sleep
        self._bookings = 0

    async def acquire(self, conversation: Hashable) -> None:
        """Return once a message to ``conversation`` is within every limit (and book it)."""
        scope = conversation_scope(conversation)
        while (wait := await self._book(scope)) > 0:
            await self._sleep(wait)

    async def _book(self, scope: str) -> float:
        """Book a message to ``scope`` now, or return how many seconds until one fits."""
        async with self._engine.begin() as connection:
            await connection.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
            now = await _database_now(connection)
            app, conversation = await self._recent(connection, scope, now)
            stamp = now.timestamp()
            wait = max(
                window_wait(app, self._app_windows, stamp),
                window_wait(conversation, self._conversation_windows, stamp),
            )
            if wait > 0:
                return wait
            await connection.execute(
                insert(rate_bookings),
                [{"scope": APP_SCOPE, "booked_at": now}, {"scope": scope, "booked_at": now}],
            )
            self._bookings += 1
            if self._bookings % PRUNE_EVERY == 0:
                await self._prune(connection, now)
        return 0.0

    async def _recent(
        self, connection: AsyncConnection, scope: str, now: datetime
    ) -> tuple[deque[float], deque[float]]:
        """The booking times (oldest first) the app's and the conversation's windows count."""
        rows = await connection.execute(
            select(rate_bookings.c.scope, rate_bookings.c.booked_at)
            .where(
                or_(
                    _within(APP_SCOPE, now, self._app_windows),
                    _within(scope, now, self._conversation_windows),
                )
            )
            .order_by(rate_bookings.c.booked_at)
        )
        app: deque[float] = deque()
        conversation: deque[float] = deque()
        for row_scope, booked_at in rows:
            (app if row_scope == APP_SCOPE else conversation).append(booked_at.timestamp())
        return app, conversation

    async def _prune(self, connection: AsyncConnection, now: datetime) -> None:
        """Delete the bookings no window counts any more."""
        conversations = timedelta(seconds=_longest(self._conversation_windows))
        app = timedelta(seconds=_longest(self._app_windows))
        await connection.execute(
            delete(rate_bookings).where(
                or_(
                    rate_bookings.c.booked_at < now - conversations,
                    and_(rate_bookings.c.scope == APP_SCOPE, rate_bookings.c.booked_at < now - app),
                )
            )
        )


def _within(scope: str, now: datetime, windows: tuple[Window, ...]) -> ColumnElement[bool]:
    return and_(
        rate_bookings.c.scope == scope,
        rate_bookings.c.booked_at > now - timedelta(seconds=_longest(windows)),
    )


def _longest(windows: tuple[Window, ...]) -> float:
    return max(seconds for _, seconds in windows)


async def _database_now(connection: AsyncConnection) -> datetime:
    """The database server's clock (not the transaction's start): the same for every replica."""
    now: datetime = (
        await connection.execute(select(func.clock_timestamp(type_=DateTime(timezone=True))))
    ).scalar_one()
    return now
