"""Cost as a tenant grows: every figure on a year of a large tenant, beside an empty store.

``bench/scale_fill.py`` writes the tenant (10,000 channels, 20,000 subscriptions, 2,000 models
with 50,000 versions over two workspaces and a registry, 50,000 announcements, 20,000 approvals
with 60,000 votes and their audit, 15,000 deployments); the empty store holds only what each
measure needs (the channels and subscriptions of the events, the channel the chat commands ask
in with its own history, the poller's rows). Each store is measured in the same run, on SQLite
and on PostgreSQL (a throwaway cluster, as the tests start):

- one poll cycle over the 2,000 models with nothing new, by the bot's own poller
  (``RegistryWatcher.poll``) in this process, with the real azure-ai-ml client against the
  loopback Azure ML (pages of 100 models): requests made and the median time of three cycles;
- event to card: 100 versions (after 10 for warm-up), each of a model subscribed by ten channels
  (exact names, globs, tag and source filters; ten such models in turn, so that Teams'
  per-conversation limits, which the bot honours, do not stretch the figure), at most one event
  per 0.3 s (ten cards each, within Teams' 50 per second for the app); timed from the Event Grid
  POST until the tenth card reached the loopback connector; p50 and p99;
- the chat commands ``history``, ``status``, ``pending`` and ``subscriptions``, signed messages in
  a channel with four models of 25 versions, 40 approvals and their deployments; 100 of each
  (after 10 for warm-up), one at a time, each timed until its reply reached the connector; p99;
- approve click to Azure DevOps: one card of each event version approved (as
  ``approve_to_devops.py`` clicks), at most 20 per second, timed until the pipeline-run request
  reached the loopback Azure DevOps; p99;
- the bot's resident memory (VmRSS) after all of it.

Our bot runs as in production (its own process pinned to one core, production authentication).
Prints each figure (``sqlite_history_p99: 4.1 ms``), the empty store's (``..._empty``) and their
ratio (goal: every ratio ≤ 1.5, RSS ≤ 250 MB). ``BENCH_SCALE_FRACTION=0.1`` fills a tenth of the
tenant, for a quick look while developing.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from aiohttp import ClientSession
from harness import (
    EVENT_SECRET,
    Microsoft,
    approval_targets,
    bot_environment,
    channel_info,
    click,
    database_url,
    message_of,
    model_registered,
    ours,
    percentile,
    rss_kb,
    start_bot,
    stop_bot,
)
from scale_fill import SHOWCASE, Size, arm_models, channel_id, fill, model_name

from bot.channel import Channel
from bot.outbox import OutboxSender
from bot.registry.watcher import RegistryWatcher
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.store import Store
from bot.store.tables import conversations
from fakes.devops import FakeDevOps
from fakes.ports import free_port
from fakes.postgres import PostgresServer

GROUPS = 10
"""Models of the events, each subscribed by CHANNELS channels of its own."""
CHANNELS = 10
EVENTS, EVENT_WARMUP, EVENT_PACE = 100, 10, 0.3
CLICK_WARMUP, CLICK_PACE = 10, 0.05
ASKS, ASK_WARMUP = 100, 10
COMMANDS = {
    "history": f"history {model_name(SHOWCASE)}",
    "status": f"status {model_name(SHOWCASE)}",
    "pending": "pending",
    "subscriptions": "subscriptions",
}
ARM_PAGE_SIZE = 100
POLLS = 3
PIPELINE = 42


@dataclass
class Figures:
    """One store's figures: name to (value, unit)."""

    values: dict[str, tuple[float, str]] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str) -> None:
        self.values[name] = (value, unit)

    def add_latencies(self, name: str, seconds: list[float], *fractions: float) -> None:
        for fraction in fractions:
            figure = percentile(seconds, fraction) * 1000
            self.add(f"{name}_p{round(fraction * 100)}", figure, "ms")


def event_model(group: int) -> str:
    return f"scale-bench-{group}"


def event_channel(group: int, number: int) -> int:
    """The tenant's channel number of the ``number``-th subscriber of ``group``'s model."""
    return 1 + group * CHANNELS + number


def event_filter(group: int, number: int) -> tuple[str, tuple[str, str] | None, dict[str, str]]:
    """How a subscriber of the event model subscribes: an exact name, a glob, or a name with a
    tag and a source filter."""
    name = event_model(group)
    return [
        (name, None, {}),
        (name + "*", None, {}),
        (name, ("workspace", "ml-prod"), {"stage": "bench"}),
    ][number % 3]


