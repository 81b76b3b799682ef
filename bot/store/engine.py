"""The async SQLAlchemy engine, with the SQLite settings a concurrent bot needs."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

WAL_ATTEMPTS = 100
WAL_RETRY_SECONDS = 0.02

Insert = Callable[[Table], postgresql.Insert] | Callable[[Table], sqlite.Insert]
"""An INSERT with the dialect's ``ON CONFLICT`` clauses (both dialects spell them the same)."""


def create_engine(database_url: str) -> AsyncEngine:
    """An engine for ``database_url``; for a SQLite file, its folder is created and WAL is on."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", sqlite_pragmas)
    return engine


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """The settings of every connection to a SQLite file (a ``connect`` event listener)."""
    # WAL lets readers run beside the writer; foreign keys are off in SQLite unless asked for.
    # synchronous=NORMAL: in WAL mode a commit survives a crash of the process (it is in the
    # WAL file), only a power loss may undo the last ones; it saves an fsync per transaction.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode. Connections opening a new database at the same moment
    (replicas starting together) may find it locked by the one switching it, without SQLite
    waiting for it: they try again."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == WAL_ATTEMPTS - 1:
                raise
            # Blocks the event loop (the hook runs in SQLAlchemy's greenlet), for milliseconds,
            # and only while a new database file is being switched: at the first start.
            time.sleep(WAL_RETRY_SECONDS)
        else:
            return


def dialect_insert(engine: AsyncEngine) -> Insert:
    """The INSERT of ``engine``'s dialect, for ``ON CONFLICT DO NOTHING / DO UPDATE``."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
