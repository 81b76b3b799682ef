"""A stateful loopback Azure DevOps: classic releases, YAML pipeline runs and the Build API.

Answers in the wire shapes of the official 7.1 specs (``shared/specs/azure-devops``), checks the
Authorization header (a PAT as Basic auth with any user name, or a bearer token) and the
api-version, and runs the marker logic of the real service: a run's name comes from the pipeline's
``name: deploy-${{ parameters.deploymentKey }}`` when the pipeline declares it. Runs and releases move
queued -> inProgress -> a result, by :meth:`FakeDevOps.advance` / :meth:`FakeDevOps.finish`, or on a
timer (the demo's, :mod:`demo.stack`); a run's web link opens a page (:mod:`fakes.devops_web`). No
pytest here.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from azure.core.credentials import AccessToken

from fakes import devops_web

PAT = "fake-devops-pat-9d2c"
BEARER = "fake-entra-token-41b7"
ORGANIZATION = "fabrikam"
PROJECT = "Fraud Detection"
MODEL_ARTIFACT_TYPE = "ms-air-aiagility.fake-azureml-model"
"""A made-up extension artifact type: the real AzureML one is unknown (notes §1.2)."""
RUN_NAME_TEMPLATE = "deploy-${{ parameters.deploymentKey }}"
FORBIDDEN_NAME_CHARACTERS = set("\"/:<>'\\|?@*")
RESULTS = ("succeeded", "failed", "canceled", "partiallySucceeded")


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    authorization: str | None
    at: float = 0.0
    """When it arrived (time.perf_counter), for the benchmarks."""


@dataclass
class Pipeline:
    """A YAML pipeline: its runtime parameters and whether its run name carries the key."""

    id: int
    name: str
    parameters: tuple[str, ...] = ("modelName", "modelVersion", "modelSource", "deploymentKey")
    run_name: str | None = RUN_NAME_TEMPLATE


@dataclass(frozen=True)
class Page:
    """One page of a list, and the continuation token of the next (sent as a header)."""

    body: Any
    token: str | None


@dataclass
class Injected:
    """Answers forced on the next requests."""

    failures: list[tuple[int, float | None]] = field(default_factory=list)
    hangs: int = 0
    silent_accepts: int = 0
    slow_commits: list[float] = field(default_factory=list)


def now() -> str:
    """The current time in the service's format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_body(message: str, type_key: str) -> dict[str, Any]:
    """An error in the shape Azure DevOps sends."""
    return {
        "$id": "1",
        "innerException": None,
        "message": message,
        "typeName": f"Microsoft.VisualStudio.Services.WebApi.{type_key}, Microsoft.VisualStudio.Services.WebApi",
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": 3000,
    }


class DevOpsError(Exception):
    """An error answer from a route handler."""

    def __init__(self, status: int, message: str, type_key: str) -> None:
        super().__init__(message)
        self.status, self.message, self.type_key = status, message, type_key


