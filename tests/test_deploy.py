"""Approve -> Azure DevOps -> result on the card, with the real client against the stateful
loopback Azure DevOps: exactly one run per approval, across double clicks and failures."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession
from sqlalchemy import select

from app import STORE
from bot.cards.verbs import APPROVE
from bot.pipelines.azure_devops import AzureDevOps, pat_auth
from bot.store.tables import deployments
from fakes.devops import PAT, PROJECT, FakeDevOps
from tests.support.activities import card_action
from tests.support.approvals import announce, announced_card, click, start, wait_for_update
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text
from tests.support.waiting import wait_until

MODEL = "sklearn_regression_model"
HOOK_SECRET = "hook-secret-5e1f"


@pytest.fixture
async def devops() -> AsyncIterator[FakeDevOps]:
    async with FakeDevOps() as fake:
        fake.add_pipeline(42, "deploy-model")
        fake.add_release_definition(12, MODEL, overridable=("modelName", "modelVersion"))
        fake.add_model_version(12, f"_{MODEL}", "20", "20")
        yield fake


@pytest.fixture
async def deployer(devops: FakeDevOps) -> AsyncIterator[AzureDevOps]:
    async with ClientSession() as session:
        yield AzureDevOps(session, devops.organization_url, PROJECT, pat_auth(PAT))


async def deploying_bot(start_bot: Any, deployer: AzureDevOps, target: str) -> BotUnderTest:
    return await start(
        start_bot,
        deployer=deployer,
        RELEASEBOT_DEPLOY_TARGET=target,
        RELEASEBOT_DEVOPS_HOOK_SECRET=HOOK_SECRET,
    )


async def hook(bot: BotUnderTest, event: dict[str, Any]) -> int:
    """Deliver a service hook as Azure DevOps does: Basic auth, any user name."""
    token = base64.b64encode(f"ado:{HOOK_SECRET}".encode()).decode()
    url = bot.server.make_url("/api/hooks/azure-devops")
    async with (
        ClientSession() as session,
        session.post(url, json=event, headers={"Authorization": f"Basic {token}"}) as response,
    ):
        return response.status


def run_state_changed(run_id: int, result: str) -> dict[str, Any]:
    return {
        "id": "e1",
        "eventType": "ms.vss-pipelines.run-state-changed-event",
        "publisherId": "pipelines",
        "resource": {
            "run": {"id": run_id, "state": "completed", "result": result},
            "pipeline": {"id": 42},
        },
        "resourceVersion": "5.1-preview.1",
    }


def deployment_completed(release_id: int) -> dict[str, Any]:
    return {
        "id": "e2",
        "eventType": "ms.vss-release.deployment-completed-event",
        "publisherId": "rm",
        "resource": {
            "environment": {
                "id": 2,
                "releaseId": 0,
                "status": "succeeded",
                "release": {"id": release_id},
            },
        },
        "resourceVersion": "3.0-preview.1",
    }


async def stored_deployments(bot: BotUnderTest) -> list[Any]:
    async with bot.server.app[STORE].engine.connect() as connection:
        return list((await connection.execute(select(deployments))).all())


@pytest.mark.slow
async def test_an_approval_runs_the_pipeline_once_and_reports_the_result(
    start_bot, devops: FakeDevOps, deployer: AzureDevOps
):
    bot = await deploying_bot(start_bot, deployer, "pipeline:42")
    approval_id = await announce(bot)

    card_activity = f"activity-{len(bot.connector.calls)}"
    await click(bot, APPROVE, {"approvalId": approval_id})
    queued = await wait_for_update(bot, "Approved · deploying")

    assert devops.runs_created == 1
    run = devops.requests_to("POST", "/pipelines/42/runs")[0].json
    parameters = run["templateParameters"]
    assert (parameters["modelName"], parameters["modelVersion"]) == (MODEL, "20")
    assert parameters["modelSource"] == "ml-prod"
    assert parameters["deploymentKey"].startswith(f"mrb-{approval_id}-")
    assert any(a.get("title") == "Open the run" for a in queued["actions"])

    devops.finish(1001, "succeeded")
    assert await hook(bot, run_state_changed(1001, "succeeded")) == 200
    done = await wait_for_update(bot, "Deployed")
    assert card_text(done).startswith("Deployed\n")
    assert "Run 1001" in card_text(done)
    await wait_until(lambda: replies_to(bot, card_activity))
    reply = replies_to(bot, card_activity)
    assert len(reply) == 1
    assert "Result for sklearn_regression_model 20" in reply[0]
    assert reply[0].startswith("Result for sklearn_regression_model 20\nDeployed\n")
    assert "Run 1001" in reply[0]
    assert devops.runs_created == 1


def replies_to(bot: BotUnderTest, activity_id: str) -> list[str]:
    """The cards posted into the thread of ``activity_id``."""
    return [
        card_text(call.body["attachments"][0]["content"])
        for call in bot.connector.calls
        if call.method == "POST" and call.path.endswith(f"/activities/{activity_id}")
    ]


@pytest.mark.slow
async def test_an_approval_creates_a_classic_release_with_the_model_artifact(
    start_bot, devops: FakeDevOps, deployer: AzureDevOps
):
    bot = await deploying_bot(start_bot, deployer, "release:12")
    approval_id = await announce(bot)

    await click(bot, APPROVE, {"approvalId": approval_id})
    await wait_for_update(bot, "Run Release-")
    release = devops.requests_to("POST", "/release/releases")[0].json
    devops.finish(1, "failed")
    await hook(bot, deployment_completed(1))
    failed = await wait_for_update(bot, "Deployment failed")

    assert release["artifacts"] == [
        {"alias": f"_{MODEL}", "instanceReference": {"id": "20", "name": "20"}}
    ]
    assert release["variables"]["modelVersion"] == {"value": "20"}
    assert "dep=mrb-" in release["description"]
    assert "Deployment failed" in card_text(failed)
    assert devops.releases_created == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("status", "fix"),
    [
        (401, "Azure DevOps refused the bot's credentials (401)"),
        (403, "may not start pipeline 42 (403)"),
        (404, "Azure DevOps does not know pipeline 42 (404)"),
    ],
)
async def test_refusals_are_shown_with_what_to_fix_and_not_retried(
    start_bot, devops: FakeDevOps, deployer: AzureDevOps, status, fix
):
    bot = await deploying_bot(start_bot, deployer, "pipeline:42")
    approval_id = await announce(bot)
    devops.fail_next(status, count=50)

    await click(bot, APPROVE, {"approvalId": approval_id})
    card = await wait_for_update(bot, fix)
    calls = len(devops.requests)
    await asyncio.sleep(0.5)

    assert "Approved · the deployment could not start" in card_text(card)
    assert len(devops.requests) == calls == 1
    assert [row.status for row in await stored_deployments(bot)] == ["error"]


async def test_a_server_too_old_for_api_7_1_is_named_on_the_card(start_bot, devops, deployer):
    bot = await deploying_bot(start_bot, deployer, "pipeline:42")
    approval_id = await announce(bot)
    devops.server_api_version = "7.0"

    await click(bot, APPROVE, {"approvalId": approval_id})
    card = await wait_for_update(bot, "speaks REST API 7.0 at most")

    assert "Azure DevOps Server 2022.1 or later" in card_text(card)
    assert devops.runs_created == 0
    assert [row.status for row in await stored_deployments(bot)] == ["error"]


@pytest.mark.slow
async def test_throttling_and_server_errors_are_retried_into_one_run(
    start_bot, devops: FakeDevOps, deployer: AzureDevOps
):
    bot = await deploying_bot(start_bot, deployer, "pipeline:42")
    approval_id = await announce(bot)
    devops.fail_next(429, retry_after=0)
    devops.fail_next(500)
    devops.fail_next(503)

    await click(bot, APPROVE, {"approvalId": approval_id})
    await wait_for_update(bot, "Approved · deploying", within=10)

    assert devops.runs_created == 1
    assert [row.status for row in await stored_deployments(bot)] == ["triggered"]


@pytest.mark.slow
@pytest.mark.both_stores
async def test_a_hundred_concurrent_approve_clicks_start_one_run(
    start_bot, devops: FakeDevOps, deployer: AzureDevOps
):
    bot = await deploying_bot(start_bot, deployer, "pipeline:42")
    approval_id = await announce(bot)
    clicks = [
        bot.post(
            card_action(
                bot.connector.url,
                APPROVE,
                {"approvalId": approval_id},
                user=f"00000000-0000-0000-0000-{index:012d}",
                name=f"User {index}",
            )
        )
        for index in range(100)
    ]

    answers = await asyncio.gather(*clicks)
    await wait_for_update(bot, "Approved · deploying", within=10)

    assert {status for status, _ in answers} == {200}
    texts = [card_text(json.loads(body)["value"]) for _, body in answers]
    assert sum("This version is already approved." in text for text in texts) == 99
    assert len(await stored_deployments(bot)) == 1
    assert devops.runs_created == 1


async def test_hooks_need_the_secret(start_bot, devops: FakeDevOps, deployer: AzureDevOps):
    bot = await deploying_bot(start_bot, deployer, "pipeline:42")
    url = bot.server.make_url("/api/hooks/azure-devops")
    wrong = base64.b64encode(b"ado:wrong").decode()

    async with ClientSession() as session:
        async with session.post(url, json=run_state_changed(1, "succeeded")) as none:
            assert none.status == 401
        async with session.post(
            url, json=run_state_changed(1, "succeeded"), headers={"Authorization": f"Basic {wrong}"}
        ) as forged:
            assert forged.status == 401


@pytest.mark.slow
async def test_the_next_version_is_compared_with_the_one_deployed(
    start_bot, devops: FakeDevOps, deployer: AzureDevOps
):
    bot = await deploying_bot(start_bot, deployer, "pipeline:42")
    approval_id = await announce(bot, version=20)
    await click(bot, APPROVE, {"approvalId": approval_id})
    await wait_for_update(bot, "Approved · deploying")
    devops.finish(1001, "succeeded")
    await hook(bot, run_state_changed(1001, "succeeded"))
    await wait_for_update(bot, "Deployed")

    card = await announced_card(bot, version=21)

    assert "Compared with version 20, deployed now (20 → 21)" in card_text(card)
