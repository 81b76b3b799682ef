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
    bot_environment,
    database_url,
    model_registered,
    ours,
    percentile,
    seed_subscribers,
    start_bot,
    stop_bot,
)
from sqlalchemy import select

from bot.store.engine import create_engine
from bot.store.tables import approvals, conversations
from fakes.devops import FakeDevOps
from fakes.identity import TENANT_ID

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
                targets = await approval_targets(data)
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


async def approval_targets(data: str) -> list[tuple[int, str]]:
    """Each approval and the Teams conversation its card is in, in order."""
    engine = create_engine(database_url(data))
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(approvals.c.id, conversations.c.conversation_id)
            .join(conversations, conversations.c.id == approvals.c.conversation_ref)
            .order_by(approvals.c.id)
        )
        targets = [(row.id, row.conversation_id) for row in rows]
    await engine.dispose()
    return targets


async def click(
    session: ClientSession,
    base: str,
    microsoft: Microsoft,
    devops: FakeDevOps,
    target: tuple[int, str],
    *,
    user: str,
) -> tuple[float, float]:
    """``user`` approves one card (approval id, conversation id); seconds until the invoke
    answered and until Azure DevOps was asked to run."""
    approval_id, conversation_id = target
    runs_before = len(devops.requests_to("POST", "/runs"))
    started = time.perf_counter()
    activity = invoke_of(microsoft.url, approval_id, conversation_id, user, "approve")
    answered = await answer(session, base, microsoft, activity)
    await devops.wait_for_requests_to("POST", "/runs", runs_before + 1)
    return answered, devops.requests_to("POST", "/runs")[-1].at - started


async def answer(session: ClientSession, base: str, microsoft: Microsoft, activity: dict) -> float:
    """Send a signed invoke; seconds until its answer (which must be a card)."""
    token = microsoft.keys.token(serviceurl=microsoft.url)
    started = time.perf_counter()
    async with session.post(
        f"{base}/api/messages", json=activity, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        body = await response.json()
    answered = time.perf_counter() - started
    if response.status != 200 or body.get("statusCode") != 200:
        raise RuntimeError(f"the invoke was refused: {response.status} {body}")
    return answered


def invoke_of(
    service_url: str, approval_id: int, conversation_id: str, user: str, verb: str
) -> dict:
    """The adaptiveCard/action invoke of ``user`` in a channel: a click (``approve``), or the
    card's refresh (``view``)."""
    return {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": str(uuid.uuid4()),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": f"29:{user}", "name": "Bench User", "aadObjectId": user},
        "conversation": {
            "id": f"{conversation_id};messageid=1700000000000",
            "conversationType": "channel",
            "tenantId": TENANT_ID,
        },
        "recipient": {"id": "28:bot", "name": "ReleaseBot"},
        "channelData": {"tenant": {"id": TENANT_ID}},
        "locale": "en-US",
        "value": {
            "action": {
                "type": "Action.Execute",
                "verb": verb,
                "data": {"approvalId": approval_id},
            },
            "trigger": "automatic" if verb == "view" else "manual",
        },
    }


if __name__ == "__main__":
    asyncio.run(main())
