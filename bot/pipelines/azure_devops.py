"""Azure DevOps REST 7.1 over aiohttp: classic releases and YAML pipeline runs.

Follows ``shared/design/AZURE-DEVOPS-NOTES.md``. Every request carries our deployment key as a
marker that a later :meth:`AzureDevOps.find` recognises: the release ``description`` (plus a
release property), or the YAML run name ``deploy-<key>`` and its ``deploymentKey`` parameter.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import aiohttp
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError

from bot.metrics import DEVOPS_REQUEST_SECONDS
from bot.network import network_problem
from bot.pipelines.deployer import DeployError, DeployErrorCode, DeploymentRequest, RunInfo
from bot.retrying import retry_after
from domain.statuses import RunStatus
from domain.target import Target, TargetKind

log = logging.getLogger(__name__)

DEVOPS_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"
"""The Entra scope of Azure DevOps (its well-known resource id)."""
MARKER = "model-release-bot"
PROPERTY = "ModelReleaseBot.DeploymentId"
RUN_NAME_PREFIX = "deploy-"
ARTIFACT_VERSIONS_API = "7.1-preview.1"
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
DEFINITION_TTL = 300.0
SEARCH_MARGIN = timedelta(minutes=10)
PAGE_SIZE = 50
MAX_PAGES = 20
DETAIL_LIMIT = 300
TOKEN_REFRESH_MARGIN = 300
CONTINUATION = "x-ms-continuationtoken"
VERSION_OUT_OF_RANGE = "VssVersionOutOfRangeException"
"""What a server answers to an api-version newer than it knows (Azure DevOps Server 2022: 7.0)."""

# Status flags of a release environment, as used by environmentState trigger conditions.
ENVIRONMENT_FLAGS = {
    "notStarted": 1,
    "inProgress": 2,
    "succeeded": 4,
    "canceled": 8,
    "rejected": 16,
    "queued": 32,
    "scheduled": 64,
    "partiallySucceeded": 128,
}
FINAL_ENVIRONMENT = frozenset({"succeeded", "partiallySucceeded", "canceled", "rejected"})


# --- authentication ------------------------------------------------------------------------------


class DevOpsAuth(Protocol):
    """Where the Authorization header comes from."""

    async def header(self) -> str:
        """The Authorization header value for the next request."""
        ...


class _PatAuth:
    def __init__(self, pat: str) -> None:
        self._header = "Basic " + base64.b64encode(f":{pat}".encode()).decode()

    async def header(self) -> str:
        return self._header

    def __repr__(self) -> str:
        return "pat_auth(***)"


def pat_auth(pat: str) -> DevOpsAuth:
    """A personal access token: Basic auth with an empty user name."""
    if not pat:
        raise ValueError("the PAT is empty")
    return _PatAuth(pat)


class _EntraAuth:
    def __init__(self, credential: AsyncTokenCredential) -> None:
        self._credential = credential
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    async def header(self) -> str:
        async with self._lock:
            if self._token is None or time.time() >= self._expires_on - TOKEN_REFRESH_MARGIN:
                await self._refresh()
            return f"Bearer {self._token}"

    async def _refresh(self) -> None:
        try:
            token = await self._credential.get_token(DEVOPS_SCOPE)
        except ClientAuthenticationError as error:
            raise DeployError(DeployErrorCode.UNAUTHORIZED, _trim(error.message or "")) from None
        except AzureError as error:
            raise DeployError(DeployErrorCode.UNAVAILABLE, _trim(error.message or "")) from None
        self._token, self._expires_on = token.token, float(token.expires_on)

    def __repr__(self) -> str:
        return "entra_auth(***)"


def entra_auth(credential: AsyncTokenCredential) -> DevOpsAuth:
    """A Microsoft Entra token for Azure DevOps, cached until five minutes before it expires."""
    return _EntraAuth(credential)


# --- URLs --------------------------------------------------------------------------------------


def release_url_for(organization_url: str) -> str:
    """Where the classic release API lives for an organization or collection URL."""
    url = organization_url.rstrip("/")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == "dev.azure.com":
        return urlunsplit(parts._replace(netloc="vsrm.dev.azure.com"))
    if host.endswith(".visualstudio.com") and not host.endswith(".vsrm.visualstudio.com"):
        org = host.removesuffix(".visualstudio.com")
        return urlunsplit(parts._replace(netloc=f"{org}.vsrm.visualstudio.com"))
    return url


def _with_query(url: str | None, **params: str) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | params
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- the client --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class _ModelArtifact:
    alias: str
    type: str | None
    source_id: str | None


@dataclass(frozen=True)
class _Version:
    id: str
    name: str


class AzureDevOps:
    """A :class:`~bot.pipelines.deployer.Deployer` on the Azure DevOps REST API 7.1."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        organization_url: str,
        project: str,
        auth: DevOpsAuth,
        *,
        release_url: str | None = None,
        api_version: str = "7.1",
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> None:
        self._session = session
        self._org_url = organization_url.rstrip("/")
        self._release_url = (release_url or release_url_for(organization_url)).rstrip("/")
        self._project = quote(project, safe="")
        self._auth = auth
        self._api_version = api_version
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._definitions: dict[int, tuple[float, dict[str, Any]]] = {}
        self.network_problem: str | None = None
        """Why the last request got no answer (TLS, proxy, DNS), until one gets an answer."""

    async def trigger(self, request: DeploymentRequest) -> RunInfo:
        """The deployment's run or release: the one found, else a new one."""
        return await self.find(request) or await self.create(request)

    async def find(self, request: DeploymentRequest) -> RunInfo | None:
        """The run or release carrying ``request.deployment_key``, if DevOps has one; raises
        rather than answer None from a search it could not finish."""
        if request.target.kind is TargetKind.RELEASE:
            return await self._find_release(request)
        return await self._find_run(request)

    async def create(self, request: DeploymentRequest) -> RunInfo:
        """Start a release or a run for ``request``; does not search first."""
        if request.target.kind is TargetKind.RELEASE:
            return await self._create_release(request)
        return await self._create_run(request)

    async def status(self, target: Target, run_id: int) -> RunInfo:
        """Read a release or run again and map its state."""
        if target.kind is TargetKind.RELEASE:
            return await self._release_status(run_id)
        return await self._run_status(target.definition_id, run_id)

    # --- classic releases ---------------------------------------------------------------------

    def _release_api(self, path: str) -> str:
        return f"{self._release_url}/{self._project}/_apis/{path}"

    async def _create_release(self, request: DeploymentRequest) -> RunInfo:
        definition = await self._definition(request.target.definition_id)
        artifact = _model_artifact(definition, request)
        version = await self._artifact_version(request, artifact)
        body = {
            "definitionId": request.target.definition_id,
            "description": release_description(request),
            "reason": "manual",
            "isDraft": False,
            "artifacts": [
                {
                    "alias": artifact.alias,
                    "instanceReference": {"id": version.id, "name": version.name},
                }
            ],
            "properties": {PROPERTY: {"$type": "System.String", "$value": request.deployment_key}},
            "variables": _overridable_variables(definition, request),
        }
        try:
            answer = await self._call("POST", self._release_api("release/releases"), body=body)
        except DeployError as error:
            if error.code is DeployErrorCode.INVALID:
                # The definition may have changed (a variable no longer settable): read it anew.
                self._definitions.pop(request.target.definition_id, None)
            raise
        return _release_info(_object(answer.body, "release"))

    async def _definition(self, definition_id: int) -> dict[str, Any]:
        cached = self._definitions.get(definition_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        answer = await self._call("GET", self._release_api(f"release/definitions/{definition_id}"))
        definition = _object(answer.body, "release definition")
        self._definitions[definition_id] = (time.monotonic() + DEFINITION_TTL, definition)
        return definition

    async def _artifact_version(
        self, request: DeploymentRequest, artifact: _ModelArtifact
    ) -> _Version:
        answer = await self._call(
            "GET",
            self._release_api("Release/artifacts/versions"),
            params={"releaseDefinitionId": str(request.target.definition_id)},
            api_version=ARTIFACT_VERSIONS_API,
        )
        entries = _object(answer.body, "artifact versions").get("artifactVersions")
        entry = next(
            (e for e in _list(entries) if isinstance(e, dict) and e.get("alias") == artifact.alias),
            None,
        )
        if entry is None:
            raise DeployError(
                DeployErrorCode.ARTIFACT_VERSION_MISSING,
                f"DevOps lists no versions for artifact {artifact.alias}",
            )
        version = match_artifact_version(_list(entry.get("versions")), request)
        if version is None:
            error = entry.get("errorMessage")
            reason = f": {_trim(str(error))}" if error else ""
            raise DeployError(
                DeployErrorCode.ARTIFACT_VERSION_MISSING,
                f"artifact {artifact.alias} does not list {request.model_name}:"
                f"{request.model_version} (yet){reason}",
            )
        return version

    async def _find_release(self, request: DeploymentRequest) -> RunInfo | None:
        base = {
            "definitionId": str(request.target.definition_id),
            "minCreatedTime": _iso(request.not_before - SEARCH_MARGIN),
            "queryOrder": "descending",
            "$top": str(PAGE_SIZE),
            "propertyFilters": PROPERTY,
        }
        narrowed = await self._artifact_filters(request)
        if narrowed:
            try:
                found = await self._scan_releases(request, base | narrowed)
            except DeployError as error:
                if error.code is not DeployErrorCode.INVALID:
                    raise
                found = None
            if found is not None:
                return await self._release_status(found)
        # The artifact filters are unverified for extension artifacts: confirm a miss without them.
        found = await self._scan_releases(request, base)
        return None if found is None else await self._release_status(found)

    async def _artifact_filters(self, request: DeploymentRequest) -> dict[str, str]:
        definition = await self._definition(request.target.definition_id)
        artifact = _model_artifact(definition, request)
        if not artifact.type or not artifact.source_id:
            return {}
        try:
            version = await self._artifact_version(request, artifact)
        except DeployError as error:
            if error.code is DeployErrorCode.ARTIFACT_VERSION_MISSING:
                return {}
            raise
        return {
            "artifactTypeId": artifact.type,
            "sourceId": artifact.source_id,
            "artifactVersionId": version.id,
        }

    async def _scan_releases(
        self, request: DeploymentRequest, params: dict[str, str]
    ) -> int | None:
        url = self._release_api("release/releases")
        for _ in range(MAX_PAGES):
            answer = await self._call("GET", url, params=params)
            for release in _items(answer.body):
                if carries_key(release.get("description"), request.deployment_key):
                    return _int(release.get("id"), "release id")
            token = answer.headers.get(CONTINUATION)
            if not token:
                return None
            params = params | {"continuationToken": token}
        raise _inconclusive(request)

    async def _release_status(self, release_id: int) -> RunInfo:
        answer = await self._call("GET", self._release_api(f"release/releases/{release_id}"))
        return _release_info(_object(answer.body, "release"))

    # --- YAML pipelines -----------------------------------------------------------------------

    def _api(self, path: str) -> str:
        return f"{self._org_url}/{self._project}/_apis/{path}"

    async def _create_run(self, request: DeploymentRequest) -> RunInfo:
        body = {"templateParameters": template_parameters(request)}
        url = self._api(f"pipelines/{request.target.definition_id}/runs")
        answer = await self._call("POST", url, body=body)
        return _run_info(_object(answer.body, "run"))

    async def _run_status(self, pipeline_id: int, run_id: int) -> RunInfo:
        answer = await self._call("GET", self._api(f"pipelines/{pipeline_id}/runs/{run_id}"))
        run = _object(answer.body, "run")
        if run.get("state") == "completed" and run.get("result") not in RUN_RESULTS:
            # Run.result has no "partially succeeded"; the Build API has (notes §3.2).
            return await self._build_status(run_id)
        return _run_info(run)

    async def _build_status(self, build_id: int) -> RunInfo:
        answer = await self._call("GET", self._api(f"build/builds/{build_id}"))
        return _build_info(_object(answer.body, "build"))

    async def _find_run(self, request: DeploymentRequest) -> RunInfo | None:
        url = self._api("build/builds")
        key = request.deployment_key
        by_name = {
            "definitions": str(request.target.definition_id),
            "buildNumber": RUN_NAME_PREFIX + key,
            "queryOrder": "queueTimeDescending",
            "$top": "5",
        }
        answer = await self._call("GET", url, params=by_name)
        for build in _items(answer.body):
            if build.get("buildNumber") == RUN_NAME_PREFIX + key and _parameter_matches(
                build, key, missing_ok=True
            ):
                return _build_info(build)
        # A pipeline without `name: deploy-${{ parameters.deploymentKey }}`: scan recent runs.
        return await self._scan_builds(request)

    async def _scan_builds(self, request: DeploymentRequest) -> RunInfo | None:
        params = {
            "definitions": str(request.target.definition_id),
            "minTime": _iso(request.not_before - SEARCH_MARGIN),
            "queryOrder": "queueTimeDescending",
            "$top": str(PAGE_SIZE),
        }
        for _ in range(MAX_PAGES):
            answer = await self._call("GET", self._api("build/builds"), params=params)
            for build in _items(answer.body):
                if _parameter_matches(build, request.deployment_key, missing_ok=False):
                    return _build_info(build)
            token = answer.headers.get(CONTINUATION)
            if not token:
                return None
            params = params | {"continuationToken": token}
        raise _inconclusive(request)

    # --- HTTP ---------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        api_version: str | None = None,
    ) -> _Answer:
        query = {**(params or {}), "api-version": api_version or self._api_version}
        authorization = await self._auth.header()
        headers = {"Authorization": authorization, "Accept": "application/json"}
        started = time.perf_counter()
        try:
            async with self._session.request(
                method,
                url,
                params=query,
                json=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                text = await response.text()
                self.network_problem = None
                log.debug("%s %s -> %d", method, urlsplit(url).path, response.status)
                if response.status >= 300 or response.status == 203:
                    raise _http_error(response.status, response.headers, text, authorization)
                return _Answer(_json(text), response.headers)
        except TimeoutError:
            raise DeployError(
                DeployErrorCode.UNAVAILABLE, f"{method} {urlsplit(url).path} timed out"
            ) from None
        except aiohttp.ClientError as error:
            failed = _connection_error(error, url, authorization)
            self.network_problem = failed.detail
            raise failed from None
        finally:
            DEVOPS_REQUEST_SECONDS.labels(method=method).observe(time.perf_counter() - started)


def _inconclusive(request: DeploymentRequest) -> DeployError:
    """A search that stopped before its end: nothing found is not "none there", so no create."""
    return DeployError(
        DeployErrorCode.UNAVAILABLE,
        f"the search for {request.deployment_key} read {MAX_PAGES} pages of recent runs without"
        " reaching their end: not started, lest it start twice",
    )


# --- the marker --------------------------------------------------------------------------------


def release_description(request: DeploymentRequest) -> str:
    """The release description: our marker first, then who approved it."""
    marker = (
        f"{MARKER} dep={request.deployment_key} model={request.model_name}:{request.model_version}"
    )
    approved = f"; approved by {request.requested_by}" if request.requested_by else ""
    return (marker + approved)[: max(len(marker), 250)]


def carries_key(description: Any, key: str) -> bool:
    """Whether a release description carries our marker for ``key``."""
    if not isinstance(description, str):
        return False
    return (
        re.search(rf"(?:^|\s){re.escape(MARKER)} dep={re.escape(key)}(?:\s|;|$)", description)
        is not None
    )


def template_parameters(request: DeploymentRequest) -> dict[str, str]:
    """The runtime parameters a deploy YAML declares (see NOTES.md)."""
    return {
        "modelName": request.model_name,
        "modelVersion": request.model_version,
        "modelSource": request.source,
        "deploymentKey": request.deployment_key,
    }


def _release_variables(request: DeploymentRequest) -> dict[str, str]:
    return template_parameters(request) | {"requestedBy": request.requested_by}


def _overridable_variables(
    definition: dict[str, Any], request: DeploymentRequest
) -> dict[str, dict[str, str]]:
    # Only variables the definition marks "settable at release time"; DevOps refuses others (400).
    declared = definition.get("variables")
    if not isinstance(declared, dict):
        return {}
    spelled = {name.lower(): name for name in declared}
    chosen: dict[str, dict[str, str]] = {}
    for name, value in _release_variables(request).items():
        actual = spelled.get(name.lower())
        variable = declared.get(actual) if actual else None
        if isinstance(variable, dict) and variable.get("allowOverride") is True:
            chosen[str(actual)] = {"value": value}
    return chosen


def _parameter_matches(build: dict[str, Any], key: str, *, missing_ok: bool) -> bool:
    parameters = build.get("templateParameters")
    if not isinstance(parameters, dict) or "deploymentKey" not in parameters:
        return missing_ok
    return parameters.get("deploymentKey") == key


# --- the model artifact ------------------------------------------------------------------------


def _model_artifact(definition: dict[str, Any], request: DeploymentRequest) -> _ModelArtifact:
    artifacts = [a for a in _list(definition.get("artifacts")) if isinstance(a, dict)]
    wanted = request.target.artifact_alias
    if wanted is not None:
        chosen = next((a for a in artifacts if a.get("alias") == wanted), None)
    else:
        chosen = next((a for a in artifacts if a.get("alias") == f"_{request.model_name}"), None)
        chosen = chosen or next((a for a in artifacts if a.get("isPrimary") is True), None)
    if chosen is None or not isinstance(chosen.get("alias"), str):
        expected = wanted or f"_{request.model_name} or a primary artifact"
        raise DeployError(
            DeployErrorCode.INVALID,
            f"{request.target.describe()} has no artifact {expected}",
        )
    kind, source = chosen.get("type"), chosen.get("sourceId")
    return _ModelArtifact(
        chosen["alias"],
        kind if isinstance(kind, str) else None,
        source if isinstance(source, str) else None,
    )


def match_artifact_version(versions: list[Any], request: DeploymentRequest) -> _Version | None:
    """The listed version that is the requested model version.

    In order: ``id`` or ``name`` equal to ``<model>:<version>``; then ``name`` equal to
    ``<version>``; then ``id`` equal to ``<version>``. Entries whose ``definitionName`` names
    another model are skipped (an artifact may list several models).
    """
    qualified = f"{request.model_name}:{request.model_version}"
    candidates = [
        v
        for v in versions
        if isinstance(v, dict)
        and isinstance(v.get("id"), str | int)
        and v.get("definitionName") in (None, "", request.model_name)
    ]
    rules = (
        lambda v: qualified in (str(v.get("id")), v.get("name")),
        lambda v: v.get("name") == request.model_version,
        lambda v: str(v.get("id")) == request.model_version,
    )
    for rule in rules:
        hit = next((v for v in candidates if rule(v)), None)
        if hit is not None:
            name = hit.get("name")
            return _Version(str(hit["id"]), name if isinstance(name, str) else str(hit["id"]))
    return None


# --- mapping states ----------------------------------------------------------------------------

RUN_RESULTS = {
    "succeeded": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "canceled": RunStatus.CANCELED,
    "partiallySucceeded": RunStatus.PARTIALLY_SUCCEEDED,
}


def _web_url(resource: dict[str, Any]) -> str | None:
    links = resource.get("_links")
    web = links.get("web") if isinstance(links, dict) else None
    href = web.get("href") if isinstance(web, dict) else None
    return href if isinstance(href, str) else None


def _release_info(release: dict[str, Any]) -> RunInfo:
    status, detail = release_status(release)
    web = _web_url(release)
    return RunInfo(
        run_id=_int(release.get("id"), "release id"),
        name=str(release.get("name") or ""),
        status=status,
        web_url=web,
        logs_url=_with_query(web, _a="release-logs"),
        detail=detail,
    )


def release_status(release: dict[str, Any]) -> tuple[RunStatus, str | None]:
    """A release's status from its stages (notes §3.1), with the stage worth naming."""
    if release.get("status") == "abandoned":
        return RunStatus.CANCELED, "the release was abandoned"
    stages = [e for e in _list(release.get("environments")) if isinstance(e, dict)]
    by_status = {s.get("status"): s for s in reversed(stages)}
    if "rejected" in by_status:
        return RunStatus.FAILED, _failure(by_status["rejected"])
    if "canceled" in by_status:
        return RunStatus.CANCELED, f"stage {by_status['canceled'].get('name')} was canceled"
    for stage in stages:
        if stage.get("status") in ("inProgress", "queued") and _awaits_approval(stage):
            return RunStatus.IN_PROGRESS, f"stage {stage.get('name')} waits for approval"
    ran = [s for s in stages if s.get("status") in ("succeeded", "partiallySucceeded")]
    if any(s.get("status") == "inProgress" for s in stages):
        return RunStatus.IN_PROGRESS, None
    if any(_pending(s, stages) for s in stages):
        return (RunStatus.IN_PROGRESS if ran else RunStatus.QUEUED), None
    if not ran:
        return RunStatus.QUEUED, "no stage has started (manual triggers?)"
    if "partiallySucceeded" in by_status:
        stage = by_status["partiallySucceeded"]
        return RunStatus.PARTIALLY_SUCCEEDED, f"stage {stage.get('name')} partially succeeded"
    return RunStatus.SUCCEEDED, None


def _latest_attempt(stage: dict[str, Any]) -> dict[str, Any]:
    attempts = [a for a in _list(stage.get("deploySteps")) if isinstance(a, dict)]
    return max(attempts, key=lambda a: a.get("attempt") or 0, default={})


def _awaits_approval(stage: dict[str, Any]) -> bool:
    return _latest_attempt(stage).get("operationStatus") == "pending"


def _failure(stage: dict[str, Any]) -> str:
    name = stage.get("name")
    operation = _latest_attempt(stage).get("operationStatus")
    if operation == "rejected":
        return f"stage {name}: the approval was rejected"
    if operation == "gateFailed":
        return f"stage {name}: a gate failed"
    return f"stage {name} failed"


def _pending(stage: dict[str, Any], stages: list[dict[str, Any]]) -> bool:
    """Whether a stage has yet to run by itself (queued, scheduled, or triggered automatically)."""
    status = stage.get("status")
    if status in ("queued", "scheduled"):
        return True
    if status != "notStarted":
        return False
    statuses = {s.get("name"): s.get("status") for s in stages}
    for condition in _list(stage.get("conditions")):
        if not isinstance(condition, dict):
            continue
        if condition.get("conditionType") == "event":
            return True
        if condition.get("conditionType") == "environmentState":
            after = statuses.get(condition.get("name"))
            if after not in FINAL_ENVIRONMENT:
                return True
            return bool(ENVIRONMENT_FLAGS[str(after)] & _flags(condition.get("value")))
    return False


def _flags(value: Any) -> int:
    text = str(value or "")
    return int(text) if text.isdigit() else 0


def _run_info(run: dict[str, Any]) -> RunInfo:
    state, result = run.get("state"), run.get("result")
    if state == "completed":
        status = RUN_RESULTS.get(str(result), RunStatus.FAILED)
        detail = None
    elif state == "canceling":
        status, detail = RunStatus.IN_PROGRESS, "canceling"
    elif state == "inProgress":
        status, detail = RunStatus.IN_PROGRESS, None
    else:
        status, detail = RunStatus.QUEUED, None
    web = _web_url(run)
    return RunInfo(
        run_id=_int(run.get("id"), "run id"),
        name=str(run.get("name") or ""),
        status=status,
        web_url=web,
        logs_url=_with_query(web, view="logs"),
        detail=detail,
    )


BUILD_STATES = {
    "notStarted": RunStatus.QUEUED,
    "postponed": RunStatus.QUEUED,
    "inProgress": RunStatus.IN_PROGRESS,
    "cancelling": RunStatus.IN_PROGRESS,
}


def _build_info(build: dict[str, Any]) -> RunInfo:
    state = build.get("status")
    if state == "completed":
        status = RUN_RESULTS.get(str(build.get("result")), RunStatus.FAILED)
    else:
        status = BUILD_STATES.get(str(state), RunStatus.QUEUED)
    web = _web_url(build)
    return RunInfo(
        run_id=_int(build.get("id"), "build id"),
        name=str(build.get("buildNumber") or ""),
        status=status,
        web_url=web,
        logs_url=_with_query(web, view="logs"),
        detail="canceling" if state == "cancelling" else None,
    )


# --- answers and errors ------------------------------------------------------------------------


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        raise DeployError(
            DeployErrorCode.UNAVAILABLE, "DevOps answered with a body that is not JSON"
        ) from None


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise DeployError(DeployErrorCode.INVALID, f"DevOps answered without a {what} object")
    return body


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _items(body: Any) -> list[dict[str, Any]]:
    # The specs declare bare arrays; the service wraps lists as {"count", "value"}.
    if isinstance(body, dict):
        body = body.get("value")
    if not isinstance(body, list):
        raise DeployError(DeployErrorCode.INVALID, "DevOps answered without a list")
    return [item for item in body if isinstance(item, dict)]


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeployError(DeployErrorCode.INVALID, f"DevOps answered without a valid {what}")
    return value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


def _secrets(authorization: str) -> list[str]:
    scheme, _, credential = authorization.partition(" ")
    secrets = [authorization, credential]
    if scheme.lower() == "basic":
        with contextlib.suppress(ValueError):
            secrets.append(base64.b64decode(credential).decode().partition(":")[2])
    return [s for s in secrets if len(s) >= 4]


def _scrub(text: str, authorization: str) -> str:
    for secret in _secrets(authorization):
        text = text.replace(secret, "***")
    return _trim(text)


STATUS_CODES = {
    401: DeployErrorCode.UNAUTHORIZED,
    403: DeployErrorCode.FORBIDDEN,
    404: DeployErrorCode.NOT_FOUND,
    408: DeployErrorCode.UNAVAILABLE,
    429: DeployErrorCode.UNAVAILABLE,
}


def _http_error(
    status: int, headers: Mapping[str, str], text: str, authorization: str
) -> DeployError:
    if status == 203 or 300 <= status < 400:
        # DevOps answers a bad PAT with a sign-in page (203, or a redirect) on some routes.
        return DeployError(
            DeployErrorCode.UNAUTHORIZED,
            "DevOps answered with a sign-in page: the credentials are wrong or expired",
            status=status,
        )
    kind, message = _error_body(text)
    if kind == VERSION_OUT_OF_RANGE:
        return _server_too_old(message or "", status)
    code = STATUS_CODES.get(status)
    if code is None:
        code = DeployErrorCode.UNAVAILABLE if status >= 500 else DeployErrorCode.INVALID
    described = f"{kind}: {message}" if kind and message else message
    return DeployError(
        code,
        _scrub(described or f"HTTP {status}", authorization),
        status=status,
        retry_after=retry_after(headers.get("Retry-After")),
    )


def _connection_error(error: aiohttp.ClientError, url: str, authorization: str) -> DeployError:
    """A request that got no answer: the hop that failed and its fix, where that is known."""
    problem = network_problem(error, urlsplit(url).hostname)
    if problem is None:
        detail = _scrub(f"{type(error).__name__}: {error}", authorization)
        return DeployError(DeployErrorCode.UNAVAILABLE, detail)
    code = DeployErrorCode.NETWORK if problem.lasting else DeployErrorCode.UNAVAILABLE
    return DeployError(code, str(problem))


def _error_body(text: str) -> tuple[str | None, str | None]:
    """The ``typeKey`` and ``message`` of an Azure DevOps error body, where it has them."""
    try:
        body = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return None, None
    kind = body.get("typeKey")
    return (kind if isinstance(kind, str) else None), body["message"]


def _server_too_old(message: str, status: int) -> DeployError:
    """An Azure DevOps Server older than REST API 7.1, named by the version it says it speaks."""
    found = re.search(r"supports is ([0-9][0-9A-Za-z.-]{0,20})", message)
    latest = found[1].rstrip(".") if found else "an older version"
    return DeployError(DeployErrorCode.SERVER_TOO_OLD, f"REST API {latest}", status=status)
