"""Latency of an Approve click: until the invoke is answered, and until Azure DevOps is asked.

Our bot runs as in production (its own process, pinned to one core, SQLite store), deploying with
the real Azure DevOps client to the stateful loopback Azure DevOps of the tests. 220 channels are
each subscribed to a model of their own and get one version announced; then each card's Approve is
clicked (a signed adaptiveCard/action invoke, as Teams sends it), at most 20 per second, after 20
for warm-up. Before its click, the clicker's own view of the card is asked for as Teams' refresh
asks (``trigger: automatic``). Timed from the moment each invoke is sent: the refresh's answer
(the clicker's card), the click's answer, and the arrival of the pipeline-run request (POST
.../pipelines/42/runs) at the loopback Azure DevOps. Prints p50 and p99 of each (goal: refresh
and invoke p99 ≤ 30 ms, click to DevOps p99 ≤ 50 ms).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid

from aiohttp import ClientSession
from harness import (
    EVENT_SECRET,
    Microsoft,
    answer,
    approval_targets,
    bot_environment,
    click,
    database_url,
    invoke_of,
    model_registered,
    ours,
    percentile,
    seed_subscribers,
    start_bot,
    stop_bot,
)

from fakes.devops import FakeDevOps

CLICKS = 200
WARMUP = 20
PACE_SECONDS = 0.05


async def main() -> None:
    microsoft = Microsoft(read_cards=False)
    await microsoft.start()
    devops = await FakeDevOps().start()
    devops.add_pipeline(42, "deploy-model")
    with tempfile.TemporaryDirectory() as data:
        count = WARMUP + CLICKS
        await seed_subscribers(data, microsoft, count=count, pattern="bench-model-{n}")
        env = bot_environment(data, microsoft, RELEASEBOT_DEPLOY_TARGET="pipeline:42")
        async with ClientSession() as session:
            command = [*ours(microsoft), devops.organization_url]
            base, process = await start_bot(session, command, env)
            try:
                await announce_all(session, base, microsoft, count)
                targets = await approval_targets(database_url(data))
                refresh, invoke, to_devops = [], [], []
                for approval_id, conversation_id in targets:
                    started = time.perf_counter()
                    user = str(uuid.uuid4())
                    refresh.append(
                        await answer(
                            session,
                            base,
                            microsoft,
                            invoke_of(microsoft.url, approval_id, conversation_id, user, "view"),
                        )
                    )
                    answered, asked = await click(
                        session, base, microsoft, devops, (approval_id, conversation_id), user=user
                    )
                    invoke.append(answered)
                    to_devops.append(asked)
                    await asyncio.sleep(max(0.0, started + PACE_SECONDS - time.perf_counter()))
            finally:
                await stop_bot(process)
    await devops.close()
    await microsoft.stop()
    report("refresh", refresh[WARMUP:])
    report("invoke", invoke[WARMUP:])
    report("click to devops", to_devops[WARMUP:])


def report(label: str, seconds: list[float]) -> None:
    print(f"{label} p50: {percentile(seconds, 0.50) * 1000:.1f} ms")
    print(f"{label} p99: {percentile(seconds, 0.99) * 1000:.1f} ms")


async def announce_all(session: ClientSession, base: str, microsoft: Microsoft, count: int) -> None:
    """One version per channel, each announced with its card."""
    for number in range(count):
        url = f"{base}/api/events/azureml?secret={EVENT_SECRET}"
        async with session.post(
            url, json=model_registered(microsoft, f"bench-model-{number}", 1)
        ) as answer:
            if answer.status != 200:
                raise RuntimeError(f"the event was refused: {answer.status}")
        await asyncio.sleep(PACE_SECONDS)
    async with asyncio.timeout(60):
        while len(microsoft.cards) < count:
            microsoft.arrived.clear()
            await microsoft.arrived.wait()


if __name__ == "__main__":
    asyncio.run(main())
