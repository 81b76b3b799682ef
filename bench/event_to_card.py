"""Latency from an Event Grid POST to the card arriving at the Bot Connector, on SQLite.

Our bot runs as in production (its own process, pinned to one core, SQLite store). Each of 320
channels is subscribed to a model of its own, so that Teams' per-conversation limits (which the bot
honours) do not stretch the figure; 300 versions, after 20 for warm-up, are pushed one at a time,
at most 20 per second (Teams lets the app send 50 per second, and a faster push would measure the
rate limit, not the pipeline), each timed from the moment the POST is sent until its card reaches
the loopback connector.
Prints p50 and p99 (goal: p50 ≤ 20 ms, p99 ≤ 100 ms).
"""

from __future__ import annotations

import asyncio
import tempfile
import time

from aiohttp import ClientSession
from harness import (
    EVENT_SECRET,
    Microsoft,
    bot_environment,
    model_registered,
    ours,
    percentile,
    seed_subscribers,
    start_bot,
    stop_bot,
)

EVENTS = 300
WARMUP = 20
PACE_SECONDS = 0.05


async def main() -> None:
    microsoft = Microsoft()
    await microsoft.start()
    with tempfile.TemporaryDirectory() as data:
        await seed_subscribers(data, microsoft, count=WARMUP + EVENTS, pattern="bench-model-{n}")
        async with ClientSession() as session:
            base, process = await start_bot(
                session, ours(microsoft), bot_environment(data, microsoft)
            )
            try:
                latencies = []
                for number in range(WARMUP + EVENTS):
                    started = time.perf_counter()
                    latencies.append(await one_event(session, base, microsoft, number))
                    await asyncio.sleep(max(0.0, started + PACE_SECONDS - time.perf_counter()))
            finally:
                await stop_bot(process)
    await microsoft.stop()
    measured = latencies[WARMUP:]
    print(f"p50: {percentile(measured, 0.50) * 1000:.1f} ms")
    print(f"p99: {percentile(measured, 0.99) * 1000:.1f} ms")


async def one_event(session: ClientSession, base: str, microsoft: Microsoft, version: int) -> float:
    """Push one version; seconds until its card arrived."""
    expected = len(microsoft.cards) + 1
    url = f"{base}/api/events/azureml?secret={EVENT_SECRET}"
    started = time.perf_counter()
    async with session.post(
        url, json=model_registered(microsoft, f"bench-model-{version}", 1)
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"the event was refused: {response.status}")
    while len(microsoft.cards) < expected:
        microsoft.arrived.clear()
        await asyncio.wait_for(microsoft.arrived.wait(), 10)
    arrival, _, title = microsoft.cards[expected - 1]
    if f"bench-model-{version} " not in title:
        raise RuntimeError(f"unexpected card {title!r}")
    return arrival - started


if __name__ == "__main__":
    asyncio.run(main())
