"""Cost as a tenant grows: every figure on a year of a large tenant, beside an empty store.

``bench/scale_fill.py`` writes the tenant (10,000 channels, 20,000 subscriptions, 2,000 models
with 50,000 versions over two workspaces and a registry, 50,000 announcements, 20,000 approvals
with 60,000 votes and their audit, 15,000 deployments); the empty store holds only what each
measure needs (the channels and subscriptions of the events, the channel the chat commands ask
in with its own history, the poller's rows). Both stores are measured in the same run, each
with its own bot (the two share one core) and loopback endpoints, their samples taken in turn so
that the machine's drift hits both alike; on SQLite, then on PostgreSQL (a throwaway cluster,
as the tests start):

- one poll cycle over the 2,000 models with nothing new, by the bot's own poller
  (``RegistryWatcher.poll``) in this process, with the real azure-ai-ml client against the
  loopback Azure ML (pages of 100 models): requests made and the median time of three cycles;
- event to card: 100 versions (after 10 for warm-up), each of a model subscribed by ten channels
  (exact names, globs, tag and source filters; ten such models in turn, so that Teams'
  per-conversation limits, which the bot honours, do not stretch the figure), at most one event
  per 0.3 s to each bot (ten cards each, within Teams' 50 per second for the app); timed from
  the Event Grid POST until the tenth card reached the loopback connector; p50 and p99;
- the chat commands ``history``, ``status``, ``pending`` and ``subscriptions``, signed messages in
  a channel with four models of 25 versions, 40 approvals and their deployments; 200 of each
  (after 10 for warm-up), one at a time, each timed until its reply reached the connector; p99;
- approve click to Azure DevOps: the card of each event version in its first channel approved
  (as ``approve_to_devops.py`` clicks), at most 20 per second, timed until the pipeline-run
  request reached the loopback Azure DevOps; p99 (after 10 for warm-up);
- the bot's resident memory (VmRSS) after all of it.

Our bots run as in production (their own processes pinned to one core, production
authentication). Prints each figure (``sqlite_history_p99: 4.1 ms``), the empty store's
(``..._empty``) and their ratio (goal: every ratio ≤ 1.5, RSS ≤ 250 MB).
``BENCH_SCALE_FRACTION=0.1`` fills a tenth of the tenant, for a quick look while developing.
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
from scale_fill import SHOWCASE, Size, arm_models, channel_id, fill, model_name, settle
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channel import Channel
from bot.outbox import OutboxSender
from bot.registry.azureml import ModelRegistry
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
ASKS, ASK_WARMUP = 200, 10
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
        """Record one figure."""
        self.values[name] = (value, unit)

    def add_latencies(self, name: str, seconds: list[float], *fractions: float) -> None:
        """Record the percentiles ``fractions`` of ``seconds``, in milliseconds."""
        for fraction in fractions:
            figure = percentile(seconds, fraction) * 1000
            self.add(f"{name}_p{round(fraction * 100)}", figure, "ms")


def event_model(group: int) -> str:
    """The name of the ``group``-th model of the events."""
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


@dataclass(eq=False)
class Side:
    """One store under measurement (``full`` or empty), with its own loopback Microsoft and
    Azure DevOps, its bot while it runs, and its figures."""

    full: bool
    url: str
    microsoft: Microsoft
    devops: FakeDevOps
    figures: Figures = field(default_factory=Figures)
    base: str = ""
    process: asyncio.subprocess.Process | None = None


async def open_side(url: str, size: Size, *, full: bool) -> Side:
    """Serve the loopback endpoints of a store and fill it."""
    microsoft = Microsoft()
    await microsoft.start()
    microsoft.arm.page_size = ARM_PAGE_SIZE
    stocked = arm_models(size)
    microsoft.arm.models = stocked.pop("ml-prod")
    microsoft.arm.elsewhere = stocked
    devops = await FakeDevOps().start()
    devops.add_pipeline(PIPELINE, "deploy-model")
    side = Side(full, url, microsoft, devops)
    started = time.perf_counter()
    engine = create_engine(url)
    await upgrade(engine)
    await fill(engine, microsoft.url, size, full=full)
    await subscribe_event_channels(Store(engine), microsoft.url)
    await settle(engine)
    await engine.dispose()
    side.figures.add("fill", time.perf_counter() - started, "s")
    return side


async def close_side(side: Side) -> None:
    """Stop a side's loopback endpoints."""
    await side.devops.close()
    await side.microsoft.stop()


