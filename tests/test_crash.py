"""A bot process killed (SIGKILL) right after Azure DevOps accepted a run, then restarted, does not
start a second run: the restarted worker finds the run by our deployment key."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest
from sqlalchemy import select

from bot.cards.verbs import APPROVE
from bot.store.engine import create_engine
from bot.store.tables import deployments
from fakes.azureml import FakeArm
from fakes.devops import FakeDevOps
from fakes.identity import SigningKeys
from tests.support.activities import card_action, installation, message
from tests.support.bot_process import BotProcess, process_environment, release_claims
from tests.support.cards import card_title, execute_actions
from tests.support.connector import RecordingConnector
from tests.support.events import registered, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


async def deployment_rows(database_url: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(select(deployments))).all())
    finally:
        await engine.dispose()


async def status_is(database_url: str, status: str) -> bool:
    return [row.status for row in await deployment_rows(database_url)] == [status]


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
    return card_title(call.body["attachments"][0]["content"])
