"""What chat commands learn about a model's releases: its history, what is deployed now, and the
answers to deploy and rollback requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.records import DeploymentRecord, ModelVersion
from domain.statuses import ApprovalState


@dataclass(frozen=True)
class DecisionSummary:
    """One approval of a version in a conversation, as the history shows it."""

    approval_id: int
    kind: str
    state: ApprovalState
    required: int
    approved_by: tuple[str, ...]
    rejected_by: str | None
    reason: str | None
    requested_by: str | None
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class VersionHistory:
    """A version with its decisions in the conversation and all its deployments, newest first."""

    version: ModelVersion
    decisions: tuple[DecisionSummary, ...]
    deployments: tuple[DeploymentRecord, ...]


@dataclass(frozen=True)
class Deployed:
    """A deployment and the version it deployed."""

    version: ModelVersion
    version_id: int
    deployment: DeploymentRecord
    ended_at: datetime
    """When it finished (or last changed, if it has no end time): what "latest" orders by."""


@dataclass(frozen=True)
class ModelStatus:
    """What is deployed now, and the newest deployment after it that did not succeed."""

    current: Deployed | None
    newer: Deployed | None


@dataclass(frozen=True)
class ApprovalRequest:
    """The approval a deploy or rollback asked for, or the one already pending for it."""

    approval_id: int
    created: bool
    has_card: bool
    """Whether a card of it was posted already (its activity id is known)."""


@dataclass(frozen=True)
class VersionNotFound:
    """No such version: the model's newest versions, or the closest model names."""

    name: str
    version: str
    source: tuple[str, str] | None
    known_versions: tuple[str, ...]
    similar_names: tuple[str, ...]


@dataclass(frozen=True)
class NoRollback:
    """Nothing to roll back to: ``current`` is None when nothing was ever deployed (to
    ``target``, the conversation's, if it has one)."""

    name: str
    current: Deployed | None
    target: str | None = None
