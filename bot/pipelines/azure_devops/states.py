"""Azure DevOps releases, runs and builds as a :class:`RunInfo`: pure mapping, no I/O."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.pipelines.azure_devops.bodies import as_int, as_list
from bot.pipelines.deployer import RunInfo
from domain.statuses import RunStatus

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

RUN_RESULTS = {
    "succeeded": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "canceled": RunStatus.CANCELED,
    "partiallySucceeded": RunStatus.PARTIALLY_SUCCEEDED,
}

BUILD_STATES = {
    "notStarted": RunStatus.QUEUED,
    "postponed": RunStatus.QUEUED,
    "inProgress": RunStatus.IN_PROGRESS,
    "cancelling": RunStatus.IN_PROGRESS,
}


def _with_query(url: str | None, **params: str) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | params
    return urlunsplit(parts._replace(query=urlencode(query)))


def _web_url(resource: dict[str, Any]) -> str | None:
    links = resource.get("_links")
    web = links.get("web") if isinstance(links, dict) else None
    href = web.get("href") if isinstance(web, dict) else None
    return href if isinstance(href, str) else None


def _info(
    resource: dict[str, Any],
    what: str,
    name: Any,
    status: tuple[RunStatus, str | None],
    logs: dict[str, str],
) -> RunInfo:
    """A release, run or build as a RunInfo; ``what`` names its id in an error, and its logs link
    is its web page with ``logs`` added to the query."""
    web = _web_url(resource)
    return RunInfo(
        run_id=as_int(resource.get("id"), what),
        name=str(name or ""),
        status=status[0],
        web_url=web,
        logs_url=_with_query(web, **logs),
        detail=status[1],
    )


def release_info(release: dict[str, Any]) -> RunInfo:
    """A release (``Release`` JSON) as a RunInfo, its logs page linked."""
    status = release_status(release)
    return _info(release, "release id", release.get("name"), status, {"_a": "release-logs"})


def release_status(release: dict[str, Any]) -> tuple[RunStatus, str | None]:
    """A release's status from its stages (notes §3.1), with the stage worth naming."""
    if release.get("status") == "abandoned":
        return RunStatus.CANCELED, "the release was abandoned"
    stages = [e for e in as_list(release.get("environments")) if isinstance(e, dict)]
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
    attempts = [a for a in as_list(stage.get("deploySteps")) if isinstance(a, dict)]
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
    for condition in as_list(stage.get("conditions")):
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


def run_info(run: dict[str, Any]) -> RunInfo:
    """A YAML pipeline run (``Run`` JSON of the Pipelines API) as a RunInfo."""
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
    return _info(run, "run id", run.get("name"), (status, detail), {"view": "logs"})


def build_info(build: dict[str, Any]) -> RunInfo:
    """A run as the Build API sees it (``Build`` JSON), which knows "partially succeeded"."""
    state = build.get("status")
    if state == "completed":
        status = RUN_RESULTS.get(str(build.get("result")), RunStatus.FAILED)
    else:
        status = BUILD_STATES.get(str(state), RunStatus.QUEUED)
    detail = "canceling" if state == "cancelling" else None
    return _info(build, "build id", build.get("buildNumber"), (status, detail), {"view": "logs"})
