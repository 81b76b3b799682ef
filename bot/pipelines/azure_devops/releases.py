"""Classic release pipelines: a release started with our marker, found by it, read again."""

from __future__ import annotations

import time
from typing import Any

from bot.pipelines.azure_devops.artifacts import (
    ModelArtifact,
    Version,
    match_artifact_version,
    model_artifact,
)
from bot.pipelines.azure_devops.bodies import as_int, as_list, as_object, trim
from bot.pipelines.azure_devops.http import DevOpsHttp
from bot.pipelines.azure_devops.markers import (
    PROPERTY,
    carries_key,
    overridable_variables,
    release_description,
)
from bot.pipelines.azure_devops.search import scan, search_from
from bot.pipelines.azure_devops.states import release_info
from bot.pipelines.deployer import DeployError, DeployErrorCode, DeploymentRequest, RunInfo

ARTIFACT_VERSIONS_API = "7.1-preview.1"
DEFINITION_TTL = 300.0


class Releases:
    """The release API of one project (on the vsrm host), release definitions cached a while."""

    def __init__(self, http: DevOpsHttp, release_url: str, project: str) -> None:
        self._http = http
        self._apis = f"{release_url}/{project}/_apis"
        self._definitions: dict[int, tuple[float, dict[str, Any]]] = {}

    def _api(self, path: str) -> str:
        return f"{self._apis}/{path}"

    async def create(self, request: DeploymentRequest) -> RunInfo:
        """Start a release of the requested model version, marked with the deployment key."""
        definition = await self._definition(request.target.definition_id)
        artifact = model_artifact(definition, request)
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
            "variables": overridable_variables(definition, request),
        }
        try:
            answer = await self._http.call("POST", self._api("release/releases"), body=body)
        except DeployError as error:
            if error.code is DeployErrorCode.INVALID:
                # The definition may have changed (a variable no longer settable): read it anew.
                self._definitions.pop(request.target.definition_id, None)
            raise
        return release_info(as_object(answer.body, "release"))

    async def find(self, request: DeploymentRequest) -> RunInfo | None:
        """The release carrying the deployment key, if there is one."""
        base = {
            "definitionId": str(request.target.definition_id),
            "minCreatedTime": search_from(request),
            "queryOrder": "descending",
            "propertyFilters": PROPERTY,
        }
        narrowed = await self._artifact_filters(request)
        if narrowed:
            try:
                found = await self._scan(request, base | narrowed)
            except DeployError as error:
                if error.code is not DeployErrorCode.INVALID:
                    raise
                found = None
            if found is not None:
                return await self.status(found)
        # The artifact filters are unverified for extension artifacts: confirm a miss without them.
        found = await self._scan(request, base)
        return None if found is None else await self.status(found)

    async def status(self, release_id: int) -> RunInfo:
        """Read a release again and map its state."""
        answer = await self._http.call("GET", self._api(f"release/releases/{release_id}"))
        return release_info(as_object(answer.body, "release"))

    async def _definition(self, definition_id: int) -> dict[str, Any]:
        cached = self._definitions.get(definition_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        url = self._api(f"release/definitions/{definition_id}")
        definition = as_object((await self._http.call("GET", url)).body, "release definition")
        self._definitions[definition_id] = (time.monotonic() + DEFINITION_TTL, definition)
        return definition

    async def _artifact_version(
        self, request: DeploymentRequest, artifact: ModelArtifact
    ) -> Version:
        answer = await self._http.call(
            "GET",
            self._api("Release/artifacts/versions"),
            params={"releaseDefinitionId": str(request.target.definition_id)},
            api_version=ARTIFACT_VERSIONS_API,
        )
        entries = as_object(answer.body, "artifact versions").get("artifactVersions")
        entry = next(
            (
                e
                for e in as_list(entries)
                if isinstance(e, dict) and e.get("alias") == artifact.alias
            ),
            None,
        )
        if entry is None:
            raise DeployError(
                DeployErrorCode.ARTIFACT_VERSION_MISSING,
                f"DevOps lists no versions for artifact {artifact.alias}",
            )
        version = match_artifact_version(as_list(entry.get("versions")), request)
        if version is None:
            error = entry.get("errorMessage")
            reason = f": {trim(str(error))}" if error else ""
            raise DeployError(
                DeployErrorCode.ARTIFACT_VERSION_MISSING,
                f"artifact {artifact.alias} does not list {request.model_name}:"
                f"{request.model_version} (yet){reason}",
            )
        return version

    async def _artifact_filters(self, request: DeploymentRequest) -> dict[str, str]:
        definition = await self._definition(request.target.definition_id)
        artifact = model_artifact(definition, request)
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

    async def _scan(self, request: DeploymentRequest, params: dict[str, str]) -> int | None:
        def ours(release: dict[str, Any]) -> bool:
            return carries_key(release.get("description"), request.deployment_key)

        found = await scan(self._http, self._api("release/releases"), params, request, ours)
        return None if found is None else as_int(found.get("id"), "release id")
