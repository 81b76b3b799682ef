"""What a deployment carries into Azure DevOps, and how we recognise it there again.

A release carries the deployment key in its ``description`` (plus a release property); a YAML
run in its name ``deploy-<key>`` and its ``deploymentKey`` template parameter.
"""

from __future__ import annotations

import re
from typing import Any

from bot.pipelines.deployer import DeploymentRequest

MARKER = "model-release-bot"
PROPERTY = "ModelReleaseBot.DeploymentId"


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


def overridable_variables(
    definition: dict[str, Any], request: DeploymentRequest
) -> dict[str, dict[str, str]]:
    """The release's variables: ours, under the spelling of the release ``definition``."""
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


def parameter_matches(build: dict[str, Any], key: str, *, missing_ok: bool) -> bool:
    """Whether a build's ``deploymentKey`` parameter is ``key`` (``missing_ok``: or it has none)."""
    parameters = build.get("templateParameters")
    if not isinstance(parameters, dict) or "deploymentKey" not in parameters:
        return missing_ok
    return parameters.get("deploymentKey") == key