class FakeDevOps:
    """Azure DevOps on 127.0.0.1, with state, failure injection and request recording."""

    def __init__(
        self,
        *,
        pat: str | None = PAT,
        bearer: str | None = BEARER,
        step_seconds: float | None = None,
        outcome: str = "succeeded",
        port: int = 0,
        collection: str = ORGANIZATION,
        server_api_version: str = "7.1",
    ) -> None:
        """``collection``: the path of the organization (``tfs/DefaultCollection`` for an Azure
        DevOps Server); ``server_api_version``: the newest REST API it speaks (7.0: Server 2022)."""
        self.pat, self.bearer = pat, bearer
        self.collection, self.server_api_version = collection, server_api_version
        self.step_seconds, self.outcome, self.port = step_seconds, outcome, port
        self.definitions: dict[int, dict[str, Any]] = {}
        self.artifact_versions: dict[tuple[int, str], list[dict[str, Any]]] = {}
        self.pipelines: dict[int, Pipeline] = {}
        self.releases: dict[int, dict[str, Any]] = {}
        self.builds: dict[int, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.failing: set[tuple[str, str]] = set()
        """Model versions (name, version) whose runs and releases fail, whatever ``outcome``."""
        self.artifact_filters_match_nothing = False
        """Pretend the artifact filters of the releases list do not work for this artifact
        type (open question 3 of the notes)."""
        self._injected = Injected()
        self._release_ids = itertools.count(1)
        self._build_ids = itertools.count(1001)
        self._arrived = asyncio.Condition()
        self._closing = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        # The web pages the REST answers link to (``_links.web``), beside the REST routes.
        self.app.router.add_get("/{path:.+}/_build/results", self._build_web_page)
        self.app.router.add_get("/{path:.+}/_release", self._release_web_page)
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._routes = self._route_table()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> FakeDevOps:
        """Serve on 127.0.0.1 (a free port unless one was given)."""
        self._runner = web.AppRunner(self.app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.step_seconds:
            self._timer = asyncio.create_task(self._tick())
        return self

    async def close(self) -> None:
        """Stop serving; hanging requests are released."""
        self._closing.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeDevOps:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def root(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def organization_url(self) -> str:
        """The organization URL to give the client (the release API lives on the same host)."""
        return f"{self.root}/{self.collection}"

    # --- set-up ---------------------------------------------------------------------------------

    def add_release_definition(
        self,
        definition_id: int,
        model_name: str,
        *,
        alias: str | None = None,
        overridable: tuple[str, ...] = ("modelName", "modelVersion", "deploymentKey"),
        fixed: tuple[str, ...] = ("modelSource",),
        environments: tuple[str, ...] = ("Staging", "Production"),
        extra_artifacts: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A release definition whose model artifact is an AzureML-style extension artifact."""
        alias = alias or f"_{model_name}"
        variables = {name: {"value": "", "allowOverride": True} for name in overridable}
        variables |= {name: {"value": "fixed"} for name in fixed}
        artifact = {
            "sourceId": f"azureml-connection-1:{model_name}",
            "type": MODEL_ARTIFACT_TYPE,
            "alias": alias,
            "definitionReference": {
                "connection": {"id": "azureml-connection-1", "name": "ml-prod"},
                "definition": {"id": model_name, "name": model_name},
                "defaultVersionType": {"id": "latestType", "name": "Latest"},
            },
            "isPrimary": not extra_artifacts,
            "isRetained": False,
        }
        self.definitions[definition_id] = {
            "id": definition_id,
            "name": f"{model_name}.CD",
            "path": "\\",
            "revision": 3,
            "releaseNameFormat": "Release-$(rev:r)",
            "variables": variables,
            "variableGroups": [],
            "artifacts": [artifact, *(extra_artifacts or [])],
            "environments": [
                {"id": index + 1, "name": name, "rank": index + 1}
                for index, name in enumerate(environments)
            ],
            "url": f"{self.organization_url}/_apis/Release/definitions/{definition_id}",
        }
        self.artifact_versions[(definition_id, alias)] = []
        return self.definitions[definition_id]

    def add_model_version(
        self, definition_id: int, alias: str, version_id: str, name: str, **extra: Any
    ) -> None:
        """List one more version of an artifact (newest first, like the service)."""
        self.artifact_versions.setdefault((definition_id, alias), []).insert(
            0, {"id": version_id, "name": name, **extra}
        )

    def add_pipeline(self, pipeline_id: int, name: str, **options: Any) -> Pipeline:
        """A YAML pipeline; ``run_name=None`` for one without the ``name:`` line."""
        self.pipelines[pipeline_id] = Pipeline(pipeline_id, name, **options)
        return self.pipelines[pipeline_id]

    # --- control --------------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` (and Retry-After, if given)."""
        self._injected.failures += [(status, retry_after)] * count

    def accept_then_hang(self, count: int = 1) -> None:
        """Carry out the next ``count`` POSTs (a release or run is created) but never answer
        them: the client cannot know that Azure DevOps accepted."""
        self._injected.silent_accepts += count

    def commit_slowly(self, seconds: float, count: int = 1) -> None:
        """Carry out the next ``count`` POSTs (a release or run is created) only ``seconds`` after
        they arrive, then answer them: until then no search finds the new run, and a client that
        stops waiting first cannot know that it will exist."""
        self._injected.slow_commits += [seconds] * count

    def hang_next(self, count: int = 1) -> None:
        """Never answer the next ``count`` requests (until the fake closes)."""
        self._injected.hangs += count

    @property
    def releases_created(self) -> int:
        """How many releases were created."""
        return len(self.releases)

    @property
    def runs_created(self) -> int:
        """How many pipeline runs were created."""
        return len(self.builds)

    def requests_to(self, method: str, suffix: str) -> list[Recorded]:
        """The recorded requests with this method whose path ends with ``suffix``."""
        return [
            r
            for r in self.requests
            if r.method == method and r.path.lower().endswith(suffix.lower())
        ]

    async def wait_for_requests(self, count: int, within: float = 5.0) -> None:
        """Wait until ``count`` requests have arrived."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)

    async def wait_for_requests_to(
        self, method: str, suffix: str, count: int, within: float = 10.0
    ) -> None:
        """Wait until ``count`` requests with this method and path suffix have arrived."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests_to(method, suffix)) >= count)

    def advance(self, run_id: int | None = None) -> None:
        """Move one run or release (or all unfinished ones) one step toward ``outcome``."""
        for release_id in [run_id] if run_id else list(self.releases):
            if release_id in self.releases:
                release = self.releases[release_id]
                self._step_release(release, self._result_for(release["variables"]))
        for build_id in [run_id] if run_id else list(self.builds):
            if build_id in self.builds:
                build = self.builds[build_id]
                self._step_build(build, self._result_for(build["templateParameters"]))

    def _result_for(self, parameters: dict[str, Any]) -> str:
        """``outcome``, unless the model version given by the run's parameters or the release's
        variables is one of the ``failing``."""
        values = {k: v["value"] if isinstance(v, dict) else v for k, v in parameters.items()}
        key = (str(values.get("modelName")), str(values.get("modelVersion")))
        return "failed" if key in self.failing else self.outcome

    def finish(self, run_id: int, result: str) -> None:
        """Complete a run or release with ``result`` (succeeded, failed, canceled, partiallySucceeded)."""
        if result not in RESULTS:
            raise ValueError(f"result must be one of {RESULTS}")
        if run_id in self.releases:
            release = self.releases[run_id]
            while not self._release_done(release):
                self._step_release(release, result, at_once=True)
        elif run_id in self.builds:
            self.builds[run_id] |= {"status": "completed", "result": result, "finishTime": now()}
        else:
            raise KeyError(run_id)

    def await_approval(self, release_id: int) -> None:
        """Hold the release's current stage on a pending pre-deployment approval."""
        stage = self._current_stage(self.releases[release_id])
        if stage is not None:
            stage["status"] = "inProgress"
            stage["deploySteps"] = [
                {"id": 1, "attempt": 1, "status": "inProgress", "operationStatus": "pending"}
            ]

    async def _tick(self) -> None:
        assert self.step_seconds
        while True:
            await asyncio.sleep(self.step_seconds)
            self.advance()

    # --- progress -------------------------------------------------------------------------------

    @staticmethod
    def _current_stage(release: dict[str, Any]) -> dict[str, Any] | None:
        return next(
            (s for s in release["environments"] if s["status"] in ("queued", "inProgress")), None
        )

    @staticmethod
    def _release_done(release: dict[str, Any]) -> bool:
        stages = release["environments"]
        if any(s["status"] in ("rejected", "canceled") for s in stages):
            return True
        return all(s["status"] in ("succeeded", "partiallySucceeded") for s in stages)

    def _step_release(self, release: dict[str, Any], result: str, *, at_once: bool = False) -> None:
        if self._release_done(release):
            return
        stage = self._current_stage(release)
        if stage is None:
            return
        if stage["status"] == "queued" and not at_once:
            stage["status"] = "inProgress"
            stage["deploySteps"] = [
                {
                    "id": 1,
                    "attempt": 1,
                    "status": "inProgress",
                    "operationStatus": "phaseInProgress",
                }
            ]
            return
        final = {"failed": "rejected"}.get(result, result)
        stage["status"] = final
        step = {"succeeded": "succeeded", "partiallySucceeded": "partiallySucceeded"}.get(
            final, "failed"
        )
        operation = {"rejected": "phaseFailed", "canceled": "canceled"}.get(final, "approved")
        stage["deploySteps"] = [
            {"id": 1, "attempt": 1, "status": step, "operationStatus": operation}
        ]
        later = [s for s in release["environments"] if s["status"] == "notStarted"]
        if final in ("succeeded", "partiallySucceeded") and later:
            later[0]["status"] = "queued"

    @staticmethod
    def _step_build(build: dict[str, Any], result: str) -> None:
        if build["status"] == "notStarted":
            build |= {"status": "inProgress", "startTime": now()}
        elif build["status"] == "inProgress":
            build |= {"status": "completed", "result": result, "finishTime": now()}

    # --- web pages ----------------------------------------------------------------------------

    async def _build_web_page(self, request: web.Request) -> web.Response:
        build = self.builds.get(_number(request.query.get("buildId")))
        if build is None:
            return devops_web.not_found("Run")
        return devops_web.build_page(build, logs=request.query.get("view") == "logs")

    async def _release_web_page(self, request: web.Request) -> web.Response:
        release = self.releases.get(_number(request.query.get("releaseId")))
        if release is None:
            return devops_web.not_found("Release")
        return devops_web.release_page(release, logs=request.query.get("_a") == "release-logs")

    # --- dispatch -------------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Any]]:
        project = r"/(?P<org>.+?)/(?P<project>[^/]+)/_apis/"
        table = [
            ("GET", r"release/definitions/(?P<id>\d+)", self._get_definition),
            ("GET", r"release/artifacts/versions", self._get_artifact_versions),
            ("POST", r"release/releases", self._create_release),
            ("GET", r"release/releases", self._list_releases),
            ("GET", r"release/releases/(?P<id>\d+)", self._get_release),
            ("POST", r"pipelines/(?P<id>\d+)/runs", self._run_pipeline),
            ("GET", r"pipelines/(?P<id>\d+)/runs/(?P<run>\d+)", self._get_run),
            ("GET", r"build/builds", self._list_builds),
            ("GET", r"build/builds/(?P<id>\d+)", self._get_build),
        ]
        return [(m, re.compile(project + p + "/?", re.IGNORECASE), h) for m, p, h in table]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        async with self._arrived:
            self.requests.append(
                Recorded(
                    request.method,
                    request.path,
                    dict(request.query),
                    body,
                    request.headers.get("Authorization"),
                    time.perf_counter(),
                )
            )
            self._arrived.notify_all()
        if self._injected.hangs:
            self._injected.hangs -= 1
            await self._closing.wait()
            return web.Response(status=503)
        if self._injected.failures:
            return self._injected_failure(*self._injected.failures.pop(0))
        if request.method == "POST" and self._injected.slow_commits:
            await asyncio.sleep(self._injected.slow_commits.pop(0))
        try:
            answer = self._answer(request, body)
        except DevOpsError as error:
            return web.json_response(error_body(error.message, error.type_key), status=error.status)
        if request.method == "POST" and self._injected.silent_accepts:
            self._injected.silent_accepts -= 1
            await self._closing.wait()
            return web.Response(status=503)
        if isinstance(answer, Page):
            headers = {"x-ms-continuationtoken": answer.token} if answer.token else None
            return web.json_response(answer.body, headers=headers)
        return web.json_response(answer)

    @staticmethod
    def _injected_failure(status: int, retry_after: float | None) -> web.Response:
        headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
        messages = {
            401: (
                "Access Denied: the Personal Access Token used has expired.",
                "UnauthorizedRequestException",
            ),
            403: (
                "VS402904: Access denied: User does not have Create releases permission.",
                "AccessCheckException",
            ),
            404: (
                "VS402881: No release definition found with id 1.",
                "ReleaseDefinitionNotFoundException",
            ),
            429: (
                "TF400733: The request has been canceled: rate limited.",
                "RequestBlockedException",
            ),
        }
        message, key = messages.get(status, (f"Injected failure {status}.", "InjectedException"))
        return web.json_response(error_body(message, key), status=status, headers=headers)

    def _answer(self, request: web.Request, body: Any) -> Any:
        self._check_auth(request.headers.get("Authorization"))
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                self._check_target(match, request)
                return handler(match, request.query, body)
        raise DevOpsError(
            404, f"No route for {request.method} {request.path}.", "NotFoundException"
        )

    def _check_auth(self, header: str | None) -> None:
        scheme, _, credential = (header or "").partition(" ")
        if scheme == "Basic" and self.pat is not None:
            decoded = base64.b64decode(credential).decode(errors="replace")
            if decoded.partition(":")[2] == self.pat:
                return
        if scheme == "Bearer" and self.bearer is not None and credential == self.bearer:
            return
        raise DevOpsError(
            401,
            "TF400813: The user is not authorized to access this resource.",
            "UnauthorizedRequestException",
        )

    def _check_target(self, match: re.Match[str], request: web.Request) -> None:
        if match["org"] != self.collection or match["project"] != PROJECT:
            raise DevOpsError(
                404,
                f"TF200016: The following project does not exist: {match['project']}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server.",
                "ProjectDoesNotExistException",
            )
        version = request.query.get("api-version")
        if not version:
            raise DevOpsError(
                400,
                f'No api-version was supplied for the "{request.method}" request. The version must be supplied either as part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter (e.g. "?api-version=1.0").',
                "VssVersionNotSpecifiedException",
            )
        if _numeric(version) > _numeric(self.server_api_version):
            raise DevOpsError(
                400,
                f"The requested REST API version of {version} is out of range for this server. The latest REST API version this server supports is {self.server_api_version}.",
                "VssVersionOutOfRangeException",
            )
        if "artifacts/versions" in request.path.lower() and "-preview" not in version:
            raise DevOpsError(
                400,
                f"The requested REST API version of {version} is out of range for this server. The latest REST API version this server supports is 7.1-preview.1. A preview flag must be supplied.",
                "VssInvalidPreviewVersionException",
            )

    # --- releases -------------------------------------------------------------------------------

    def _definition(self, definition_id: int) -> dict[str, Any]:
        if definition_id not in self.definitions:
            raise DevOpsError(
                404,
                f"VS402881: No release definition found with id {definition_id}.",
                "ReleaseDefinitionNotFoundException",
            )
        return self.definitions[definition_id]

    def _get_definition(self, match: re.Match[str], _query: Any, _body: Any) -> Any:
        return self._definition(int(match["id"]))

    def _get_artifact_versions(self, _match: re.Match[str], query: Any, _body: Any) -> Any:
        definition = self._definition(int(query.get("releaseDefinitionId", "0")))
        entries = []
        for artifact in definition["artifacts"]:
            versions = self.artifact_versions.get((definition["id"], artifact["alias"]), [])
            entries.append(
                {
                    "alias": artifact["alias"],
                    "sourceId": artifact["sourceId"],
                    "artifactType": artifact["type"],
                    "defaultVersion": versions[0] if versions else None,
                    "versions": versions,
                    "errorMessage": None,
                }
            )
        return {"artifactVersions": entries}

    def _create_release(self, _match: re.Match[str], _query: Any, body: Any) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("definitionId"), int):
            raise DevOpsError(
                400,
                "VS402982: A definition id is required to create a release.",
                "InvalidRequestException",
            )
        definition = self._definition(body["definitionId"])
        variables = self._release_variables(definition, body.get("variables"))
        artifacts = [self._release_artifact(definition, a) for a in body.get("artifacts") or []]
        release_id = next(self._release_ids)
        stages = [
            {
                "id": release_id * 100 + stage["id"],
                "releaseId": release_id,
                "name": stage["name"],
                "status": "queued" if index == 0 else "notStarted",
                "rank": stage["rank"],
                "definitionEnvironmentId": stage["id"],
                "deploySteps": [],
                "conditions": (
                    [
                        {
                            "name": "ReleaseStarted",
                            "conditionType": "event",
                            "value": "",
                            "result": True,
                        }
                    ]
                    if index == 0
                    else [
                        {
                            "name": definition["environments"][index - 1]["name"],
                            "conditionType": "environmentState",
                            "value": "4",
                            "result": False,
                        }
                    ]
                ),
            }
            for index, stage in enumerate(definition["environments"])
        ]
        release = {
            "id": release_id,
            "name": f"Release-{release_id}",
            "status": "active",
            "createdOn": now(),
            "modifiedOn": now(),
            "description": body.get("description") or "",
            "reason": body.get("reason", "none"),
            "releaseDefinition": {"id": definition["id"], "name": definition["name"]},
            "artifacts": artifacts,
            "variables": variables,
            "environments": stages,
            "properties": body.get("properties") or {},
            "tags": [],
            "url": f"{self.organization_url}/{PROJECT}/_apis/Release/releases/{release_id}",
            "_links": {
                "self": {
                    "href": f"{self.organization_url}/{PROJECT}/_apis/Release/releases/{release_id}"
                },
                "web": {
                    "href": f"{self.organization_url}/{PROJECT}/_release?releaseId={release_id}&_a=release-summary"
                },
            },
        }
        self.releases[release_id] = release
        return release

    @staticmethod
    def _release_variables(definition: dict[str, Any], sent: Any) -> dict[str, Any]:
        if sent is None:
            sent = {}
        if not isinstance(sent, dict):
            raise DevOpsError(
                400, "Value cannot be null. Parameter name: variables", "ArgumentNullException"
            )
        declared = {name.lower(): value for name, value in definition["variables"].items()}
        refused = [n for n in sent if not declared.get(n.lower(), {}).get("allowOverride")]
        if refused:
            raise DevOpsError(
                400,
                f"Variable(s) {', '.join(refused)} do not exist in the release pipeline at scope: Release. Variables which are not defined in the release pipeline or marked settable at release time cannot be set.",
                "InvalidRequestException",
            )
        variables: dict[str, Any] = definition["variables"]
        return variables | {
            name: {"value": value["value"], "allowOverride": True} for name, value in sent.items()
        }

    def _release_artifact(self, definition: dict[str, Any], sent: Any) -> dict[str, Any]:
        alias: str = sent.get("alias", "") if isinstance(sent, dict) else ""
        artifact = next((a for a in definition["artifacts"] if a["alias"] == alias), None)
        reference = sent.get("instanceReference") if isinstance(sent, dict) else None
        if artifact is None or not isinstance(reference, dict):
            raise DevOpsError(
                400,
                f"VS402962: Artifact {alias} is not linked to the release pipeline.",
                "InvalidRequestException",
            )
        listed = self.artifact_versions.get((definition["id"], alias), [])
        version = next((v for v in listed if v["id"] == reference.get("id")), None)
        if version is None:
            raise DevOpsError(
                400,
                f"VS402884: Version {reference.get('id')} of artifact {alias} was not found.",
                "InvalidRequestException",
            )
        linked: dict[str, Any] = artifact | {
            "definitionReference": artifact["definitionReference"]
            | {"version": {"id": version["id"], "name": version["name"]}}
        }
        return linked

    def _list_releases(self, _match: re.Match[str], query: Any, _body: Any) -> Any:
        releases = list(self.releases.values())
        if "definitionId" in query:
            releases = [
                r for r in releases if r["releaseDefinition"]["id"] == int(query["definitionId"])
            ]
        if "minCreatedTime" in query:
            releases = [
                r for r in releases if _parse(r["createdOn"]) >= _parse(query["minCreatedTime"])
            ]
        if "maxCreatedTime" in query:
            releases = [
                r for r in releases if _parse(r["createdOn"]) <= _parse(query["maxCreatedTime"])
            ]
        if "searchText" in query:
            releases = [r for r in releases if query["searchText"].lower() in r["name"].lower()]
        releases = [r for r in releases if self._artifact_filter(r, query)]
        releases.sort(
            key=lambda r: r["id"], reverse=query.get("queryOrder", "descending") == "descending"
        )
        wanted = set(filter(None, query.get("propertyFilters", "").split(",")))
        shallow = [
            {
                k: v
                for k, v in r.items()
                if k not in ("environments", "variables", "artifacts", "properties")
            }
            | {"properties": {k: v for k, v in r["properties"].items() if k in wanted}}
            for r in releases
        ]
        return self._page(shallow, query, "$top", 50)

    def _artifact_filter(self, release: dict[str, Any], query: Any) -> bool:
        keys = ("artifactTypeId", "sourceId", "artifactVersionId")
        if not any(k in query for k in keys):
            return True
        if self.artifact_filters_match_nothing:
            return False
        return any(
            query.get("artifactTypeId", a["type"]) == a["type"]
            and query.get("sourceId", a["sourceId"]) == a["sourceId"]
            and query.get("artifactVersionId", a["definitionReference"]["version"]["id"])
            == a["definitionReference"]["version"]["id"]
            for a in release["artifacts"]
        )

    def _get_release(self, match: re.Match[str], _query: Any, _body: Any) -> Any:
        release_id = int(match["id"])
        if release_id not in self.releases:
            raise DevOpsError(
                404,
                f"VS402852: Release with id {release_id} does not exist.",
                "ReleaseNotFoundException",
            )
        return self.releases[release_id]

    # --- pipelines and builds -------------------------------------------------------------------

    def _pipeline(self, pipeline_id: int) -> Pipeline:
        if pipeline_id not in self.pipelines:
            raise DevOpsError(
                404, f"Pipeline with id {pipeline_id} not found.", "PipelineNotFoundException"
            )
        return self.pipelines[pipeline_id]

    def _run_pipeline(self, match: re.Match[str], _query: Any, body: Any) -> Any:
        pipeline = self._pipeline(int(match["id"]))
        parameters = (body or {}).get("templateParameters") or {}
        for name in parameters:
            if name not in pipeline.parameters:
                raise DevOpsError(
                    400, f"Unexpected parameter '{name}'", "PipelineValidationException"
                )
        for name in pipeline.parameters:
            if name not in parameters:
                raise DevOpsError(
                    400,
                    f"A value for the '{name}' parameter must be provided.",
                    "PipelineValidationException",
                )
        build_id = next(self._build_ids)
        name = self._run_name(pipeline, parameters, build_id)
        self.builds[build_id] = {
            "id": build_id,
            "buildNumber": name,
            "status": "notStarted",
            "queueTime": now(),
            "reason": "manual",
            "definition": {"id": pipeline.id, "name": pipeline.name, "type": "build"},
            "templateParameters": dict(parameters),
            "url": f"{self.organization_url}/{PROJECT}/_apis/build/Builds/{build_id}",
            "_links": {
                "web": {
                    "href": f"{self.organization_url}/{PROJECT}/_build/results?buildId={build_id}"
                }
            },
        }
        return self._as_run(self.builds[build_id])

    @staticmethod
    def _run_name(pipeline: Pipeline, parameters: dict[str, str], build_id: int) -> str:
        if pipeline.run_name is None:
            return f"{datetime.now(UTC):%Y%m%d}.{build_id}"
        name = re.sub(
            r"\$\{\{\s*parameters\.(\w+)\s*\}\}",
            lambda m: str(parameters.get(m[1], "")),
            pipeline.run_name,
        )
        if len(name) > 255 or name.endswith(".") or FORBIDDEN_NAME_CHARACTERS & set(name):
            raise DevOpsError(
                400,
                f"TF209010: The build number format {name} contains invalid character(s), is too long, or ends with '.'.",
                "BuildNumberFormatException",
            )
        return name

    def _as_run(self, build: dict[str, Any]) -> dict[str, Any]:
        pipeline = build["definition"]
        pipeline_url = (
            f"{self.organization_url}/{PROJECT}/_apis/pipelines/{pipeline['id']}?revision=1"
        )
        url = (
            f"{self.organization_url}/{PROJECT}/_apis/pipelines/{pipeline['id']}/runs/{build['id']}"
        )
        run = {
            "id": build["id"],
            "name": build["buildNumber"],
            "state": {"notStarted": "inProgress", "cancelling": "canceling"}.get(
                build["status"], build["status"]
            ),
            "createdDate": build["queueTime"],
            "templateParameters": build["templateParameters"],
            "pipeline": {
                "url": pipeline_url,
                "id": pipeline["id"],
                "revision": 1,
                "name": pipeline["name"],
                "folder": "\\",
            },
            "url": url,
            "_links": {
                "self": {"href": url},
                "web": build["_links"]["web"],
                "pipeline.web": {
                    "href": f"{self.organization_url}/{PROJECT}/_build/definition?definitionId={pipeline['id']}"
                },
                "pipeline": {"href": pipeline_url},
            },
        }
        if build["status"] == "completed":
            # Run.result has no partiallySucceeded (notes §3.2); what the service sends is unverified.
            result = build["result"] if build["result"] != "partiallySucceeded" else "unknown"
            run |= {"result": result, "finishedDate": build["finishTime"]}
        return run

    def _get_run(self, match: re.Match[str], _query: Any, _body: Any) -> Any:
        self._pipeline(int(match["id"]))
        build = self.builds.get(int(match["run"]))
        if build is None or build["definition"]["id"] != int(match["id"]):
            raise DevOpsError(404, f"Run {match['run']} not found.", "PipelineRunNotFoundException")
        return self._as_run(build)

    def _list_builds(self, _match: re.Match[str], query: Any, _body: Any) -> Any:
        builds = list(self.builds.values())
        if "definitions" in query:
            wanted = {int(d) for d in query["definitions"].split(",")}
            builds = [b for b in builds if b["definition"]["id"] in wanted]
        if "buildNumber" in query:
            number = query["buildNumber"]
            if number.endswith("*"):
                builds = [b for b in builds if b["buildNumber"].startswith(number[:-1])]
            else:
                builds = [b for b in builds if b["buildNumber"] == number]
        if "minTime" in query:
            builds = [b for b in builds if _parse(b["queueTime"]) >= _parse(query["minTime"])]
        builds.sort(key=lambda b: b["id"], reverse=query.get("queryOrder") != "queueTimeAscending")
        return self._page(builds, query, "$top", 1000)

    def _get_build(self, match: re.Match[str], _query: Any, _body: Any) -> Any:
        build_id = int(match["id"])
        if build_id not in self.builds:
            raise DevOpsError(
                404, f"TF215086: The build {build_id} does not exist.", "BuildNotFoundException"
            )
        return self.builds[build_id]

    @staticmethod
    def _page(items: list[Any], query: Any, top_key: str, default_top: int) -> Any:
        start = int(query.get("continuationToken", "0") or 0)
        top = int(query.get(top_key, default_top))
        page = items[start : start + top]
        more = start + top < len(items)
        return Page({"count": len(page), "value": page}, str(start + top) if more else None)


def _number(text: str | None) -> int:
    """A query's id, or 0 (no run or release has it) when it is not a number."""
    return int(text) if text and text.isascii() and text.isdigit() else 0


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _numeric(api_version: str) -> tuple[int, ...]:
    """``7.1-preview.1`` as (7, 1), for comparing api-versions."""
    return tuple(int(part) for part in re.findall(r"\d+", api_version.partition("-")[0]))


class FakeAsyncCredential:
    """An async azure-identity credential handing out tokens of a given lifetime."""

    def __init__(self, lifetime: int = 3600, error: Exception | None = None) -> None:
        self.lifetime, self.error = lifetime, error
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        return AccessToken(BEARER, int(time.time()) + self.lifetime)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> FakeAsyncCredential:
        return self

    async def __aexit__(self, *_args: object) -> None:
        pass