async def subscribe_event_channels(store: Store, service_url: str) -> None:
    """The event models' subscribers, through the store's own paths (a channel the full tenant
    has already is refreshed, as on its next activity)."""
    for group in range(GROUPS):
        for number in range(CHANNELS):
            info = channel_info(service_url, channel_id(event_channel(group, number)))
            ref, _ = await store.conversations.save(info)
            pattern, source, tags = event_filter(group, number)
            await store.subscriptions.add(
                ref, pattern, source=source, tags=tags, created_by=None, created_by_name=None
            )


async def prepare(url: str, microsoft: Microsoft, size: Size, *, full: bool) -> float:
    """Fill the store at ``url`` (``full`` or empty); seconds it took."""
    started = time.perf_counter()
    engine = create_engine(url)
    await upgrade(engine)
    await fill(engine, microsoft.url, size, full=full)
    await subscribe_event_channels(Store(engine), microsoft.url)
    await engine.dispose()
    return time.perf_counter() - started


async def poll_cycle(url: str, microsoft: Microsoft) -> tuple[int, float]:
    """Requests to Azure ML of one poll cycle over every source, and its median seconds."""
    arm = microsoft.arm
    engine = create_engine(url)
    store = Store(engine)
    registries = [arm.registry(), arm.workspace_source("ml-dev"), arm.registry_source()]
    # Nothing new is found, so the poller never hands the sender anything to send.
    watcher = RegistryWatcher(store, registries, OutboxSender(store, cast(Channel, None)), 3600)
    for registry in registries:  # builds the clients (and imports azure-ai-ml) once
        await watcher.poll(registry)
    seconds = []
    for _ in range(POLLS):
        before = sum(arm.requests.values())
        started = time.perf_counter()
        found = [await watcher.poll(registry) for registry in registries]
        seconds.append(time.perf_counter() - started)
        requests = sum(arm.requests.values()) - before
        if any(found):
            raise RuntimeError(f"the poll found new versions: {found}")
    await engine.dispose()
    return requests, statistics.median(seconds)


async def cards_arrived(microsoft: Microsoft, count: int) -> None:
    """Wait until ``count`` cards in all reached the connector."""
    async with asyncio.timeout(20):
        while len(microsoft.cards) < count:
            microsoft.arrived.clear()
            await microsoft.arrived.wait()


