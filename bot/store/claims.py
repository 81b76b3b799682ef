"""Claims with a lease: how workers on several replicas share the rows that are due.

A claim is a compare-and-set on a row's lease column: a row is taken only while nobody holds it
(its lease is empty or ran out), and each claim counts up the row's claim number, so that a worker
whose lease ran out while it waited can tell (:func:`renew`) that another has taken the row since.
On PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED``: replicas claiming at the same
moment take different rows instead of waiting for each other; on SQLite, which has one writer at a
time, the compare-and-set alone is the claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.clock import utcnow


@dataclass(frozen=True)
class Lease:
    """Where a table keeps its claims: the lease's end and the number of the latest claim."""

    table: Table
    until: Column[Any]
    claims: Column[Any]

    def free(self, now: datetime) -> ColumnElement[bool]:
        """Rows nobody holds at ``now``."""
        return or_(self.until.is_(None), self.until < now)


async def claim(
    connection: AsyncConnection,
    lease: Lease,
    due: ColumnElement[bool],
    *,
    order_by: tuple[ColumnElement[Any], ...],
    limit: int,
    hold: timedelta,
) -> list[int]:
    """Claim up to ``limit`` rows that are ``due`` and free, for ``hold``: their ids, sorted."""
    now = utcnow()
    claimable = due & lease.free(now)
    ids = lease.table.c.id
    candidates = list(
        (
            await connection.execute(
                select(ids)
                .where(claimable)
                .order_by(*order_by)
                .limit(limit)
                .with_for_update(skip_locked=True)  # PostgreSQL; SQLite ignores it
            )
        ).scalars()
    )
    if not candidates:
        return []
    claimed = await connection.execute(
        update(lease.table)
        .where(ids.in_(candidates), claimable)
        .values({lease.until: now + hold, lease.claims: lease.claims + 1})
        .returning(ids)
    )
    return sorted(claimed.scalars())


async def renew(
    connection: AsyncConnection,
    lease: Lease,
    row_id: int,
    claim_number: int,
    hold: timedelta,
    *still: ColumnElement[bool],
) -> bool:
    """Hold the claim ``claim_number`` of a row for ``hold`` from now; False if another worker
    has claimed the row since (this claim ran out meanwhile) or it is no longer ``still``."""
    renewed = await connection.execute(
        update(lease.table)
        .where(lease.table.c.id == row_id, lease.claims == claim_number, *still)
        .values({lease.until: utcnow() + hold})
    )
    return bool(renewed.rowcount)
