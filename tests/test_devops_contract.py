"""Our real Azure DevOps requests pass the official 7.1 OpenAPI specs, validated by Prism.

Prism (npm ``@stoplight/prism-cli``, pinned in package-lock.json) mocks each spec with ``--errors``:
a request that breaks the spec gets 422 with the violations instead of an answer. The client talks
to Prism as it would to dev.azure.com (pipelines) and vsrm.dev.azure.com (releases): the spec paths
start with ``/{organization}/{project}/_apis``, so the organization URL is ``http://<prism>/fabrikam``.

The copies Prism serves are patched at test time, each patch for a known gap in the spec:
- the UTF-8 BOM is stripped (Prism cannot parse it), and so are the ``x-ms-examples`` file references;
- ``GET .../release/releases/{releaseId}`` is "Get Release Revision" in ``paths`` (it requires
  ``definitionSnapshotRevision`` and answers text/plain, notes §3.1); the spec files the real
  "Get Release" under ``x-ms-paths`` (the same path plus ``?``), which Prism ignores: it is moved in;
- ``GET .../Release/artifacts/versions`` (api-version 7.1-preview.1) is not in the 7.1 spec; it is
  added with the spec's own ``ArtifactVersionQueryResult`` schema (route from azure-devops-extension-api);
- response examples are added (the spec's own httpExamples where they exist, without their nulls,
  which the schemas do not allow), so Prism answers with a model artifact and versions instead of
  generated "string" values;
- for the PAT tests, every operation also accepts the spec's ``accessToken`` (Basic) scheme: the
  operations declare only OAuth2, although the spec documents the PAT as Basic auth.
The Build API (``_apis/build/builds``, used by ``find`` for YAML runs) comes from build.json, which
we do not have, so the YAML ``find`` is not checked here (tests/test_devops_client.py covers it).
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, TraceConfig, TraceRequestEndParams

from bot.pipelines.azure_devops import AzureDevOps, entra_auth, pat_auth
from bot.pipelines.deployer import DeployError, DeploymentRequest
from domain.statuses import RunStatus
from domain.target import Target, TargetKind
from fakes.devops import FakeAsyncCredential
from fakes.ports import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PRISM = ROOT / "node_modules" / ".bin" / "prism"
SPECS = ROOT / "tests" / "contracts" / "azure-devops"
RELEASE_SPEC = SPECS / "release" / "7.1" / "release.json"
PIPELINES_SPEC = SPECS / "pipelines" / "7.1" / "pipelines.json"
ORGANIZATION, PROJECT = "fabrikam", "Fraud Detection"
RELEASES = "/{organization}/{project}/_apis/release/releases"
RELEASE = RELEASES + "/{releaseId}"
DEFINITION = "/{organization}/{project}/_apis/release/definitions/{definitionId}"
VERSIONS = "/{organization}/{project}/_apis/Release/artifacts/versions"
RUNS = "/{organization}/{project}/_apis/pipelines/{pipelineId}/runs"
RUN = RUNS + "/{runId}"
STARTUP_SECONDS = 60

MODEL_DEFINITION = {
    "id": 12,
    "name": "fraud_model.CD",
    "revision": 3,
    "variables": {
        "modelName": {"value": "", "allowOverride": True},
        "modelVersion": {"value": "", "allowOverride": True},
        "deploymentKey": {"value": "", "allowOverride": True},
        "modelSource": {"value": "fixed"},
    },
    "artifacts": [
        {
            "sourceId": "azureml-connection-1:fraud_model",
            "type": "ms-air-aiagility.fake-azureml-model",
            "alias": "_fraud_model",
            "isPrimary": True,
            "definitionReference": {"definition": {"id": "fraud_model", "name": "fraud_model"}},
        }
    ],
}
VERSIONS_LISTED = {
    "artifactVersions": [
        {
            "alias": "_fraud_model",
            "versions": [
                {"id": "fraud_model:2", "name": "2"},
                {"id": "fraud_model:1", "name": "1"},
            ],
        }
    ]
}
RUN_EXAMPLE = {
    "id": 1001,
    "name": "deploy-dep-1",
    "state": "inProgress",
    "createdDate": "2026-11-24T10:00:00Z",
    "pipeline": {"id": 42, "name": "deploy-fraud-model", "folder": "\\", "revision": 1},
    "url": "https://dev.azure.com/fabrikam/p/_apis/Pipelines/42/runs/1001",
    "_links": {"web": {"href": "https://dev.azure.com/fabrikam/p/_build/results?buildId=1001"}},
}


# --- specs and Prism ---------------------------------------------------------------------------


def load(spec: Path) -> dict[str, Any]:
    """A spec without its BOM and without ``x-ms-examples`` (file references Prism would chase)."""
    document = json.loads(spec.read_text(encoding="utf-8-sig"))
    for section in ("paths", "x-ms-paths"):
        for operations in document.get(section, {}).values():
            for operation in operations.values():
                if isinstance(operation, dict):
                    operation.pop("x-ms-examples", None)
    return document


def official_example(name: str) -> Any:
    path = RELEASE_SPEC.parent / "httpExamples" / "releases" / name
    return json.loads(path.read_text(encoding="utf-8-sig"))["responses"]["200"]["body"]


def answer_with(operation: dict[str, Any], example: Any) -> None:
    operation["responses"]["200"]["examples"] = {"application/json": without_nulls(example)}


def without_nulls(value: Any) -> Any:
    # The official examples hold nulls (projectReference.name) that the non-nullable schemas refuse.
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def patch_release_spec(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    paths = spec["paths"]
    # The real "Get Release" sits in x-ms-paths (the same path as "Get Release Revision").
    get_release = spec.pop("x-ms-paths")[RELEASE + "?"]["get"]
    paths[RELEASE]["get"] = get_release
    paths[VERSIONS] = {"get": artifact_versions_operation(paths[DEFINITION]["get"])}
    answer_with(get_release, official_example("GET__GetARelease.json"))
    answer_with(paths[RELEASES]["post"], official_example("POST__CreateARelease.json"))
    answer_with(paths[RELEASES]["get"], official_example("Query_ListAllReleases.json")["value"])
    answer_with(paths[DEFINITION]["get"], MODEL_DEFINITION)
    answer_with(paths[VERSIONS]["get"], VERSIONS_LISTED)
    return spec


def artifact_versions_operation(model: dict[str, Any]) -> dict[str, Any]:
    organization, project = model["parameters"][:2]
    return {
        "operationId": "Releases_Get Artifact Versions",
        "produces": ["application/json"],
        "parameters": [
            organization,
            project,
            {
                "in": "query",
                "name": "releaseDefinitionId",
                "required": True,
                "type": "integer",
                "format": "int32",
            },
            {"$ref": "#/parameters/api-Version"},
        ],
        "security": [{"oauth2": ["vso.release"]}],
        "responses": {
            "200": {
                "description": "ok",
                "schema": {"$ref": "#/definitions/ArtifactVersionQueryResult"},
            }
        },
    }


def patch_pipelines_spec(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    answer_with(spec["paths"][RUNS]["post"], RUN_EXAMPLE)
    answer_with(
        spec["paths"][RUN]["get"], RUN_EXAMPLE | {"state": "completed", "result": "succeeded"}
    )
    return spec


def accept_pat(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    assert spec["securityDefinitions"]["accessToken"]["type"] == "basic"
    for operations in spec["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict) and "security" in operation:
                operation["security"] = [*operation["security"], {"accessToken": []}]
    return spec


@dataclass
class Prism:
    url: str
    log: Path

    @property
    def organization_url(self) -> str:
        return f"{self.url}/{ORGANIZATION}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@dataclass
class Launch:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


def launch(spec: dict[str, Any], directory: Path) -> Launch:
    directory.mkdir(parents=True, exist_ok=True)
    document, log = directory / "spec.json", directory / "prism.log"
    document.write_text(json.dumps(spec), encoding="utf-8")
    port = free_port()
    command = [str(PRISM), "mock", str(document), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--errors", "--dynamic=false"]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
    return Launch(process, port, log)


def ready(launched: Launch) -> Prism:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if launched.process.poll() is not None:
            output = launched.log.read_text()[-4000:]
            pytest.fail(f"Prism exited with {launched.process.returncode}:\n{output}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", launched.port)) == 0:
                return Prism(f"http://127.0.0.1:{launched.port}", launched.log)
        time.sleep(0.1)
    pytest.fail(
        f"Prism did not listen within {STARTUP_SECONDS}s:\n{launched.log.read_text()[-4000:]}"
    )


def stop(launched: Launch) -> None:
    launched.process.terminate()
    try:
        launched.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        launched.process.kill()
        launched.process.wait()


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Launch]]:
    """Every Prism of this module, started at once (each takes seconds to start)."""
    if not PRISM.exists():
        pytest.fail(f"{PRISM} is missing: run `make test` (it runs `npm ci`) to install Prism")
    release = patch_release_spec(load(RELEASE_SPEC))
    specs = {
        "release": release,
        "release-pat": accept_pat(release),
        "pipelines": accept_pat(patch_pipelines_spec(load(PIPELINES_SPEC))),
    }
    launches: dict[str, Launch] = {}
    try:
        for name, spec in specs.items():
            launches[name] = launch(spec, tmp_path_factory.mktemp(name))
        yield launches
    finally:
        for started in launches.values():
            stop(started)


@pytest.fixture(scope="module")
def release_prism(launched: dict[str, Launch]) -> Prism:
    """The release 7.1 spec as published: OAuth2 (bearer tokens) only."""
    return ready(launched["release"])


@pytest.fixture(scope="module")
def release_prism_pat(launched: dict[str, Launch]) -> Prism:
    """The release 7.1 spec, its operations also accepting the PAT (Basic) scheme."""
    return ready(launched["release-pat"])


@pytest.fixture(scope="module")
def pipelines_prism(launched: dict[str, Launch]) -> Prism:
    """The pipelines 7.1 spec, its operations also accepting the PAT (Basic) scheme."""
    return ready(launched["pipelines"])


# --- the client against Prism ------------------------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    status: int


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[ClientSession, list[Exchange]]]:
    exchanges: list[Exchange] = []

    async def on_end(_session: Any, _context: Any, params: TraceRequestEndParams) -> None:
        exchanges.append(Exchange(params.method, params.url.path, params.response.status))

    trace = TraceConfig()
    trace.on_request_end.append(on_end)
    async with ClientSession(trace_configs=[trace]) as session:
        yield session, exchanges


def deployment(target: Target) -> DeploymentRequest:
    return DeploymentRequest(
        deployment_key="dep-1",
        target=target,
        model_name="fraud_model",
        model_version="2",
        source="ml-prod",
        requested_by="ada@contoso.com",
        not_before=datetime.now(UTC),
    )


@contextlib.contextmanager
def explained(prism: Prism) -> Iterator[None]:
    """On a refusal, fail with Prism's log, which names the violations."""
    try:
        yield
    except DeployError as error:
        pytest.fail(f"{error}\n{prism.tail()}")


