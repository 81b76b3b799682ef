"""Teams' rate limits shared by the replicas: every message is booked in PostgreSQL.

Each booking is one short transaction under a transaction-scoped advisory lock, in the database's
clock, so that replicas on several hosts count the same windows with the same time. A replica's
sends take their turns in order, one booking at a time (one pooled connection waits for the lock,
not one per send; only the first in line asks while the app's windows are full), and a holder
that stops answering loses the lock after a few seconds. SQLite means one process, whose limiter
keeps its windows in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Hashable
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    DateTime,
    Float,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ratelimit import (
    APP_WINDOWS,
    BOOKED,
    CONVERSATION_WINDOWS,
    Booking,
    CannotBook,
    Limiter,
    RateLimiter,
    Window,
    take_turn,
)
from bot.store.tables import rate_bookings

APP_SCOPE = "app"
LOCK_KEY = 0x5242_5241_5445  # ours alone among the database's advisory locks
PRUNE_EVERY = 256  # bookings between sweeps of the rows no window counts any more
# How long a booking waits for the lock, and how long its holder may stall before PostgreSQL
# ends its session (and so frees the lock): a frozen replica must not stop the others.
BOOKING_TIMEOUT = "5s"


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
    ) -> None:
        # Each statement must see the bookings committed before the lock was granted.
        self._engine = engine.execution_options(isolation_level="READ COMMITTED")
        self._conversation_windows = conversation_windows
        self._app_windows = app_windows
        self._queue = asyncio.Lock()
        self._bookings = 0
        self._read_windows = _window_reads(
            [
                *((literal(APP_SCOPE), window) for window in app_windows),
                *((bindparam("scope"), window) for window in conversation_windows),
            ]
        )

    async def acquire(self, conversation: Hashable) -> None:
        """Return once a message to ``conversation`` is within every limit (and book it), or
        raise :class:`CannotBook` if that is more than :data:`MAX_WAIT_SECONDS` away or the
        database cannot book it."""
        scope = conversation_scope(conversation)
        await take_turn(lambda: self._book_safely(scope), asyncio.sleep, self._queue)
        if self._bookings % PRUNE_EVERY == 0:
            await self._prune_safely()

    async def _book_safely(self, scope: str) -> Booking:
        try:
            return await self._book(scope)
        except (DBAPIError, PoolTimeout, OSError, TimeoutError) as error:
            reason = f"the database could not book the message ({type(error).__name__})"
            raise CannotBook(reason, None) from error

    async def _book(self, scope: str) -> Booking:
        """Book a message to ``scope`` now, or return how many seconds until one fits: for each
        window of ``count`` messages per ``seconds``, the ``count``-th newest booking in it must
        first fall out of it."""
        async with self._engine.begin() as connection:
            now = (await connection.execute(_LOCK_AND_READ_CLOCK)).scalar_one()
            rows = await connection.execute(self._read_windows, {"scope": scope, "now": now})
            stamp = now.timestamp()
            waits = [(row.booked_at.timestamp() + row.seconds - stamp, row.app) for row in rows]
            wait = max((seconds for seconds, _ in waits), default=0.0)
            if wait > 0:
                own = any(seconds > 0 and not app for seconds, app in waits)
                return Booking(wait, conversation_bound=own)
            await connection.execute(
                insert(rate_bookings).values(
                    [{"scope": APP_SCOPE, "booked_at": now}, {"scope": scope, "booked_at": now}]
                )
            )
        self._bookings += 1
        return BOOKED

    async def _prune_safely(self) -> None:
        """Delete the bookings no window counts any more (outside the lock; a failure waits
        for the next sweep)."""
        conversations = timedelta(seconds=_longest(self._conversation_windows))
        app = timedelta(seconds=_longest(self._app_windows))
        now = func.clock_timestamp()
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    delete(rate_bookings).where(
                        or_(
                            rate_bookings.c.booked_at < now - conversations,
                            and_(
                                rate_bookings.c.scope == APP_SCOPE,
                                rate_bookings.c.booked_at < now - app,
                            ),
                        )
                    )
                )
        except (DBAPIError, PoolTimeout, OSError, TimeoutError):
            return


def _lock_and_read_clock() -> Select[datetime]:
    """Set the booking's timeouts, wait for the bookings' lock, then read the database server's
    clock (not the transaction's start): the same for every replica. One statement, each step
    in a subquery of the next, so that they happen in this order."""
    timeouts = select(
        *(
            func.set_config(name, BOOKING_TIMEOUT, True).label(name)
            for name in ("lock_timeout", "idle_in_transaction_session_timeout")
        )
    ).subquery()
    locked = select(func.pg_advisory_xact_lock(LOCK_KEY)).select_from(timeouts).subquery()
    return select(func.clock_timestamp(type_=DateTime(timezone=True))).select_from(locked)


_LOCK_AND_READ_CLOCK = _lock_and_read_clock()


def _window_reads(
    windows: list[tuple[ColumnElement[str], Window]],
) -> CompoundSelect[float, datetime]:
    """For each window, its length and the booking that decides it (parameter ``now``): the
    ``count``-th newest booking within it, if there is one."""
    now = bindparam("now", type_=DateTime(timezone=True))
    return union_all(
        *(
            select(
                literal(seconds, Float).label("seconds"),
                rate_bookings.c.booked_at,
                (scope == APP_SCOPE).label("app"),
            )
            .where(
                rate_bookings.c.scope == scope,
                rate_bookings.c.booked_at > now - timedelta(seconds=seconds),
            )
            .order_by(rate_bookings.c.booked_at.desc())
            .offset(count - 1)
            .limit(1)
            .subquery()
            .select()
            for scope, (count, seconds) in windows
        )
    )


def _longest(windows: tuple[Window, ...]) -> float:
    return max(seconds for _, seconds in windows)
