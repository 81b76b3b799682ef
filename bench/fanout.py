"""One version to 1,000 subscribed conversations, through Teams' limits and throttling.

The loopback connector answers 429 to 10% of calls (at random, no Retry-After) and enforces the
per-app rate itself: any call that would make more than 50 in the last second is refused with 429
and counted as a violation. Every request counts, refused ones too, as in Teams. The bot has read
one version before (of a model nobody subscribes to), so that the measure does not include the
first import of azure-ai-ml (about 1.5 s, once per process). Prints the total time from the event
to the last card, its ratio to the 20 s floor (1,000 cards at 50 per second), the lost and
duplicated cards, and the margin the bot kept: how much more than a second lay between a call and
the 50th after it, at the connector (the smallest, and the 1st percentile; below zero is a
violation). Goal: ratio ≤ 1.15, 0 lost, 0 duplicated.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections import Counter, deque

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

CONVERSATIONS = 1000
APP_RATE = 50
THROTTLED_SHARE = 0.10
FLOOR_SECONDS = CONVERSATIONS / APP_RATE
SETTLE_SECONDS = 10.0


class TeamsLikeRefusals:
    """10% random 429s, and a 429 for every call beyond 50 in the last second."""

    def __init__(self) -> None:
        self.random = random.Random(7)
        self.recent: deque[float] = deque()
        self.violations = 0
        self.arrivals: list[float] = []

    def __call__(self) -> int | None:
        now = time.perf_counter()
        self.arrivals.append(now)
        while self.recent and now - self.recent[0] >= 1.0:
            self.recent.popleft()
        self.recent.append(now)
        if len(self.recent) > APP_RATE:
            self.violations += 1
            return 429
        return 429 if self.random.random() < THROTTLED_SHARE else None


async def main() -> None:
    refusals = TeamsLikeRefusals()
    microsoft = Microsoft(refusals)
    await microsoft.start()
    with tempfile.TemporaryDirectory() as data:
        await seed_subscribers(data, microsoft, count=CONVERSATIONS, pattern="fanout-*")
        async with ClientSession() as session:
            base, process = await start_bot(
                session, ours(microsoft), bot_environment(data, microsoft)
            )
            try:
                await warm_up(session, [base], microsoft)
                total = await announce_everywhere(session, [(base, "fanout-model")], microsoft)
                await asyncio.sleep(SETTLE_SECONDS)  # anything sent twice would show up by now
            finally:
                await stop_bot(process)
    await microsoft.stop()
    print(f"total: {total:.2f} s")
    print(f"ratio: {total / FLOOR_SECONDS:.3f}")
    print_deliveries(microsoft, refusals)


def print_deliveries(microsoft: Microsoft, refusals: TeamsLikeRefusals) -> None:
    """Print the lost and duplicated cards, and the refused calls."""
    delivered = Counter(conversation for _, conversation, _ in microsoft.cards)
    print(f"lost: {CONVERSATIONS - len(delivered)} cards")
    print(f"duplicated: {sum(count - 1 for count in delivered.values())} cards")
    print(f"throttled: {microsoft.refused} calls")
    print(f"rate_violations: {refusals.violations} calls")
    spacings = sorted(
        later - earlier
        for earlier, later in zip(refusals.arrivals, refusals.arrivals[APP_RATE:], strict=False)
    )
    if spacings:
        print(f"margin_kept_min: {(spacings[0] - 1) * 1000:.1f} ms")
        print(f"margin_kept_p1: {(percentile(spacings, 0.01) - 1) * 1000:.1f} ms")


async def warm_up(session: ClientSession, bases: list[str], microsoft: Microsoft) -> None:
    """Have each bot read a version of a model nobody subscribes to: its first read imports
    azure-ai-ml."""
    for base in bases:
        await push(session, base, microsoft, "warm-up-model")


async def announce_everywhere(
    session: ClientSession, deliveries: list[tuple[str, str]], microsoft: Microsoft
) -> float:
    """Push version 1 of each model to its bot's base URL, all at once; seconds until every
    conversation has its card (or 5 minutes)."""
    started = time.perf_counter()
    await asyncio.gather(*(push(session, base, microsoft, model) for base, model in deliveries))
    deadline = started + 300
    while len({conversation for _, conversation, _ in microsoft.cards}) < CONVERSATIONS:
        if time.perf_counter() > deadline:
            break
        microsoft.arrived.clear()
        try:
            await asyncio.wait_for(microsoft.arrived.wait(), 5)
        except TimeoutError:
            continue
    return max(arrival for arrival, _, _ in microsoft.cards) - started


async def push(session: ClientSession, base: str, microsoft: Microsoft, model: str) -> None:
    """Deliver the Event Grid event of ``model`` version 1 to the bot at ``base``."""
    url = f"{base}/api/events/azureml?secret={EVENT_SECRET}"
    async with session.post(url, json=model_registered(microsoft, model, 1)) as response:
        if response.status != 200:
            raise RuntimeError(f"the event was refused: {response.status}")


if __name__ == "__main__":
    asyncio.run(main())