def assert_valid(exchanges: list[Exchange], prism: Prism, count: int) -> None:
    refused = [e for e in exchanges if e.status >= 400]
    assert not refused, f"Prism refused {refused}:\n{prism.tail()}"
    assert len(exchanges) == count, exchanges


RELEASE_TARGET = Target(TargetKind.RELEASE, 12)
PIPELINE_TARGET = Target(TargetKind.PIPELINE, 42)


def release_client(session: ClientSession, prism: Prism, auth: Any) -> AzureDevOps:
    return AzureDevOps(
        session, prism.organization_url, PROJECT, auth, release_url=prism.organization_url
    )


async def test_release_requests_with_a_pat_pass_the_spec(release_prism_pat, recorded):
    session, exchanges = recorded
    client = release_client(session, release_prism_pat, pat_auth("prism-pat"))

    with explained(release_prism_pat):
        created = await client.create(deployment(RELEASE_TARGET))
        await client.find(deployment(RELEASE_TARGET))
        status = await client.status(RELEASE_TARGET, created.run_id)

    # definition, versions, create; versions again (cached definition), filtered list, list; get
    assert_valid(exchanges, release_prism_pat, 7)
    assert created.run_id == 19  # the spec's own example answers
    assert status.run_id == 18


async def test_release_requests_with_an_entra_token_pass_the_spec(release_prism, recorded):
    session, exchanges = recorded
    client = release_client(session, release_prism, entra_auth(FakeAsyncCredential()))  # type: ignore[arg-type]

    with explained(release_prism):
        await client.create(deployment(RELEASE_TARGET))
        await client.status(RELEASE_TARGET, 18)

    assert_valid(exchanges, release_prism, 4)


