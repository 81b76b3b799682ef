"""A bot process killed (SIGKILL) right after Azure DevOps accepted a run, then restarted, does not
start a second run: the restarted worker finds the run by our deployment key."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from sqlalchemy import select, update

from bot.cards.verbs import APPROVE
from bot.store.clock import utcnow
from bot.store.engine import create_engine
from bot.store.tables import announcements, approvals, deployments
from demo.azureml import FakeArm
from demo.devops import FakeDevOps
from tests.conftest import RecordingConnector, bot_environment, free_port, installation, message
from tests.identity import SigningKeys
from tests.test_announce import ANNOUNCING, SECRET, registered, sample
from tests.test_approve import card_action, wait_until
from tests.test_chat_commands import execute_actions

ROOT = Path(__file__).resolve().parents[1]


class BotProcess:
    """bench/agents_bot.py as a child process, spoken to like Teams and Event Grid do."""

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
            str(ROOT / "bench" / "agents_bot.py"),
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


async def deployment_rows(database_url: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(select(deployments))).all())
    finally:
        await engine.dispose()


async def status_is(database_url: str, status: str) -> bool:
    return [row.status for row in await deployment_rows(database_url)] == [status]


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


async def started_in_a_subscribed_channel(bot: BotProcess, connector: RecordingConnector) -> None:
    """Start the bot, install it in the channel and subscribe the channel to the sample's model."""
    await bot.start()
    await bot.post_activity(installation(connector.url, "add"), connector.url)
    await bot.post_activity(
        message(connector.url, "subscribe sklearn_*", scope="channel"), connector.url
    )


async def test_a_kill_after_devops_accepted_then_a_restart_gives_one_run(
    *,
    jwks_server: str,
    signing_keys: SigningKeys,
    connector: RecordingConnector,
    devops: FakeDevOps,
    database_url: str,
    arm: FakeArm,
):
    env = process_environment(database_url, arm, RELEASEBOT_DEPLOY_TARGET="pipeline:42")
    bot = BotProcess(env, jwks_server, devops.organization_url, signing_keys)
    try:
        await started_in_a_subscribed_channel(bot, connector)
        await bot.post_event(registered(arm, [sample("eventgrid", version=20)]))
        await connector.wait_for_calls(3)
        approval_id = execute_actions(connector.last_card())[0]["data"]["approvalId"]
        devops.accept_then_hang()

        answer = await bot.post_activity(
            card_action(connector.url, APPROVE, {"approvalId": approval_id}), connector.url
        )
        await wait_until(lambda: devops.runs_created > 0, within=10)
        bot.kill()
        await bot.wait()

        assert "Approved" in json.dumps(json.loads(answer)["value"])
        assert [row.status for row in await deployment_rows(database_url)] == ["requested"]

        await release_claims(database_url)
        await bot.start()
        await wait_until(lambda: status_is(database_url, "triggered"), within=10)
    finally:
        await bot.close()

    rows = await deployment_rows(database_url)
    assert devops.runs_created == 1
    assert rows[0].run_id == 1001
    assert len(devops.requests_to("POST", "/pipelines/42/runs")) == 1


async def test_a_sigterm_mid_flow_finishes_or_leaves_queued_and_a_restart_sends_the_rest(
    *,
    jwks_server: str,
    signing_keys: SigningKeys,
    connector: RecordingConnector,
    devops: FakeDevOps,
    database_url: str,
    arm: FakeArm,
):
    env = process_environment(database_url, arm)
    bot = BotProcess(env, jwks_server, devops.organization_url, signing_keys)
    try:
        await started_in_a_subscribed_channel(bot, connector)
        before = len(connector.calls)
        connector.refusals = [(503, {"Retry-After": "30"})] * 2  # two cards must wait a while
        await asyncio.gather(
            *(
                bot.post_event(registered(arm, [sample("eventgrid", version=v)]))
                for v in range(20, 25)
            )
        )
        assert bot.process is not None
        bot.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):  # Docker's and Kubernetes' wait before SIGKILL
            exit_code = await bot.process.wait()
        sent_before_stop = len(connector.calls) - before

        await release_claims(database_url)
        await bot.start()
        await wait_until(lambda: len(connector.calls) - before == 5, within=15)
        await asyncio.sleep(0.5)
    finally:
        await bot.close()

    assert exit_code == 0
    assert sent_before_stop <= 3
    titles = [connector_card_title(call) for call in connector.calls[before:]]
    assert sorted(titles) == [f"New version: sklearn_regression_model {v}" for v in range(20, 25)]


def connector_card_title(call: Any) -> str:
    return str(call.body["attachments"][0]["content"]["body"][0]["text"])
