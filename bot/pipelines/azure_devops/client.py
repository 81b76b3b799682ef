"""The Azure DevOps deployer: a release or a YAML run per deployment, by the target's kind."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from bot.pipelines.azure_devops.auth import DevOpsAuth
from bot.pipelines.azure_devops.http import DEFAULT_TIMEOUT, DevOpsHttp
from bot.pipelines.azure_devops.releases import Releases
from bot.pipelines.azure_devops.runs import Runs
from bot.pipelines.deployer import DeploymentRequest, RunInfo
from domain.target import Target, TargetKind


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
        self._http = DevOpsHttp(
            session, auth, api_version=api_version, timeout=timeout or DEFAULT_TIMEOUT
        )
        project = quote(project, safe="")
        release_url = (release_url or release_url_for(organization_url)).rstrip("/")
        self._releases = Releases(self._http, release_url, project)
        self._runs = Runs(self._http, organization_url.rstrip("/"), project)

    @property
    def network_problem(self) -> str | None:
        """Why the last request got no answer (TLS, proxy, DNS), until one gets an answer."""
        return self._http.network_problem

    async def trigger(self, request: DeploymentRequest) -> RunInfo:
        """The deployment's run or release: the one found, else a new one."""
        return await self.find(request) or await self.create(request)

    async def find(self, request: DeploymentRequest) -> RunInfo | None:
        """The run or release carrying ``request.deployment_key``, if DevOps has one; raises
        rather than answer None from a search it could not finish."""
        if request.target.kind is TargetKind.RELEASE:
            return await self._releases.find(request)
        return await self._runs.find(request)

    async def create(self, request: DeploymentRequest) -> RunInfo:
        """Start a release or a run for ``request``; does not search first."""
        if request.target.kind is TargetKind.RELEASE:
            return await self._releases.create(request)
        return await self._runs.create(request)

    async def status(self, target: Target, run_id: int) -> RunInfo:
        """Read a release or run again and map its state."""
        if target.kind is TargetKind.RELEASE:
            return await self._releases.status(run_id)
        return await self._runs.status(target.definition_id, run_id)
