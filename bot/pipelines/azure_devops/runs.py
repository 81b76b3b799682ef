"""YAML pipeline runs: a run started with our deployment key, found by it, read again."""

from __future__ import annotations

from typing import Any

from bot.pipelines.azure_devops.bodies import as_object, items
from bot.pipelines.azure_devops.http import DevOpsHttp
from bot.pipelines.azure_devops.markers import parameter_matches, template_parameters
from bot.pipelines.azure_devops.search import scan, search_from
from bot.pipelines.azure_devops.states import RUN_RESULTS, build_info, run_info
from bot.pipelines.deployer import DeploymentRequest, RunInfo
from domain.records import RUN_NAME_PREFIX


class Runs:
    """The Pipelines and Build APIs of one project."""

    def __init__(self, http: DevOpsHttp, organization_url: str, project: str) -> None:
        self._http = http
        self._apis = f"{organization_url}/{project}/_apis"

    def _api(self, path: str) -> str:
        return f"{self._apis}/{path}"

    async def create(self, request: DeploymentRequest) -> RunInfo:
        """Start a run of the pipeline with our template parameters."""
        body = {"templateParameters": template_parameters(request)}
        url = self._api(f"pipelines/{request.target.definition_id}/runs")
        answer = await self._http.call("POST", url, body=body)
        return run_info(as_object(answer.body, "run"))

    async def status(self, pipeline_id: int, run_id: int) -> RunInfo:
        """Read a run again and map its state."""
        answer = await self._http.call("GET", self._api(f"pipelines/{pipeline_id}/runs/{run_id}"))
        run = as_object(answer.body, "run")
        if run.get("state") == "completed" and run.get("result") not in RUN_RESULTS:
            # Run.result has no "partially succeeded"; the Build API has (notes §3.2).
            return await self._build_status(run_id)
        return run_info(run)

    async def find(self, request: DeploymentRequest) -> RunInfo | None:
        """The run carrying the deployment key: by its name, else by its parameter."""
        key = request.deployment_key
        by_name = {
            "definitions": str(request.target.definition_id),
            "buildNumber": RUN_NAME_PREFIX + key,
            "queryOrder": "queueTimeDescending",
            "$top": "5",
        }
        answer = await self._http.call("GET", self._api("build/builds"), params=by_name)
        for build in items(answer.body):
            if build.get("buildNumber") == RUN_NAME_PREFIX + key and parameter_matches(
                build, key, missing_ok=True
            ):
                return build_info(build)
        # A pipeline without `name: deploy-${{ parameters.deploymentKey }}`: scan recent runs.
        return await self._scan(request)

    async def _build_status(self, build_id: int) -> RunInfo:
        answer = await self._http.call("GET", self._api(f"build/builds/{build_id}"))
        return build_info(as_object(answer.body, "build"))

    async def _scan(self, request: DeploymentRequest) -> RunInfo | None:
        params = {
            "definitions": str(request.target.definition_id),
            "minTime": search_from(request),
            "queryOrder": "queueTimeDescending",
        }

        def ours(build: dict[str, Any]) -> bool:
            return parameter_matches(build, request.deployment_key, missing_ok=False)

        found = await scan(self._http, self._api("build/builds"), params, request, ours)
        return None if found is None else build_info(found)