async def test_pipeline_requests_pass_the_spec(pipelines_prism, recorded):
    session, exchanges = recorded
    client = AzureDevOps(session, pipelines_prism.organization_url, PROJECT, pat_auth("prism-pat"))

    with explained(pipelines_prism):
        created = await client.create(deployment(PIPELINE_TARGET))
        status = await client.status(PIPELINE_TARGET, created.run_id)

    assert_valid(exchanges, pipelines_prism, 2)
    assert status.status is RunStatus.SUCCEEDED


async def test_prism_refuses_a_request_that_breaks_the_spec(release_prism_pat, pipelines_prism):
    """The check can fail: wrong requests get 422 with the violations."""
    releases = f"{release_prism_pat.organization_url}/{PROJECT}/_apis/release/releases"
    runs = f"{pipelines_prism.organization_url}/{PROJECT}/_apis/pipelines/42/runs"
    auth = {"Authorization": "Basic OnByaXNtLXBhdA=="}
    wrong = [
        # variables as an array (vsts-rest-api-specs#331) and a reason that does not exist
        (
            "POST",
            releases,
            {"api-version": "7.1"},
            {"definitionId": 12, "reason": "approved", "variables": []},
        ),
        (
            "GET",
            releases,
            {"api-version": "7.1", "queryOrder": "newestFirst", "$top": "many"},
            None,
        ),
        ("POST", runs, {}, {"templateParameters": {"deploymentKey": "dep-1"}}),  # no api-version
        ("POST", runs, {"api-version": "7.1"}, {"templateParameters": ["dep-1"]}),
    ]
    async with ClientSession() as session:
        for method, url, params, body in wrong:
            async with session.request(
                method, url, params=params, json=body, headers=auth
            ) as response:
                problem = await response.json(content_type=None)
                assert response.status == 422, (method, url, problem)
                assert problem["validation"], problem


async def test_prism_refuses_a_pat_where_the_spec_wants_oauth(release_prism):
    url = f"{release_prism.organization_url}/{PROJECT}/_apis/release/definitions/12"
    async with ClientSession() as session:
        basic = {"Authorization": "Basic OnByaXNtLXBhdA=="}
        async with session.get(url, params={"api-version": "7.1"}, headers=basic) as response:
            assert response.status == 401
