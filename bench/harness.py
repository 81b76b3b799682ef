"""What the benchmarks share: a loopback stand-in for Microsoft's endpoints, our bot as a process.

The stand-in serves the Bot Framework signing keys (JWKS and OpenID document), plays the Bot
Connector (it records every card with its arrival time, and may refuse calls) and runs a loopback
Azure ML, where a version is registered before its event is pushed: the bot reads it there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web
from sqlalchemy import ColumnElement, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.store.engine import create_engine  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.store import Store  # noqa: E402
from bot.store.tables import approvals, conversations  # noqa: E402
from domain.records import ConversationInfo  # noqa: E402
from fakes.azureml import FakeArm  # noqa: E402
from fakes.devops import FakeDevOps  # noqa: E402
from fakes.identity import APP_ID, TENANT_ID, SigningKeys  # noqa: E402
from fakes.ports import free_port  # noqa: E402

WORKSPACE = "00000000-0000-0000-0000-000000000000/ml-rg/ml-prod"
WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ml-rg"
    "/providers/Microsoft.MachineLearningServices/workspaces/ml-prod"
)
EVENT_SECRET = "bench-event-secret"
LOG = Path(tempfile.gettempdir()) / "releasebot-bench.log"
"""Where the bots' own logs go, for a look when a figure is off."""


