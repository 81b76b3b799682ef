"""Fan-out with three replicas on one PostgreSQL, beside one bot on SQLite.

As ``fanout.py`` (1,000 subscribed channels, a loopback connector that answers 429 to 10% of calls
and refuses every call beyond 50 in the last second), but three models, each subscribed by a third
of the channels, registered at the same moment: once all three events to one bot on SQLite, once
each event to one of three bot processes on one PostgreSQL database (Debian's, a throwaway cluster
as in the tests). The replicas send at the same time, so together they must keep Teams' app-wide
50 per second. Prints the replicas' time to the last card, its ratio to the single SQLite bot's,
and the replicas' lost and duplicated cards and rate violations.
"""

from __future__ import annotations

import asyncio
import tempfile

from aiohttp import ClientSession
from fanout import (
    CONVERSATIONS,
    SETTLE_SECONDS,
    TeamsLikeRefusals,
    announce_everywhere,
    print_deliveries,
    warm_up,
)
from harness import Microsoft, running_bots, seed_subscribers

from fakes.ports import free_port
from fakes.postgres import PostgresServer

REPLICAS = 3
MODELS = [f"fanout-model-{n}" for n in range(REPLICAS)]


async def measure(microsoft: Microsoft, data: str, url: str | None, replicas: int) -> float:
    """Seconds from the three events to the last card, with ``replicas`` bots."""
    await seed_subscribers(
        data, microsoft, CONVERSATIONS, "fanout-model-{n}", url=url, models=len(MODELS)
    )
    async with (
        ClientSession() as session,
        running_bots(session, microsoft, data, replicas, url) as bases,
    ):
        await warm_up(session, bases, microsoft)
        deliveries = [(bases[n % replicas], model) for n, model in enumerate(MODELS)]
        total = await announce_everywhere(session, deliveries, microsoft)
        await asyncio.sleep(SETTLE_SECONDS)  # anything sent twice would show up by now
    return total


async def main() -> None:
    server = PostgresServer.start(free_port())
    try:
        with tempfile.TemporaryDirectory() as single_data, tempfile.TemporaryDirectory() as data:
            single_refusals = TeamsLikeRefusals()
            microsoft = Microsoft(single_refusals)
            await microsoft.start()
            single = await measure(microsoft, single_data, None, 1)
            await microsoft.stop()
            refusals = TeamsLikeRefusals()
            microsoft = Microsoft(refusals)
            await microsoft.start()
            several = await measure(microsoft, data, await server.new_database(), REPLICAS)
            await microsoft.stop()
    finally:
        server.stop()
    print(f"total: {several:.2f} s")
    print(f"single_sqlite_total: {single:.2f} s")
    print(f"ratio: {several / single:.3f}")
    print_deliveries(microsoft, refusals)
    print(f"single_sqlite_rate_violations: {single_refusals.violations} calls")


if __name__ == "__main__":
    asyncio.run(main())