async def alternate(
    sides: list[Side], count: int, pace: float, one: Callable[[Side, int], Awaitable[float]]
) -> list[list[float]]:
    """``one(side, n)`` for each n below ``count``, the sides in turn (so that the machine's drift
    hits both alike), at most one per ``pace`` seconds; each side's results."""
    measured: list[list[float]] = [[] for _ in sides]
    for number in range(count):
        for index, side in enumerate(sides):
            began = time.perf_counter()
            measured[index].append(await one(side, number))
            await asyncio.sleep(max(0.0, began + pace - time.perf_counter()))
    return measured


async def poll_cycles(sides: list[Side]) -> None:
    """Requests to Azure ML of one poll cycle over every source, and its median seconds."""
    cycles = [await Poll.warmed(side) for side in sides]
    seconds = await alternate(sides, POLLS, 0, lambda side, _n: cycles[sides.index(side)].once())
    for side, cycle, measured in zip(sides, cycles, seconds, strict=True):
        side.figures.add("poll_requests", cycle.requests, "requests")
        side.figures.add("poll", statistics.median(measured) * 1000, "ms")
        await cycle.engine.dispose()


@dataclass
class Poll:
    """The bot's poller on a side's store and Azure ML sources, run in this process."""

    side: Side
    engine: AsyncEngine
    watcher: RegistryWatcher
    registries: list[ModelRegistry]
    requests: int = 0

    @classmethod
    async def warmed(cls, side: Side) -> Poll:
        """The poller, after a first cycle (it builds the clients, imports azure-ai-ml)."""
        arm = side.microsoft.arm
        engine = create_engine(side.url)
        store = Store(engine)
        registries = [arm.registry(), arm.workspace_source("ml-dev"), arm.registry_source()]
        # Nothing new is found, so the poller never hands the sender anything to send.
        sender = OutboxSender(store, cast(Channel, None))
        poll = cls(side, engine, RegistryWatcher(store, registries, sender, 3600), registries)
        await poll.once()
        return poll

    async def once(self) -> float:
        """One cycle over every source; its seconds."""
        requests = self.side.microsoft.arm.requests
        before = sum(requests.values())
        started = time.perf_counter()
        found = [await self.watcher.poll(registry) for registry in self.registries]
        elapsed = time.perf_counter() - started
        self.requests = sum(requests.values()) - before
        if any(found):
            raise RuntimeError(f"the poll found new versions: {found}")
        return elapsed


async def cards_arrived(microsoft: Microsoft, count: int) -> None:
    """Wait until ``count`` cards in all reached the connector."""
    try:
        async with asyncio.timeout(60):
            while len(microsoft.cards) < count:
                microsoft.arrived.clear()
                await microsoft.arrived.wait()
    except TimeoutError:
        raise RuntimeError(f"{len(microsoft.cards)} of {count} cards arrived") from None


