"""The Azure DevOps client against the stateful loopback Azure DevOps."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout, web
from aiohttp.test_utils import TestServer
from azure.core.exceptions import ClientAuthenticationError

from bot.pipelines.azure_devops import (
    DEVOPS_SCOPE,
    AzureDevOps,
    entra_auth,
    match_artifact_version,
    pat_auth,
    release_status,
    release_url_for,
)
from bot.pipelines.deployer import DeployError, DeployErrorCode
from domain.statuses import RunStatus
from domain.target import Target, TargetKind
from fakes.devops import BEARER, PAT, PROJECT, FakeAsyncCredential, FakeDevOps
from tests.support.deployments import deployment

RELEASE = Target(TargetKind.RELEASE, 12)
PIPELINE = Target(TargetKind.PIPELINE, 42)
PIPELINE_WITHOUT_NAME = Target(TargetKind.PIPELINE, 43)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDevOps]:
    async with FakeDevOps() as devops:
        devops.add_release_definition(12, "fraud_model")
        for version in ("1", "2", "3"):
            devops.add_model_version(12, "_fraud_model", f"fraud_model:{version}", version)
        devops.add_pipeline(42, "deploy-fraud-model")
        devops.add_pipeline(43, "deploy-without-name-line", run_name=None)
        yield devops


@pytest.fixture
async def session() -> AsyncIterator[ClientSession]:
    async with ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(fake: FakeDevOps, session: ClientSession) -> AzureDevOps:
    return AzureDevOps(
        session, fake.organization_url, PROJECT, pat_auth(PAT), timeout=ClientTimeout(total=2)
    )


# --- hosts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("organization_url", "release_url"),
    [
        ("https://dev.azure.com/fabrikam", "https://vsrm.dev.azure.com/fabrikam"),
        ("https://dev.azure.com/fabrikam/", "https://vsrm.dev.azure.com/fabrikam"),
        ("https://fabrikam.visualstudio.com", "https://fabrikam.vsrm.visualstudio.com"),
        (
            "https://tfs.contoso.local:8080/tfs/DefaultCollection",
            "https://tfs.contoso.local:8080/tfs/DefaultCollection",
        ),
        ("http://127.0.0.1:4010/fabrikam", "http://127.0.0.1:4010/fabrikam"),
    ],
)
def test_the_release_host_is_derived_from_the_organization_url(organization_url, release_url):
    assert release_url_for(organization_url) == release_url


# --- classic releases -------------------------------------------------------------------------


async def test_create_release_sends_the_marker_and_the_listed_artifact_version(client, fake):
    info = await client.create(deployment(RELEASE))

    assert (info.run_id, info.name, info.status) == (1, "Release-1", RunStatus.QUEUED)
    assert (
        info.web_url == f"{fake.organization_url}/{PROJECT}/_release?releaseId=1&_a=release-summary"
    )
    assert (
        info.logs_url == f"{fake.organization_url}/{PROJECT}/_release?releaseId=1&_a=release-logs"
    )
    [post] = fake.requests_to("POST", "/release/releases")
    assert post.query["api-version"] == "7.1"
    body = post.json
    assert body["definitionId"] == 12
    assert body["description"].startswith("model-release-bot dep=dep-1 model=fraud_model:2")
    assert "ada@contoso.com" in body["description"]
    assert (body["reason"], body["isDraft"]) == ("manual", False)
    assert body["artifacts"] == [
        {"alias": "_fraud_model", "instanceReference": {"id": "fraud_model:2", "name": "2"}}
    ]
    assert body["properties"]["ModelReleaseBot.DeploymentId"] == {
        "$type": "System.String",
        "$value": "dep-1",
    }
    [versions] = fake.requests_to("GET", "/artifacts/versions")
    assert versions.query == {"releaseDefinitionId": "12", "api-version": "7.1-preview.1"}
    assert fake.releases[1]["artifacts"][0]["definitionReference"]["version"]["name"] == "2"


async def test_only_variables_settable_at_release_time_are_sent(client, fake):
    await client.create(deployment(RELEASE))

    [post] = fake.requests_to("POST", "/release/releases")
    # modelSource is declared but not settable, requestedBy is not declared at all.
    assert post.json["variables"] == {
        "modelName": {"value": "fraud_model"},
        "modelVersion": {"value": "2"},
        "deploymentKey": {"value": "dep-1"},
    }


async def test_variables_keep_the_definition_spelling_and_none_are_sent_when_none_are_settable(
    client, fake
):
    fake.add_release_definition(
        13, "fraud_model", overridable=("MODELVERSION", "requestedBy"), fixed=()
    )
    fake.add_model_version(13, "_fraud_model", "fraud_model:2", "2")
    fake.add_release_definition(14, "fraud_model", overridable=(), fixed=("modelName",))
    fake.add_model_version(14, "_fraud_model", "fraud_model:2", "2")

    await client.create(deployment(Target(TargetKind.RELEASE, 13)))
    await client.create(deployment(Target(TargetKind.RELEASE, 14), key="dep-2"))

    first, second = fake.requests_to("POST", "/release/releases")
    assert first.json["variables"] == {
        "MODELVERSION": {"value": "2"},
        "requestedBy": {"value": "ada@contoso.com, grace@contoso.com"},
    }
    assert second.json["variables"] == {}
    assert fake.releases_created == 2


async def test_the_definition_is_read_once_for_several_releases(client, fake):
    await client.create(deployment(RELEASE, key="a"))
    await client.create(deployment(RELEASE, key="b", version="3"))

    assert len(fake.requests_to("GET", "/release/definitions/12")) == 1


async def test_find_returns_the_release_created_before_a_crash(client, fake, session):
    request = deployment(RELEASE)
    assert await client.find(request) is None

    created = await client.create(request)
    # A new client, as after a restart: nothing cached.
    restarted = AzureDevOps(session, fake.organization_url, PROJECT, pat_auth(PAT))
    found = await restarted.find(request)

    assert found is not None
    assert found.run_id == created.run_id
    assert fake.releases_created == 1
    search = fake.requests_to("GET", "/release/releases")[-1].query
    assert search["definitionId"] == "12"
    assert search["queryOrder"] == "descending"
    assert search["artifactVersionId"] == "fraud_model:2"
    assert search["sourceId"] == "azureml-connection-1:fraud_model"
    assert _parse(search["minCreatedTime"]) <= request.not_before - timedelta(minutes=5)


async def test_trigger_creates_once(client, fake):
    request = deployment(RELEASE)

    first = await client.trigger(request)
    second = await client.trigger(request)

    assert first.run_id == second.run_id
    assert fake.releases_created == 1


async def test_find_ignores_releases_of_other_deployments_of_the_same_version(client, fake):
    await client.create(deployment(RELEASE, key="dep-1"))

    assert await client.find(deployment(RELEASE, key="dep-10")) is None
    assert await client.find(deployment(RELEASE, key="dep")) is None


async def test_find_falls_back_to_a_scan_when_the_artifact_filters_find_nothing(client, fake):
    created = await client.create(deployment(RELEASE))
    fake.artifact_filters_match_nothing = True

    found = await client.find(deployment(RELEASE))

    assert found is not None
    assert found.run_id == created.run_id
    filtered, scan = fake.requests_to("GET", "/release/releases")[-2:]
    assert "artifactVersionId" in filtered.query
    assert "artifactVersionId" not in scan.query


async def test_find_follows_continuation_tokens(client, fake):
    wanted = deployment(RELEASE, key="wanted")
    await client.create(wanted)
    for index in range(55):
        await client.create(deployment(RELEASE, key=f"other-{index}"))
    fake.artifact_filters_match_nothing = True

    found = await client.find(wanted)

    assert found is not None
    assert found.run_id == 1
    tokens = [
        r.query.get("continuationToken") for r in fake.requests_to("GET", "/release/releases")
    ]
    assert "50" in tokens


async def test_find_does_not_look_before_not_before(client, fake):
    await client.create(deployment(RELEASE))

    later = deployment(RELEASE, not_before=datetime.now(UTC) + timedelta(hours=1))

    assert await client.find(later) is None


async def test_release_status_follows_the_stages(client, fake):
    info = await client.create(deployment(RELEASE))

    fake.advance(info.run_id)
    assert (await client.status(RELEASE, info.run_id)).status is RunStatus.IN_PROGRESS
    fake.advance(info.run_id)  # Staging succeeded, Production queued
    assert (await client.status(RELEASE, info.run_id)).status is RunStatus.IN_PROGRESS
    fake.await_approval(info.run_id)
    waiting = await client.status(RELEASE, info.run_id)
    assert waiting.detail == "stage Production waits for approval"
    fake.finish(info.run_id, "succeeded")
    done = await client.status(RELEASE, info.run_id)

    assert done.status is RunStatus.SUCCEEDED
    assert done.status.final


@pytest.mark.parametrize(
    ("result", "status", "detail"),
    [
        ("failed", RunStatus.FAILED, "stage Staging failed"),
        ("canceled", RunStatus.CANCELED, "stage Staging was canceled"),
        ("partiallySucceeded", RunStatus.PARTIALLY_SUCCEEDED, "stage Staging partially succeeded"),
    ],
)
async def test_release_outcomes(client, fake, result, status, detail):
    info = await client.create(deployment(RELEASE))

    fake.finish(info.run_id, result)
    final = await client.status(RELEASE, info.run_id)

    assert (final.status, final.detail) == (status, detail)


def stage(name: str, status: str, *conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "conditions": list(conditions), **extra}


def after(name: str, flags: str = "4") -> dict[str, Any]:
    return {"name": name, "conditionType": "environmentState", "value": flags}


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        (
            [stage("Dev", "succeeded"), stage("Prod", "notStarted")],
            RunStatus.SUCCEEDED,
        ),  # Prod is manual
        (
            [stage("Dev", "succeeded"), stage("Prod", "notStarted", after("Dev"))],
            RunStatus.IN_PROGRESS,
        ),
        (
            [stage("Dev", "partiallySucceeded"), stage("Prod", "notStarted", after("Dev"))],
            RunStatus.PARTIALLY_SUCCEEDED,
        ),
        (
            [stage("Dev", "partiallySucceeded"), stage("Prod", "notStarted", after("Dev", "132"))],
            RunStatus.IN_PROGRESS,
        ),
        ([stage("Dev", "notStarted"), stage("Prod", "notStarted")], RunStatus.QUEUED),
        ([stage("Dev", "scheduled")], RunStatus.QUEUED),
        ([stage("Dev", "succeeded"), stage("Prod", "rejected")], RunStatus.FAILED),
    ],
)
def test_release_status_mapping(stages, expected):
    assert release_status({"status": "active", "environments": stages})[0] is expected


def test_an_abandoned_release_is_canceled_and_a_rejected_approval_is_named():
    assert release_status({"status": "abandoned", "environments": []})[0] is RunStatus.CANCELED
    rejected = stage(
        "Prod", "rejected", deploySteps=[{"attempt": 1, "operationStatus": "rejected"}]
    )
    assert (
        release_status({"environments": [rejected]})[1] == "stage Prod: the approval was rejected"
    )


async def test_a_missing_artifact_version_is_retryable(client, fake):
    with pytest.raises(DeployError) as caught:
        await client.create(deployment(RELEASE, version="4"))

    assert caught.value.code is DeployErrorCode.ARTIFACT_VERSION_MISSING
    assert caught.value.retryable
    assert fake.releases_created == 0
    fake.add_model_version(12, "_fraud_model", "fraud_model:4", "4")
    assert (await client.create(deployment(RELEASE, version="4"))).run_id == 1


async def test_the_artifact_is_chosen_by_alias_then_primary(client, fake):
    build = {
        "sourceId": "p:7",
        "type": "Build",
        "alias": "scoring-image",
        "isPrimary": True,
        "definitionReference": {"definition": {"id": "7", "name": "image"}},
    }
    fake.add_release_definition(20, "fraud_model", alias="model", extra_artifacts=[build])
    fake.add_model_version(20, "model", "fraud_model:2", "2")
    fake.add_model_version(20, "scoring-image", "311", "20260101.1")

    await client.create(deployment(Target(TargetKind.RELEASE, 20), key="p", version="20260101.1"))
    await client.create(deployment(Target(TargetKind.RELEASE, 20, artifact_alias="model"), key="m"))

    primary, chosen = (
        r.json["artifacts"][0] for r in fake.requests_to("POST", "/release/releases")
    )
    assert primary["alias"] == "scoring-image"
    assert chosen == {"alias": "model", "instanceReference": {"id": "fraud_model:2", "name": "2"}}
    with pytest.raises(DeployError) as caught:
        await client.create(deployment(Target(TargetKind.RELEASE, 20, artifact_alias="nope")))
    assert caught.value.code is DeployErrorCode.INVALID


def test_artifact_versions_match_by_qualified_name_then_name_then_id():
    request = deployment(RELEASE, version="2")
    listed = [
        {"id": "2", "name": "other"},
        {"id": "x", "name": "2"},
        {"id": "fraud_model:2", "name": "v2"},
    ]
    assert match_artifact_version(listed, request).id == "fraud_model:2"  # type: ignore[union-attr]
    assert match_artifact_version(listed[:2], request).id == "x"  # type: ignore[union-attr]
    assert match_artifact_version(listed[:1], request).name == "other"  # type: ignore[union-attr]
    other_model = [{"id": "7", "name": "2", "definitionName": "churn_model"}]
    assert match_artifact_version(other_model, request) is None


# --- YAML pipelines ---------------------------------------------------------------------------


async def test_run_pipeline_sends_the_template_parameters(client, fake):
    info = await client.create(deployment(PIPELINE))

    assert (info.run_id, info.name, info.status) == (1001, "deploy-dep-1", RunStatus.IN_PROGRESS)
    assert info.web_url == f"{fake.organization_url}/{PROJECT}/_build/results?buildId=1001"
    assert info.logs_url == info.web_url + "&view=logs"
    [post] = fake.requests_to("POST", "/pipelines/42/runs")
    assert post.json == {
        "templateParameters": {
            "modelName": "fraud_model",
            "modelVersion": "2",
            "modelSource": "ml-prod",
            "deploymentKey": "dep-1",
        }
    }


async def test_find_returns_the_run_created_before_a_crash(client, fake):
    request = deployment(PIPELINE)
    assert await client.find(request) is None

    created = await client.create(request)
    found = await client.find(request)

    assert found is not None
    assert found.run_id == created.run_id
    assert found.name == "deploy-dep-1"
    by_name = fake.requests_to("GET", "/build/builds")[-1].query
    assert by_name["buildNumber"] == "deploy-dep-1"
    assert by_name["definitions"] == "42"
    assert await client.find(deployment(PIPELINE, key="dep-2")) is None
    assert fake.runs_created == 1


async def test_find_scans_recent_runs_of_a_pipeline_without_the_name_line(client, fake):
    request = deployment(PIPELINE_WITHOUT_NAME)
    other = await client.create(deployment(PIPELINE_WITHOUT_NAME, key="other"))
    created = await client.create(request)

    found = await client.find(request)

    assert found is not None
    assert found.run_id == created.run_id != other.run_id
    scan = fake.requests_to("GET", "/build/builds")[-1].query
    assert "minTime" in scan
    assert "buildNumber" not in scan
    assert (await client.trigger(request)).run_id == created.run_id
    assert fake.runs_created == 2


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ("succeeded", RunStatus.SUCCEEDED),
        ("failed", RunStatus.FAILED),
        ("canceled", RunStatus.CANCELED),
        ("partiallySucceeded", RunStatus.PARTIALLY_SUCCEEDED),
    ],
)
async def test_run_status(client, fake, result, status):
    info = await client.create(deployment(PIPELINE))
    fake.advance(info.run_id)
    assert (await client.status(PIPELINE, info.run_id)).status is RunStatus.IN_PROGRESS

    fake.finish(info.run_id, result)

    assert (await client.status(PIPELINE, info.run_id)).status is status


async def test_a_found_run_that_has_not_started_is_queued(client, fake):
    await client.create(deployment(PIPELINE))

    found = await client.find(deployment(PIPELINE))

    assert found is not None
    assert found.status is RunStatus.QUEUED


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, DeployErrorCode.UNAUTHORIZED),
        (403, DeployErrorCode.FORBIDDEN),
        (404, DeployErrorCode.NOT_FOUND),
        (409, DeployErrorCode.INVALID),
        (429, DeployErrorCode.UNAVAILABLE),
        (500, DeployErrorCode.UNAVAILABLE),
        (503, DeployErrorCode.UNAVAILABLE),
    ],
)
async def test_statuses_map_to_codes(client, fake, status, code):
    fake.fail_next(status)

    with pytest.raises(DeployError) as caught:
        await client.create(deployment(PIPELINE))

    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.retryable is (code is DeployErrorCode.UNAVAILABLE)
    assert fake.runs_created == 0


async def test_retry_after_is_honoured_and_devops_messages_kept(client, fake):
    fake.fail_next(429, retry_after=17)

    with pytest.raises(DeployError) as caught:
        await client.status(PIPELINE, 1001)

    assert caught.value.retry_after == 17
    assert caught.value.detail.startswith("RequestBlockedException: TF400733")


@pytest.mark.slow
async def test_a_hanging_request_times_out_as_unavailable(fake, session):
    client = AzureDevOps(
        session, fake.organization_url, PROJECT, pat_auth(PAT), timeout=ClientTimeout(total=0.3)
    )
    fake.hang_next()

    started = time.monotonic()
    with pytest.raises(DeployError) as caught:
        await client.status(RELEASE, 1)

    assert caught.value.code is DeployErrorCode.UNAVAILABLE
    assert caught.value.retryable
    assert time.monotonic() - started < 2


async def test_a_closed_port_is_unavailable(session):
    client = AzureDevOps(session, "http://127.0.0.1:9/fabrikam", PROJECT, pat_auth(PAT))

    with pytest.raises(DeployError) as caught:
        await client.status(PIPELINE, 1)

    assert caught.value.code is DeployErrorCode.UNAVAILABLE


async def test_devops_refusals_are_invalid_and_carry_its_message(client, fake):
    fake.definitions[12]["variables"]["modelVersion"]["allowOverride"] = True
    await client.create(deployment(RELEASE, key="warm"))  # the definition is now cached
    fake.definitions[12]["variables"]["modelVersion"] = {"value": "x"}  # edited in DevOps

    with pytest.raises(DeployError) as caught:
        await client.create(deployment(RELEASE))

    assert caught.value.code is DeployErrorCode.INVALID
    assert "InvalidRequestException: Variable(s) modelVersion do not exist" in caught.value.detail
    assert len(caught.value.detail) <= 300
    # The refusal dropped the cached definition: the next attempt sends what is settable now.
    await client.create(deployment(RELEASE))
    assert fake.releases_created == 2


async def test_unknown_definition_pipeline_and_project_are_not_found(client, fake, session):
    for target in (Target(TargetKind.RELEASE, 99), Target(TargetKind.PIPELINE, 99)):
        with pytest.raises(DeployError) as caught:
            await client.create(deployment(target))
        assert caught.value.code is DeployErrorCode.NOT_FOUND
    elsewhere = AzureDevOps(session, fake.organization_url, "Other Project", pat_auth(PAT))
    with pytest.raises(DeployError) as caught:
        await elsewhere.status(PIPELINE, 1)
    assert "TF200016" in caught.value.detail


async def test_no_secret_in_any_error(fake, session):
    wrong = "wrong-pat-that-must-not-leak"
    client = AzureDevOps(session, fake.organization_url, PROJECT, pat_auth(wrong))
    header = base64.b64encode(f":{wrong}".encode()).decode()

    with pytest.raises(DeployError) as caught:
        await client.create(deployment(PIPELINE))

    assert caught.value.code is DeployErrorCode.UNAUTHORIZED
    texts = [str(caught.value), repr(caught.value), caught.value.detail, repr(pat_auth(wrong))]
    for text in texts:
        assert wrong not in text
        assert header not in text
        assert PAT not in text


async def test_a_secret_echoed_by_the_server_is_scrubbed(session):
    pat = "echoed-pat-0123456789"

    async def echo(request: web.Request) -> web.Response:
        message = f"bad header {request.headers['Authorization']} for {pat}"
        return web.json_response({"message": message, "typeKey": "Echo"}, status=400)

    detail = await _answer_from(session, echo, pat)
    assert pat not in detail
    assert "Basic" not in detail.replace("bad header ***", "")


async def test_a_sign_in_page_means_unauthorized_and_garbage_is_unavailable(session):
    async def sign_in(_request: web.Request) -> web.Response:
        return web.Response(status=203, text="<html>Sign in</html>", content_type="text/html")

    async def garbage(_request: web.Request) -> web.Response:
        return web.Response(status=200, text="<html>proxy</html>", content_type="text/html")

    async def wrong_shape(_request: web.Request) -> web.Response:
        return web.json_response(["not", "a", "run"])

    assert await _code_from(session, sign_in) is DeployErrorCode.UNAUTHORIZED
    assert await _code_from(session, garbage) is DeployErrorCode.UNAVAILABLE
    assert await _code_from(session, wrong_shape) is DeployErrorCode.INVALID


async def _error_from(session: ClientSession, handler: Any, pat: str = PAT) -> DeployError:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        client = AzureDevOps(session, str(server.make_url("/org")), "p", pat_auth(pat))
        with pytest.raises(DeployError) as caught:
            await client.status(PIPELINE, 1)
    return caught.value


async def _code_from(session: ClientSession, handler: Any) -> DeployErrorCode:
    return (await _error_from(session, handler)).code


async def _answer_from(session: ClientSession, handler: Any, pat: str) -> str:
    return (await _error_from(session, handler, pat)).detail


# --- Entra tokens -----------------------------------------------------------------------------


async def test_entra_tokens_are_cached_until_five_minutes_before_expiry(fake, session):
    credential = FakeAsyncCredential()
    client = AzureDevOps(session, fake.organization_url, PROJECT, entra_auth(credential))  # type: ignore[arg-type]

    await client.create(deployment(PIPELINE))
    await client.find(deployment(PIPELINE))

    assert credential.scopes == [(DEVOPS_SCOPE,)]
    assert {r.authorization for r in fake.requests} == {f"Bearer {BEARER}"}
    short = FakeAsyncCredential(lifetime=200)
    client = AzureDevOps(session, fake.organization_url, PROJECT, entra_auth(short))  # type: ignore[arg-type]
    await client.status(PIPELINE, 1001)
    await client.status(PIPELINE, 1001)
    assert len(short.scopes) == 2


async def test_a_failing_credential_is_unauthorized(fake, session):
    credential = FakeAsyncCredential(error=ClientAuthenticationError("AADSTS700016: app not found"))
    client = AzureDevOps(session, fake.organization_url, PROJECT, entra_auth(credential))  # type: ignore[arg-type]

    with pytest.raises(DeployError) as caught:
        await client.status(PIPELINE, 1001)

    assert caught.value.code is DeployErrorCode.UNAUTHORIZED
    assert "AADSTS700016" in caught.value.detail
    assert fake.requests == []


def test_deployment_keys_are_checked():
    for key in ("", "a" * 65, "has space", "ends.", "slash/"):
        with pytest.raises(ValueError, match="deployment_key"):
            deployment(RELEASE, key=key)
    with pytest.raises(ValueError, match="timezone"):
        deployment(RELEASE, not_before=datetime(2026, 1, 1))


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


# --- Azure DevOps Server ---------------------------------------------------------------------


@pytest.fixture
async def server_2022_1() -> AsyncIterator[FakeDevOps]:
    """An Azure DevOps Server 2022.1 collection: everything, releases included, on one host."""
    async with FakeDevOps(collection="tfs/DefaultCollection") as devops:
        devops.add_release_definition(12, "fraud_model")
        devops.add_model_version(12, "_fraud_model", "fraud_model:2", "2")
        devops.add_pipeline(42, "deploy-fraud-model")
        yield devops


async def test_a_server_collection_url_serves_releases_and_pipeline_runs(server_2022_1, session):
    collection_url = f"{server_2022_1.root}/tfs/DefaultCollection"
    client = AzureDevOps(session, collection_url, PROJECT, pat_auth(PAT))

    release = await client.trigger(deployment(RELEASE, key="dep-7"))
    run = await client.trigger(deployment(PIPELINE, key="dep-8"))
    server_2022_1.advance()

    assert (await client.find(deployment(RELEASE, key="dep-7"))).run_id == release.run_id
    assert (await client.status(PIPELINE, run.run_id)).status is RunStatus.IN_PROGRESS
    paths = {r.path for r in server_2022_1.requests}
    assert f"/tfs/DefaultCollection/{PROJECT}/_apis/release/releases" in paths
    assert f"/tfs/DefaultCollection/{PROJECT}/_apis/pipelines/42/runs" in paths


@pytest.mark.parametrize("target", [RELEASE, PIPELINE])
async def test_a_server_that_speaks_only_7_0_is_named_and_not_retried(session, target):
    async with FakeDevOps(collection="tfs/DefaultCollection", server_api_version="7.0") as old:
        old.add_release_definition(12, "fraud_model")
        old.add_pipeline(42, "deploy-fraud-model")
        client = AzureDevOps(session, f"{old.root}/tfs/DefaultCollection", PROJECT, pat_auth(PAT))

        with pytest.raises(DeployError) as raised:
            await client.trigger(deployment(target))

    assert raised.value.code is DeployErrorCode.SERVER_TOO_OLD
    assert raised.value.detail == "REST API 7.0"
    assert not raised.value.retryable
    assert old.runs_created == 0
    assert old.releases_created == 0