async def one_event(session: ClientSession, base: str, microsoft: Microsoft, number: int) -> float:
    """Push version ``number`` of its turn's model; seconds until its last card arrived."""
    name = event_model(number % GROUPS)
    expected = len(microsoft.cards) + CHANNELS
    started = time.perf_counter()
    async with session.post(
        f"{base}/api/events/azureml?secret={EVENT_SECRET}",
        json=model_registered(microsoft, name, number // GROUPS + 1),
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"the event was refused: {response.status}")
    await cards_arrived(microsoft, expected)
    titles = [title for _, _, title in microsoft.cards[expected - CHANNELS : expected]]
    if any(name + " " not in title for title in titles):
        raise RuntimeError(f"unexpected cards {titles}")
    return microsoft.cards[expected - 1][0] - started


async def ask(session: ClientSession, base: str, microsoft: Microsoft, text: str) -> float:
    """Send a command in the showcase channel; seconds until its reply arrived."""
    expected = len(microsoft.cards) + 1
    token = microsoft.keys.token(serviceurl=microsoft.url)
    started = time.perf_counter()
    async with session.post(
        f"{base}/api/messages",
        json=message_of(microsoft.url, channel_id(SHOWCASE), text),
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        await response.read()
        if response.status >= 300:
            raise RuntimeError(f"the command was refused: {response.status}")
    await cards_arrived(microsoft, expected)
    return microsoft.cards[expected - 1][0] - started


async def paced(count: int, pace: float, one: Callable[[int], Awaitable[float]]) -> list[float]:
    """``one(n)`` for each n below ``count``, at most one per ``pace`` seconds."""
    measured = []
    for number in range(count):
        began = time.perf_counter()
        measured.append(await one(number))
        await asyncio.sleep(max(0.0, began + pace - time.perf_counter()))
    return measured


async def clicks(
    session: ClientSession, base: str, microsoft: Microsoft, devops: FakeDevOps, url: str
) -> list[float]:
    """Approve the first subscriber's card of every event version; seconds until DevOps was
    asked, each."""
    first = [channel_id(event_channel(group, 0)) for group in range(GROUPS)]
    targets = await approval_targets(url, conversations.c.conversation_id.in_(first))

    async def one(number: int) -> float:
        user = str(uuid.uuid4())
        _, to_devops = await click(session, base, microsoft, devops, targets[number], user=user)
        return to_devops

    return await paced(len(targets), CLICK_PACE, one)


async def measure_bot(url: str, microsoft: Microsoft, figures: Figures) -> None:
    """Run the bot on the store at ``url`` and take its figures."""
    devops = await FakeDevOps().start()
    devops.add_pipeline(PIPELINE, "deploy-model")
    env = bot_environment(
        "",
        microsoft,
        RELEASEBOT_DATABASE_URL=url,
        RELEASEBOT_DEPLOY_TARGET=f"pipeline:{PIPELINE}",
        RELEASEBOT_POLL_INTERVAL_SECONDS="3600",
    )
    async with ClientSession() as session:
        base, process = await start_bot(session, [*ours(microsoft), devops.organization_url], env)
        try:
            await first_poll_done(session, base)
            events = await paced(
                EVENT_WARMUP + EVENTS,
                EVENT_PACE,
                lambda number: one_event(session, base, microsoft, number),
            )
            figures.add_latencies("event_to_card", events[EVENT_WARMUP:], 0.5, 0.99)
            await asyncio.sleep(1)  # the last cards' approvals settle
            for label, text in COMMANDS.items():
                asked = [
                    await ask(session, base, microsoft, text) for _ in range(ASK_WARMUP + ASKS)
                ]
                figures.add_latencies(label, asked[ASK_WARMUP:], 0.99)
            to_devops = await clicks(session, base, microsoft, devops, url)
            figures.add_latencies("click_to_devops", to_devops[CLICK_WARMUP:], 0.99)
            figures.add("rss", rss_kb(process.pid) / 1024, "MB")
        finally:
            await stop_bot(process)
    await devops.close()


async def first_poll_done(session: ClientSession, base: str) -> None:
    """Wait until /readyz reports the bot's poll at start done (it finds nothing new)."""
    polled = {"ok": True, "detail": "1 source(s) polled"}
    async with asyncio.timeout(60):
        while True:
            async with session.get(base + "/readyz") as response:
                if (await response.json())["checks"]["azure_ml"] == polled:
                    return
            await asyncio.sleep(0.1)


async def one_store(url: str, size: Size, *, full: bool) -> Figures:
    """Every figure of one store: filled (``full``) or empty."""
    microsoft = Microsoft()
    await microsoft.start()
    microsoft.arm.page_size = ARM_PAGE_SIZE
    stocked = arm_models(size)
    microsoft.arm.models = stocked.pop("ml-prod")
    microsoft.arm.elsewhere = stocked
    figures = Figures()
    try:
        figures.add("fill", await prepare(url, microsoft, size, full=full), "s")
        requests, seconds = await poll_cycle(url, microsoft)
        figures.add("poll_requests", requests, "requests")
        figures.add("poll", seconds * 1000, "ms")
        microsoft.arm.requests.clear()
        await measure_bot(url, microsoft, figures)
    finally:
        await microsoft.stop()
    return figures


def report(store: str, full: Figures, empty: Figures) -> None:
    """Print each figure, the empty store's, and their ratio."""
    for name, (value, unit) in full.values.items():
        print(f"{store}_{name}: {value:.1f} {unit}")
        print(f"{store}_{name}_empty: {empty.values[name][0]:.1f} {unit}")
        if name != "fill":
            print(f"{store}_{name}_ratio: {value / empty.values[name][0]:.2f}")


async def main() -> None:
    size = Size.from_environment()
    server = PostgresServer.start(free_port())
    try:
        with tempfile.TemporaryDirectory() as empty_dir, tempfile.TemporaryDirectory() as full_dir:
            sqlite = [
                await one_store(database_url(folder), size, full=full)
                for folder, full in ((empty_dir, False), (full_dir, True))
            ]
        report("sqlite", sqlite[1], sqlite[0])
        postgres = [
            await one_store(await server.new_database(), size, full=full) for full in (False, True)
        ]
        report("postgresql", postgres[1], postgres[0])
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
