"""The bot process dies right after each step of the flow (``bot/failpoints.py``), is started
again, and the flow goes on as Teams, Event Grid and the users would go on: nothing is lost and
nothing is done twice. One card per conversation, one pipeline run, one result."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.cards.verbs import APPROVE
from bot.failpoints import STEPS
from bot.store.engine import create_engine
from bot.store.tables import announcements
from fakes.azureml import FakeArm
from fakes.devops import FakeDevOps
from fakes.identity import SigningKeys
from tests.support.activities import card_action, installation, message
from tests.support.bot_process import BotProcess, process_environment, release_claims
from tests.support.cards import card_text, card_title, execute_actions
from tests.support.connector import RecordingConnector
from tests.support.events import registered, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

ANNOUNCED = "New version: sklearn_regression_model 20"
APPROVERS = (
    ("00000000-0000-0000-0000-0000000000a1", "Ada"),
    ("00000000-0000-0000-0000-0000000000b2", "Bob"),
)


class CrashingBot:
    """The bot process, which dies at ``step`` the first time it gets there, then runs on."""

    def __init__(self, step: str, env: dict[str, str], *args: Any) -> None:
        self.step, self.database_url = step, env["RELEASEBOT_DATABASE_URL"]
        self.crashing = BotProcess(env | {"RELEASEBOT_TEST_CRASH_AT": step}, *args)
        self.healthy = BotProcess(env, *args)
        self.current = self.crashing
        self.crashed = False

    async def start(self) -> None:
        await self.current.start()

    async def attempt(self, send: Any) -> None:
        """Do what a client does (retry on a dropped connection) until it gets through."""
        for _ in range(2):
            try:
                await send(self.current)
            except (aiohttp.ClientError, AssertionError):
                await self.restart_if_dead()
            else:
                return
        raise AssertionError("the request did not get through after a restart")

    async def restart_if_dead(self, within: float = 5.0) -> bool:
        """If the process died at its step: start it again, without the crash (and say so)."""
        assert self.current.process is not None
        try:
            async with asyncio.timeout(within):
                await self.current.process.wait()
        except TimeoutError:
            return False
        assert self.current.process.returncode == 137
        self.crashed = True
        await self.current.session.close()
        self.current = self.healthy
        await release_claims(self.database_url)  # as the dead process's leases would
        await self.current.start()
        return True

    async def wait_for(self, condition: Any, within: float) -> None:
        """Wait until ``condition()``; if the process dies at its step meanwhile (in a worker,
        not in a request), start it again and go on waiting."""
        process = self.current.process
        assert process is not None
        await wait_until(lambda: condition() or process.returncode is not None, within)
        if not condition():
            assert await self.restart_if_dead()
            await wait_until(condition, within)

    async def close(self) -> None:
        await self.crashing.close()
        await self.healthy.close()


def cards_titled(connector: RecordingConnector, title: str) -> list[Any]:
    return [
        call
        for call in connector.calls
        if call.method == "POST"
        and call.body.get("attachments")
        and card_title(call.body["attachments"][0]["content"]) == title
    ]


async def recorded_as_sent(database_url: str) -> bool:
    """Whether the bot has kept the announcement's activity id: a crash from now on cannot
    make it post the card again (dying between Teams' answer and this is a known limit)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            sent = await connection.scalar(
                select(func.count()).where(announcements.c.status == "sent")
            )
    finally:
        await engine.dispose()
    return bool(sent)


def results(connector: RecordingConnector) -> int:
    return sum("Result for" in card_text(card) for card in connector.cards())


def card_updates(connector: RecordingConnector) -> int:
    return sum(call.method == "PUT" for call in connector.calls)


@pytest.mark.parametrize("step", STEPS)
async def test_a_crash_after_each_step_loses_nothing_and_does_nothing_twice(
    step: str,
    *,
    jwks_server: str,
    signing_keys: SigningKeys,
    connector: RecordingConnector,
    devops: FakeDevOps,
    database_url: str,
    arm: FakeArm,
):
    env = process_environment(
        database_url,
        arm,
        RELEASEBOT_DEPLOY_TARGET="pipeline:42",
        RELEASEBOT_REQUIRED_APPROVALS="2",
    )
    bot = CrashingBot(step, env, jwks_server, devops.organization_url, signing_keys)
    try:
        await bot.start()
        url = connector.url
        await bot.attempt(lambda b: b.post_activity(installation(url, "add"), url))
        await bot.attempt(
            lambda b: b.post_activity(message(url, "subscribe sklearn_*", scope="channel"), url)
        )
        # Event Grid delivers until it gets a 200.
        event = registered(arm, [sample("eventgrid", version=20)])
        await bot.attempt(lambda b: b.post_event(event))
        await bot.wait_for(lambda: cards_titled(connector, ANNOUNCED), within=10)
        await wait_until(lambda: recorded_as_sent(database_url), within=10)
        approval_id = execute_actions(
            cards_titled(connector, ANNOUNCED)[0].body["attachments"][0]["content"]
        )[0]["data"]["approvalId"]
        for user, name in APPROVERS:  # each clicks until the click is answered
            click = card_action(url, APPROVE, {"approvalId": approval_id}, user=user, name=name)
            await bot.attempt(lambda b, click=click: b.post_activity(click, url))
        await wait_until(lambda: devops.runs_created > 0, within=10)
        await bot.restart_if_dead(within=2.0)  # at devops_called or run_recorded
        devops.finish(1001, "succeeded")
        await wait_until(lambda: results(connector) > 0, within=15)
        updates = card_updates(connector)
        if await bot.restart_if_dead(within=1.0):  # at result_posted
            # The restarted bot brings the card up to date, without posting the result again.
            await wait_until(lambda: card_updates(connector) > updates, within=10)
        await asyncio.sleep(0.5)
    finally:
        await bot.close()

    assert bot.crashed, f"the process never reached {step}"
    assert len(cards_titled(connector, ANNOUNCED)) == 1
    assert devops.runs_created == 1
    assert results(connector) == 1
