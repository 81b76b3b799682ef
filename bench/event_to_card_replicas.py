"""Event to card with three replicas on one PostgreSQL, beside one replica on SQLite.

The same measure as ``event_to_card.py`` (an Event Grid POST until its card reaches the loopback
connector; 300 versions after 20 for warm-up, at most 20 per second, each channel subscribed to a
model of its own), once with our bot alone on SQLite, once with three bot processes on one
PostgreSQL database (Debian's, a throwaway cluster as in the tests), the events spread over the
replicas in turn, as a load balancer would. All bot processes share core 1 of this machine.
Prints the replicas' p50 and p99, and the ratio of each to the single SQLite bot's.
"""

from __future__ import annotations

import asyncio
import tempfile
import time

from aiohttp import ClientSession
from event_to_card import EVENTS, PACE_SECONDS, WARMUP, one_event
from harness import Microsoft, percentile, running_bots, seed_subscribers

from fakes.ports import free_port
from fakes.postgres import PostgresServer

REPLICAS = 3


async def measure(microsoft: Microsoft, data: str, url: str | None, replicas: int) -> list[float]:
    """Seconds from event to card for each measured version."""
    count = WARMUP + EVENTS
    await seed_subscribers(data, microsoft, count=count, pattern="bench-model-{n}", url=url)
    latencies = []
    async with (
        ClientSession() as session,
        running_bots(session, microsoft, data, replicas, url) as bases,
    ):
        for number in range(count):
            began = time.perf_counter()
            latencies.append(await one_event(session, bases[number % replicas], microsoft, number))
            await asyncio.sleep(max(0.0, began + PACE_SECONDS - time.perf_counter()))
    return latencies[WARMUP:]


async def main() -> None:
    server = PostgresServer.start(free_port())
    try:
        with tempfile.TemporaryDirectory() as single_data, tempfile.TemporaryDirectory() as data:
            microsoft = Microsoft()
            await microsoft.start()
            single = await measure(microsoft, single_data, None, 1)
            await microsoft.stop()
            microsoft = Microsoft()
            await microsoft.start()
            several = await measure(microsoft, data, await server.new_database(), REPLICAS)
            await microsoft.stop()
    finally:
        server.stop()
    for label, fraction in (("p50", 0.50), ("p99", 0.99)):
        figure = percentile(several, fraction)
        print(f"{label}: {figure * 1000:.1f} ms")
        print(f"{label} ratio: {figure / percentile(single, fraction):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
