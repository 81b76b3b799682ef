"""Deployment targets: one parser and one printer of ``release:12[:alias]`` and ``pipeline:42``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

TARGET = re.compile(r"^(release|pipeline):([1-9][0-9]{0,8})(?::([A-Za-z0-9_.-]{1,64}))?$")


class TargetKind(StrEnum):
    """Which kind of Azure DevOps definition deploys a model."""

    RELEASE = "release"
    PIPELINE = "pipeline"


@dataclass(frozen=True)
class Target:
    """A classic release definition or a YAML pipeline.

    As text (settings, chat options, the store): ``release:<definition id>[:<artifact alias>]``
    or ``pipeline:<pipeline id>``; :meth:`parse` reads it, ``str()`` writes it.
    """

    kind: TargetKind
    definition_id: int
    """The release definition id, or the YAML pipeline id."""
    artifact_alias: str | None = None
    """Release only: the artifact that is the model; None means the one aliased ``_<model name>``,
    else the primary artifact."""

    @classmethod
    def parse(cls, text: str) -> Target:
        """The target ``text`` names; ValueError when it names none."""
        match = TARGET.match(text)
        if match is None:
            raise ValueError(f"not a deployment target: {text!r}")
        kind, definition_id, alias = match.groups()
        return cls(TargetKind(kind), int(definition_id), alias)

    def __str__(self) -> str:
        alias = f":{self.artifact_alias}" if self.artifact_alias else ""
        return f"{self.kind.value}:{self.definition_id}{alias}"

    def describe(self) -> str:
        """A short human name, for logs: "release definition 12", "pipeline 42"."""
        noun = "release definition" if self.kind is TargetKind.RELEASE else "pipeline"
        return f"{noun} {self.definition_id}"


def is_target(text: str) -> bool:
    """Whether ``text`` names a deployment target."""
    return TARGET.match(text) is not None
