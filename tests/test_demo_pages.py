"""The demo's web pages: the simulated Azure DevOps run page its cards' run links open, and the
simulated Azure ML studio page of the studio link, which the demo's bot (only) links to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, ClientTimeout, web
from aiohttp.test_utils import TestServer

from bot.config import load_settings
from bot.pipelines.azure_devops import AzureDevOps, pat_auth
from demo.stack import DemoOptions, demo_settings
from demo.studio import add_studio
from domain.target import Target, TargetKind
from fakes.azureml import FakeArm
from fakes.devops import PAT, PROJECT, FakeDevOps
from tests.support.deployments import deployment


@pytest.fixture
async def fake() -> AsyncIterator[FakeDevOps]:
    async with FakeDevOps() as devops:
        devops.add_release_definition(12, "fraud_model")
        devops.add_model_version(12, "_fraud_model", "fraud_model:7", "7")
        devops.add_pipeline(42, "deploy-<fraud>-model")
        yield devops


@pytest.fixture
async def session() -> AsyncIterator[ClientSession]:
    async with ClientSession(timeout=ClientTimeout(total=5)) as client_session:
        yield client_session


async def started(fake: FakeDevOps, session: ClientSession, target: Target) -> tuple[str, str]:
    """Start a run as the bot does; the web and logs links it got."""
    client = AzureDevOps(session, fake.organization_url, PROJECT, pat_auth(PAT))
    info = await client.create(deployment(target, version="7"))
    assert info.web_url
    assert info.logs_url
    return info.web_url, info.logs_url


async def browse(session: ClientSession, url: str) -> tuple[int, str, str]:
    """GET as a browser does: no Authorization header."""
    async with session.get(url) as response:
        return response.status, response.content_type, await response.text()


async def test_a_run_link_opens_a_page_with_the_run_and_its_logs(fake, session):
    web_url, logs_url = await started(fake, session, Target(TargetKind.PIPELINE, 42))
    fake.advance()
    fake.advance()

    status, kind, page = await browse(session, web_url)
    _, _, logs = await browse(session, logs_url)

    assert (status, kind) == (200, "text/html")
    assert "<h1>Run deploy-dep-1</h1>" in page
    for shown in ("deploy-&lt;fraud&gt;-model", "completed", "succeeded", "fraud_model"):
        assert shown in page
    assert "<script" not in page.lower()
    assert "<h1>Logs of run deploy-dep-1</h1>" in logs
    assert "Finishing: succeeded" in logs


async def test_a_release_link_opens_a_page_with_the_release(fake, session):
    web_url, logs_url = await started(fake, session, Target(TargetKind.RELEASE, 12))

    status, _, page = await browse(session, web_url)
    _, _, logs = await browse(session, logs_url)

    assert status == 200
    assert "<h1>Release-1</h1>" in page
    assert "Staging: queued" in page
    assert "<h1>Logs of Release-1</h1>" in logs


@pytest.mark.parametrize("query", ["buildId=999", "buildId=x", "buildId=%C2%B2", ""])
async def test_an_unknown_run_is_a_not_found_page(fake, session, query):
    status, kind, page = await browse(
        session, f"{fake.organization_url}/{PROJECT}/_build/results?{query}"
    )

    assert (status, kind) == (404, "text/html")
    assert "Run not found" in page


async def test_the_rest_routes_still_ask_for_credentials(fake, session):
    status, kind, _ = await browse(
        session, f"{fake.organization_url}/{PROJECT}/_apis/build/builds?api-version=7.1"
    )

    assert (status, kind) == (401, "application/json")


async def studio_server(arm: FakeArm) -> TestServer:
    app = web.Application()
    add_studio(app, arm)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_the_studio_page_shows_the_version_of_the_simulated_workspace(session):
    arm = FakeArm()
    arm.register("fraud_model", "3", createdBy="Grace Hopper", tags={"stage": "candidate"})
    server = await studio_server(arm)
    try:
        base = str(server.make_url("/studio/model"))
        status, _, page = await browse(session, f"{base}/fraud_model:3/details?wsid=/x")
        missing, _, _ = await browse(session, f"{base}/fraud_model:4/details")
    finally:
        await server.close()

    assert status == 200
    assert "<h1>fraud_model:3</h1>" in page
    assert "Grace Hopper" in page
    assert "candidate" in page
    assert arm.models["fraud_model"][0]["createdAt"][:10] in page
    assert missing == 404


def test_only_the_demo_links_cards_to_a_local_studio(tmp_path: Path):
    options = DemoOptions(control_port=4321, data_dir=tmp_path)
    devops = FakeDevOps(port=8089)

    demo = demo_settings(options, devops, "secret")

    assert demo.cloud.studio == "http://127.0.0.1:4321/studio"
    assert load_settings({}, dotenv_path=None).cloud.studio == "https://ml.azure.com"
