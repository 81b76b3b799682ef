"""Reads on a chat turn's path, in one thread hop.

SQLAlchemy's async engine over aiosqlite takes each step of a query (cursor, execute, fetch, close,
rollback) to the connection's own thread and back: five hops, about 250 µs of CPU for a read of a
few rows, a sixth of a chat turn. On a SQLite file, a read here runs whole in one thread, on
synchronous connections to the same file with the same PRAGMAs (about 100 µs). On PostgreSQL it
runs on the async engine like every other query. A read is written once, as a function of a
synchronous connection, for both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.engine import sqlite_pragmas

READ_THREADS = 2
"""Threads (each with its connection) for the reads of a SQLite file: reads are short, and
SQLite lets them run beside each other and beside the writer (WAL)."""

_Result = TypeVar("_Result")
Read = Callable[[Connection], _Result]


class Reads:
    """Runs read-only queries for ``engine``'s store; :meth:`close` stops its threads."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._threads: ThreadPoolExecutor | None = None
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            # An in-memory database is one per connection: it is read on the async engine.
            self._sync = _synchronous_twin(engine)
            self._threads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="store-read")

    async def run(self, read: Read[_Result]) -> _Result:
        """The result of ``read`` on a connection of the store, outside any write transaction."""
        if self._threads is None:
            async with self._engine.connect() as connection:
                return await connection.run_sync(read)
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._read, read)

    def _read(self, read: Read[_Result]) -> _Result:
        assert self._sync is not None  # noqa: S101 - made together with the threads
        with self._sync.connect() as connection:
            return read(connection)

    def close(self) -> None:
        """Stop the threads and close their connections (a read under way finishes first)."""
        if self._threads is not None and self._sync is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._sync.dispose()


def _synchronous_twin(engine: AsyncEngine) -> Engine:
    """A synchronous engine on ``engine``'s SQLite file: a connection for each read thread."""
    url = engine.url.set(drivername="sqlite+pysqlite")
    twin = create_engine(url, connect_args={"timeout": 30}, pool_size=READ_THREADS, max_overflow=0)
    event.listen(twin, "connect", sqlite_pragmas)
    return twin