async def one_event(session: ClientSession, side: Side, number: int) -> float:
    """Push version ``number`` of its turn's model; seconds until its last card arrived."""
    microsoft = side.microsoft
    name = event_model(number % GROUPS)
    expected = len(microsoft.cards) + CHANNELS
    started = time.perf_counter()
    async with session.post(
        f"{side.base}/api/events/azureml?secret={EVENT_SECRET}",
        json=model_registered(microsoft, name, number // GROUPS + 1),
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"the event was refused: {response.status}")
    await cards_arrived(microsoft, expected)
    titles = [title for _, _, title in microsoft.cards[expected - CHANNELS : expected]]
    if any(name + " " not in title for title in titles):
        raise RuntimeError(f"unexpected cards {titles}")
    return microsoft.cards[expected - 1][0] - started


async def ask(session: ClientSession, side: Side, text: str) -> float:
    """Send a command in the showcase channel; seconds until its reply arrived."""
    microsoft = side.microsoft
    expected = len(microsoft.cards) + 1
    token = microsoft.keys.token(serviceurl=microsoft.url)
    started = time.perf_counter()
    async with session.post(
        f"{side.base}/api/messages",
        json=message_of(microsoft.url, channel_id(SHOWCASE), text),
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        await response.read()
        if response.status >= 300:
            raise RuntimeError(f"the command was refused: {response.status}")
    await cards_arrived(microsoft, expected)
    return microsoft.cards[expected - 1][0] - started


async def click_targets(side: Side) -> list[tuple[int, str]]:
    """The card of each event version in its model's first subscriber."""
    first = [channel_id(event_channel(group, 0)) for group in range(GROUPS)]
    return await approval_targets(side.url, conversations.c.conversation_id.in_(first))


async def start_bots(session: ClientSession, sides: list[Side]) -> None:
    """Each side's bot, once its poll at start is done."""
    for side in sides:
        env = bot_environment(
            "",
            side.microsoft,
            RELEASEBOT_DATABASE_URL=side.url,
            RELEASEBOT_DEPLOY_TARGET=f"pipeline:{PIPELINE}",
            RELEASEBOT_POLL_INTERVAL_SECONDS="3600",
        )
        command = [*ours(side.microsoft), side.devops.organization_url]
        side.base, side.process = await start_bot(session, command, env)
        await first_poll_done(session, side.base)


async def first_poll_done(session: ClientSession, base: str) -> None:
    """Wait until /readyz reports the bot's poll at start done (it finds nothing new)."""
    polled = {"ok": True, "detail": "1 source(s) polled"}
    async with asyncio.timeout(60):
        while True:
            async with session.get(base + "/readyz") as response:
                if (await response.json())["checks"]["azure_ml"] == polled:
                    return
            await asyncio.sleep(0.1)


async def measure_bots(session: ClientSession, sides: list[Side]) -> None:
    """Events, commands and clicks on every side's bot, in turn; then each bot's RSS."""
    events = await alternate(
        sides,
        EVENT_WARMUP + EVENTS,
        EVENT_PACE / len(sides),
        lambda side, number: one_event(session, side, number),
    )
    for side, measured in zip(sides, events, strict=True):
        side.figures.add_latencies("event_to_card", measured[EVENT_WARMUP:], 0.5, 0.99)
    await asyncio.sleep(1)  # the last cards' approvals settle
    for label, text in COMMANDS.items():
        asked = await alternate(
            sides, ASK_WARMUP + ASKS, 0, lambda side, _n, text=text: ask(session, side, text)
        )
        for side, measured in zip(sides, asked, strict=True):
            side.figures.add_latencies(label, measured[ASK_WARMUP:], 0.99)
    targets = [await click_targets(side) for side in sides]

    async def one_click(side: Side, number: int) -> float:
        target = targets[sides.index(side)][number]
        user = str(uuid.uuid4())
        return (await click(session, side.base, side.microsoft, side.devops, target, user=user))[1]

    clicked = await alternate(sides, len(targets[0]), CLICK_PACE / len(sides), one_click)
    for side, measured in zip(sides, clicked, strict=True):
        side.figures.add_latencies("click_to_devops", measured[CLICK_WARMUP:], 0.99)
        assert side.process is not None
        side.figures.add("rss", rss_kb(side.process.pid) / 1024, "MB")


async def compare(empty: str, full: str, size: Size) -> list[Figures]:
    """The figures of an empty and a full store (at these URLs), measured in turn."""
    sides = [await open_side(empty, size, full=False), await open_side(full, size, full=True)]
    try:
        await poll_cycles(sides)
        for side in sides:
            side.microsoft.arm.requests.clear()
        async with ClientSession() as session:
            try:
                await start_bots(session, sides)
                await measure_bots(session, sides)
            finally:
                for side in sides:
                    if side.process is not None:
                        await stop_bot(side.process)
    finally:
        for side in sides:
            await close_side(side)
    return [side.figures for side in sides]


def report(store: str, empty: Figures, full: Figures) -> None:
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
        with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as full:
            report("sqlite", *await compare(database_url(empty), database_url(full), size))
        urls = [await server.new_database() for _ in range(2)]
        report("postgresql", *await compare(*urls, size))
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
