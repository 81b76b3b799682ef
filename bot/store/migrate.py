"""Run the Alembic migrations on an async engine; also ``python -m bot.store.migrate``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import load_settings
from bot.store.engine import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x5242_4D49_4752  # ours alone among the database's advisory locks


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for our migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (the newest by default).

    Replicas starting together migrate one after the other: the first migrates, the others wait
    for it and then find the store migrated.
    """
    isolation = {"isolation_level": "READ COMMITTED"} if engine.dialect.name == "postgresql" else {}
    async with engine.execution_options(**isolation).begin() as connection:
        if connection.dialect.name == "postgresql":
            # The waiting replica's next statements must see what the first one migrated.
            await connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        else:  # SQLite: take the database's write lock now, not at the first change
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def _main() -> None:
    engine = create_engine(load_settings().database_url)
    await upgrade(engine)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(_main())