def pinned(command: list[str]) -> list[str]:
    """Run a bot on core 1 when taskset exists; the benchmark itself runs on core 0."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    return ["taskset", "-c", "1", *command] if shutil.which("taskset") else command


class Microsoft:
    """Loopback Bot Connector and key endpoints. ``refuse(call_number)`` may return a status."""

    def __init__(
        self, refuse: Callable[[], int | None] = lambda: None, *, read_cards: bool = True
    ) -> None:
        self.keys = SigningKeys()
        self.refuse = refuse
        self.read_cards = read_cards
        """Parse each reply for its card title; off where only counts matter (it costs CPU)."""
        self.latency = 0.0
        """Seconds the connector takes to answer a call it has counted (Teams' own time)."""
        self.url = ""
        self.requests = 0
        self.refused = 0
        self.cards: list[tuple[float, str, str]] = []
        """(arrival time, conversation id, card title) of every accepted card."""
        self.arrived = asyncio.Event()
        self.arm = FakeArm()
        self._certificates = tempfile.TemporaryDirectory()
        self.app = web.Application()
        self.app.router.add_get("/keys", self._jwks)
        self.app.router.add_get("/openid", self._openid)
        self.app.router.add_route("*", "/v3/conversations/{conversation}/{tail:.*}", self._reply)
        self._runner = web.AppRunner(self.app, access_log=None)

    async def start(self) -> None:
        """Serve on a free loopback port."""
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/"
        await self.arm.start(Path(self._certificates.name))

    async def stop(self) -> None:
        """Stop serving."""
        await self._runner.cleanup()
        await self.arm.close()
        self._certificates.cleanup()

    async def _jwks(self, _request: web.Request) -> web.Response:
        return web.json_response(self.keys.jwks())

    async def _openid(self, _request: web.Request) -> web.Response:
        document = {"issuer": "https://api.botframework.com", "jwks_uri": self.url + "keys"}
        return web.json_response(document)

    async def _reply(self, request: web.Request) -> web.Response:
        self.requests += 1
        status = self.refuse()
        if self.latency:
            await asyncio.sleep(self.latency)
        if status is not None:
            self.refused += 1
            return web.json_response({"error": {"code": "Throttled"}}, status=status)
        title = ""
        body = await request.json() if self.read_cards else {}
        for attachment in body.get("attachments") or []:
            blocks = attachment["content"]["body"]
            title = next(block["text"] for block in blocks if block["type"] == "TextBlock")
        self.cards.append((time.perf_counter(), request.match_info["conversation"], title))
        self.arrived.set()
        return web.json_response({"id": f"activity-{len(self.cards)}"})


def bot_environment(data_dir: str, microsoft: Microsoft, **extra: str) -> dict[str, str]:
    """The settings of our bot under benchmark: production auth, SQLite, one watched workspace
    (``microsoft``'s Azure ML)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": APP_ID,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": TENANT_ID,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "bench-secret",
        "RELEASEBOT_DATABASE_URL": database_url(data_dir),
        "RELEASEBOT_DEV_LOCAL_CONNECTOR": "true",
        "RELEASEBOT_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "ERROR"),
        "RELEASEBOT_AZUREML_WORKSPACES": WORKSPACE,
        "RELEASEBOT_EVENTGRID_SECRET": EVENT_SECRET,
        "RELEASEBOT_TEST_ARM_URL": microsoft.arm.root,
        "RELEASEBOT_TEST_ARM_CERT": str(microsoft.arm.cert_path),
        **extra,
    }


def database_url(data_dir: str) -> str:
    """The SQLite store in the benchmark's folder."""
    return f"sqlite+aiosqlite:///{data_dir}/bench.db"


def ours(microsoft: Microsoft) -> list[str]:
    """The command that runs our bot (fakes/bot_process.py gets the port after the script)."""
    return [sys.executable, str(ROOT / "fakes" / "bot_process.py"), microsoft.url + "keys"]


async def start_bot(
    session: ClientSession, command: list[str], env: dict[str, str]
) -> tuple[str, asyncio.subprocess.Process]:
    """Start a bot process pinned to core 1; its base URL once it answers."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *pinned([command[0], command[1], str(port), *command[2:]]),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=LOG.open("ab"),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"the bot exited with {process.returncode}")
        try:
            async with session.post(base + "/api/messages", data=b"{}"):
                return base, process
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the bot did not start")


async def stop_bot(process: asyncio.subprocess.Process) -> None:
    """Stop a bot process and wait for it."""
    process.terminate()
    await asyncio.wait_for(process.wait(), 30)


@contextlib.asynccontextmanager
async def running_bots(
    session: ClientSession, microsoft: Microsoft, data_dir: str, count: int, url: str | None
) -> AsyncIterator[list[str]]:
    """``count`` of our bots on one store (the SQLite one of ``data_dir``, else ``url``): their
    base URLs while they run."""
    extra = {"RELEASEBOT_DATABASE_URL": url} if url else {}
    started = [
        await start_bot(session, ours(microsoft), bot_environment(data_dir, microsoft, **extra))
        for _ in range(count)
    ]
    try:
        yield [base for base, _ in started]
    finally:
        for _, process in started:
            await stop_bot(process)


async def seed_subscribers(
    data_dir: str,
    microsoft: Microsoft,
    count: int,
    pattern: str,
    *,
    url: str | None = None,
    models: int | None = None,
) -> None:
    """``count`` Teams channels in the store (the SQLite one of ``data_dir``, else ``url``),
    each subscribed to ``pattern`` ({n}: its number, modulo ``models`` if given)."""
    engine = create_engine(url or database_url(data_dir))
    await upgrade(engine)
    store = Store(engine)
    for number in range(count):
        info = channel_info(microsoft.url, f"19:bench-channel-{number}@thread.tacv2")
        ref, _ = await store.conversations.save(info)
        await store.subscriptions.add(
            ref,
            pattern.format(n=number % models if models else number),
            source=None,
            tags={},
            created_by=None,
            created_by_name=None,
        )
    await engine.dispose()


def channel_info(service_url: str, conversation_id: str) -> ConversationInfo:
    """A Teams channel of the benchmark's tenant, as the bot stores it from an activity."""
    reference = {
        "bot": {"id": f"28:{APP_ID}", "name": "ReleaseBot"},
        "conversation": {
            "id": conversation_id,
            "conversationType": "channel",
            "tenantId": TENANT_ID,
        },
        "channelId": "msteams",
        "serviceUrl": service_url,
    }
    return ConversationInfo(
        "msteams",
        conversation_id,
        "channel",
        TENANT_ID,
        service_url,
        None,
        "en-US",
        json.dumps(reference),
    )


def model_registered(microsoft: Microsoft, name: str, version: int) -> list[dict[str, Any]]:
    """A ModelRegistered delivery in the Event Grid schema for the benchmark's workspace, once
    ``microsoft``'s Azure ML has the version."""
    versions = microsoft.arm.models.get(name, [])
    if all(item["version"] != str(version) for item in versions):
        microsoft.arm.register(name, str(version), tags={"stage": "bench"})
    return [
        {
            "topic": WORKSPACE_ID,
            "subject": f"models/{name}:{version}",
            "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
            "eventTime": "2026-11-24T10:00:00Z",
            "id": f"{name}-{version}",
            "data": {"modelName": name, "modelVersion": version, "modelTags": {"stage": "bench"}},
            "dataVersion": "2",
            "metadataVersion": "1",
        }
    ]


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def rss_kb(pid: int) -> int:
    """The resident memory of process ``pid``, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def approval_targets(url: str, *where: ColumnElement[bool]) -> list[tuple[int, str]]:
    """Each approval (those ``where`` picks, if given) and the Teams conversation its card is in,
    in order, from the store at ``url``."""
    engine = create_engine(url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(approvals.c.id, conversations.c.conversation_id)
            .join(conversations, conversations.c.id == approvals.c.conversation_ref)
            .where(*where)
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
    activity = in_channel(service_url, f"{conversation_id};messageid=1700000000000", user)
    return activity | {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "value": {
            "action": {
                "type": "Action.Execute",
                "verb": verb,
                "data": {"approvalId": approval_id},
            },
            "trigger": "automatic" if verb == "view" else "manual",
        },
    }


def message_of(service_url: str, conversation_id: str, text: str) -> dict:
    """A message with ``text`` in a channel, as Teams sends it (the bot's mention removed)."""
    return in_channel(service_url, conversation_id, "bench-user") | {
        "type": "message",
        "text": text,
    }


def in_channel(service_url: str, conversation_id: str, user: str) -> dict:
    """What every activity of ``user`` in a Teams channel of the benchmark's tenant carries."""
    return {
        "id": str(uuid.uuid4()),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": f"29:{user}", "name": "Bench User", "aadObjectId": user},
        "conversation": {
            "id": conversation_id,
            "conversationType": "channel",
            "tenantId": TENANT_ID,
        },
        "recipient": {"id": "28:bot", "name": "ReleaseBot"},
        "channelData": {"tenant": {"id": TENANT_ID}},
        "locale": "en-US",
    }
