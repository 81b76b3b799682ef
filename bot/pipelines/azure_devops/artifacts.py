"""The model's artifact of a release definition, and which of its versions was asked for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.pipelines.azure_devops.bodies import as_list
from bot.pipelines.deployer import DeployError, DeployErrorCode, DeploymentRequest


@dataclass(frozen=True)
class ModelArtifact:
    """A release definition's artifact: its alias, and its type and source where it names them."""

    alias: str
    type: str | None
    source_id: str | None


@dataclass(frozen=True)
class Version:
    """A version an artifact lists, as a release's ``instanceReference`` names it."""

    id: str
    name: str


def model_artifact(definition: dict[str, Any], request: DeploymentRequest) -> ModelArtifact:
    """The target's artifact alias, else ``_<model>``, else the primary artifact."""
    artifacts = [a for a in as_list(definition.get("artifacts")) if isinstance(a, dict)]
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
    return ModelArtifact(
        chosen["alias"],
        kind if isinstance(kind, str) else None,
        source if isinstance(source, str) else None,
    )


def match_artifact_version(versions: list[Any], request: DeploymentRequest) -> Version | None:
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
            return Version(str(hit["id"]), name if isinstance(name, str) else str(hit["id"]))
    return None
