"""The deployer port: what the dispatcher needs from a CD system, and the values it trades in.

The dispatcher guarantees "exactly once across crashes" by calling :meth:`Deployer.find` before
every :meth:`Deployer.create`; ``deployment_key`` is the marker a deployer leaves on what it starts,
so that ``find`` can recognise it after a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from domain.statuses import RunStatus
from domain.target import Target

DEPLOYMENT_KEY = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""Our deployment keys: short and plain, so they fit a YAML run name and a release description."""


@dataclass(frozen=True)
class DeploymentRequest:
    """One approved deployment of one model version."""

    deployment_key: str
    """Ours, unique per deployment: the idempotency marker."""
    target: Target
    model_name: str
    model_version: str
    source: str
    """The workspace or registry name."""
    requested_by: str
    """The display names or UPNs of the approvers."""
    not_before: datetime
    """UTC: when the deployment row was written (searches go back a few minutes before it)."""

    def __post_init__(self) -> None:
        # A YAML run name may not end with "." (TF209010), and the key goes into one.
        if not DEPLOYMENT_KEY.fullmatch(self.deployment_key) or self.deployment_key.endswith("."):
            raise ValueError(
                "deployment_key must be 1 to 64 of [A-Za-z0-9._-] and not end with '.', "
                f"got {self.deployment_key!r}"
            )
        if self.not_before.tzinfo is None:
            raise ValueError("not_before must be timezone-aware (UTC)")


@dataclass(frozen=True)
class RunInfo:
    """A release or a run, as last read from Azure DevOps."""

    run_id: int
    """The release id, or the run id (which is the build id)."""
    name: str
    status: RunStatus
    web_url: str | None
    """The page in the browser."""
    logs_url: str | None
    """Where to read the logs in the browser."""
    detail: str | None = None
    """E.g. the stage that failed, or the stage waiting for approval."""


class DeployErrorCode(StrEnum):
    """Why Azure DevOps did not do what we asked."""

    UNAUTHORIZED = "unauthorized"
    """401: credentials wrong or expired (PAT expired, token for the wrong tenant)."""
    FORBIDDEN = "forbidden"
    """403: the identity lacks a permission (Create releases, Queue builds)."""
    NOT_FOUND = "not_found"
    """404: the definition, pipeline or project does not exist."""
    INVALID = "invalid"
    """400 and the like: DevOps refused the request; retrying will not help."""
    ARTIFACT_VERSION_MISSING = "artifact_version_missing"
    """The model version is not (yet) listed for the release's artifact: retry later."""
    UNAVAILABLE = "unavailable"
    """429, 5xx, timeouts, connection errors: retry later."""
    NETWORK = "network"
    """A TLS certificate not trusted, or proxy credentials missing: a setting must change."""
    SERVER_TOO_OLD = "server_too_old"
    """An Azure DevOps Server that does not speak REST API 7.1 (Server 2022 before 2022.1)."""


RETRYABLE = frozenset({DeployErrorCode.UNAVAILABLE, DeployErrorCode.ARTIFACT_VERSION_MISSING})


class DeployError(Exception):
    """Azure DevOps refused or failed a request; ``detail`` never holds a credential."""

    def __init__(
        self,
        code: DeployErrorCode,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, detail, status, retry_after)
        self.code = code
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        """Seconds to wait, from the Retry-After header."""

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later."""
        return self.code in RETRYABLE

    @property
    def uncertain(self) -> bool:
        """Whether Azure DevOps may have carried out the request all the same: it got no answer,
        or a server error (a gateway gives up on requests that go on behind it)."""
        return self.code is DeployErrorCode.UNAVAILABLE and (
            self.status is None or self.status >= 500
        )

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.code.value}{status}: {self.detail}"


class Deployer(Protocol):
    """Starts and follows deployments; exactly once is the caller's ``find`` before ``create``."""

    async def find(self, request: DeploymentRequest) -> RunInfo | None:
        """The run or release carrying ``request.deployment_key``, if one exists already; None
        only when the search was complete (a :class:`DeployError` when it could not be)."""
        ...

    async def create(self, request: DeploymentRequest) -> RunInfo:
        """Start the deployment (no search first)."""
        ...

    async def status(self, target: Target, run_id: int) -> RunInfo:
        """Read a run or release again."""
        ...
