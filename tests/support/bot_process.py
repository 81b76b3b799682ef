"""The bot in its own process (fakes/bot_process.py), spoken to like Teams and Event Grid do."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from sqlalchemy import update

from bot.store.clock import utcnow
from bot.store.engine import create_engine
from bot.store.tables import announcements, approvals, deployments
from fakes.azureml import FakeArm
from fakes.identity import SigningKeys
from fakes.ports import free_port
from tests.support.bot import bot_environment
from tests.support.events import ANNOUNCING, SECRET

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    """fakes/bot_process.py as a child process, spoken to like Teams and Event Grid do."""

    def __init__(
        self, env: dict[str, str], jwks_url: str, devops_url: str, keys: SigningKeys
    ) -> None:
        self.env, self.jwks_url, self.devops_url, self.keys = env, jwks_url, devops_url, keys
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.session = ClientSession()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "fakes" / "bot_process.py"),
            str(self.port),
            self.jwks_url,
            self.devops_url,
            env=self.env,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(60):
            while True:
                try:
                    async with self.session.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except OSError:
                    await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)

    async def wait(self) -> None:
        assert self.process is not None
        await self.process.wait()

    async def post_activity(self, activity: dict[str, Any], connector_url: str) -> str:
        headers = {"Authorization": f"Bearer {self.keys.token(serviceurl=connector_url)}"}
        async with self.session.post(
            self.url + "/api/messages", json=activity, headers=headers
        ) as response:
            assert response.status in (200, 202), await response.text()
            return await response.text()

    async def polled(self) -> bool:
        """Whether its readiness says it polled its Azure ML workspace (its first poll is done)."""
        async with self.session.get(self.url + "/readyz") as response:
            check = (await response.json())["checks"]["azure_ml"]
        return bool(check.get("detail") == "1 source(s) polled")

    async def post_event(self, event: Any) -> None:
        async with self.session.post(
            self.url + "/api/events/azureml", params={"secret": SECRET}, json=event
        ) as response:
            assert response.status == 200

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        await self.session.close()


def process_environment(database_url: str, arm: FakeArm, **settings: str) -> dict[str, str]:
    """The environment of a bot process under test: announcing the versions of ``arm``'s
    workspace, quiet, with ``settings``."""
    env = bot_environment(database_url, **ANNOUNCING, **settings)
    return env | {
        "PATH": os.environ.get("PATH", ""),
        "RELEASEBOT_LOG_LEVEL": "ERROR",
        "RELEASEBOT_TEST_ARM_URL": arm.root,
        "RELEASEBOT_TEST_ARM_CERT": str(arm.cert_path),
    }


async def release_claims(database_url: str) -> int:
    """What waiting for a dead process's claims to run out, and for the queued cards' next try,
    would do, without the wait; how many cards are still to send."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(update(deployments).values(claimed_until=None))
            await connection.execute(update(approvals).values(card_claimed_until=None))
            queued = await connection.execute(
                update(announcements)
                .where(announcements.c.status == "queued")
                .values(claimed_until=None, next_attempt_at=utcnow())
            )
            return int(queued.rowcount)
    finally:
        await engine.dispose()
