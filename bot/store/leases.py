"""Leases in the store: one replica at a time does a job (the poller), and another takes over
when the holder stops renewing (it died, or lost the database)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.clock import utcnow
from bot.store.engine import dialect_insert
from bot.store.tables import leases


class Leases:
    """Take, renew and give back named leases; every change is one compare-and-set."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = dialect_insert(engine)

    async def hold(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take the lease ``name`` for ``ttl``, or renew it; False while another holds it."""
        now = utcnow()
        insert = self._insert(leases).values(name=name, holder=holder, expires_at=now + ttl)
        statement = insert.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": holder, "expires_at": now + ttl},
            where=or_(leases.c.holder == holder, leases.c.expires_at < now),
        ).returning(leases.c.holder)
        async with self.engine.begin() as connection:
            taken = (await connection.execute(statement)).first()
        return taken is not None

    async def give_back(self, name: str, holder: str) -> None:
        """End the lease now, if ``holder`` has it, so that another may take it at once."""
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(leases).where(leases.c.name == name, leases.c.holder == holder)
            )
