"""Searching the recent releases or runs of a definition for ours, a page at a time.

The search is bounded: one that stops before the end of the list raises rather than answer
"none there", lest the caller start the deployment twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from bot.pipelines.azure_devops.bodies import items
from bot.pipelines.azure_devops.http import DevOpsHttp
from bot.pipelines.deployer import DeployError, DeployErrorCode, DeploymentRequest

SEARCH_MARGIN = timedelta(minutes=10)
PAGE_SIZE = 50
MAX_PAGES = 20
CONTINUATION = "x-ms-continuationtoken"


def search_from(request: DeploymentRequest) -> str:
    """The earliest creation time worth searching: a margin before the request's not_before."""
    return (request.not_before - SEARCH_MARGIN).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def scan(
    http: DevOpsHttp,
    url: str,
    params: dict[str, str],
    request: DeploymentRequest,
    ours: Callable[[dict[str, Any]], bool],
) -> dict[str, Any] | None:
    """The first listed item that is ``ours``, or None once the list ends; raises if MAX_PAGES
    pages of PAGE_SIZE items do not reach its end."""
    params = params | {"$top": str(PAGE_SIZE)}
    for _ in range(MAX_PAGES):
        answer = await http.call("GET", url, params=params)
        found = next((item for item in items(answer.body) if ours(item)), None)
        if found is not None:
            return found
        token = answer.headers.get(CONTINUATION)
        if not token:
            return None
        params = params | {"continuationToken": token}
    raise _inconclusive(request)


def _inconclusive(request: DeploymentRequest) -> DeployError:
    """A search that stopped before its end: nothing found is not "none there", so no create."""
    return DeployError(
        DeployErrorCode.UNAVAILABLE,
        f"the search for {request.deployment_key} read {MAX_PAGES} pages of recent runs without"
        " reaching their end: not started, lest it start twice",
    )
