"""The simulated Azure DevOps web pages: what a person sees who opens a run's or a release's link.

The REST answers of :mod:`fakes.devops` link a run to ``{project}/_build/results?buildId=N``
(``&view=logs`` for its logs) and a release to ``{project}/_release?releaseId=N&_a=...``, as the
real service does. There the real service shows a web page to a signed-in browser; here a short
HTML page shows the run's name, pipeline, state, result, model and a few log lines. No sign-in: the
page is for the demo's browser on loopback, and shows only what the fake made up.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fakes.web_page import html_page

NOTE = "Simulated Azure DevOps (the demo): not a real run."


def not_found(what: str) -> web.Response:
    """The page for a run or release the fake does not have."""
    return html_page(NOTE, f"{what} not found", [], status=404)


def build_page(build: dict[str, Any], logs: bool) -> web.Response:
    """A pipeline run's page (``logs``: opened from its Logs link)."""
    parameters = build["templateParameters"]
    state, result = build["status"], build.get("result", "")
    facts = [
        ("Run", build["buildNumber"]),
        ("Pipeline", build["definition"]["name"]),
        ("State", state),
        ("Result", result or "not yet"),
        ("Model", str(parameters.get("modelName", ""))),
        ("Version", str(parameters.get("modelVersion", ""))),
        ("Queued", build["queueTime"]),
    ]
    target = f"{parameters.get('modelName')}:{parameters.get('modelVersion')}"
    title = f"{'Logs of run' if logs else 'Run'} {build['buildNumber']}"
    return html_page(NOTE, title, facts, _log_lines(build["queueTime"], state, result, target))


def release_page(release: dict[str, Any], logs: bool) -> web.Response:
    """A classic release's page (``logs``: opened from its Logs link)."""
    variables = {k: v.get("value", "") for k, v in release["variables"].items()}
    stages = ", ".join(f"{s['name']}: {s['status']}" for s in release["environments"])
    facts = [
        ("Release", release["name"]),
        ("Definition", release["releaseDefinition"]["name"]),
        ("Stages", stages),
        ("Model", str(variables.get("modelName", ""))),
        ("Version", str(variables.get("modelVersion", ""))),
        ("Created", release["createdOn"]),
    ]
    target = f"{variables.get('modelName')}:{variables.get('modelVersion')}"
    lines = [f"{release['createdOn']} Release created for {target}"]
    lines += [f"Stage {s['name']}: {s['status']}" for s in release["environments"]]
    title = f"{'Logs of' if logs else ''} {release['name']}".strip()
    return html_page(NOTE, title, facts, lines)


def _log_lines(queued: str, state: str, result: str, target: str) -> list[str]:
    lines = [f"{queued} Run queued for {target}"]
    if state in ("inProgress", "completed"):
        lines += ["Job 'deploy' started on agent 'Azure Pipelines 3'", f"Deploying {target}"]
    if state == "completed":
        lines.append(f"Deployment of {target} {result}" if result else "Run ended")
        lines.append(f"Finishing: {result}")
    return lines
