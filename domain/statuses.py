"""Where things stand: the statuses the store keeps and the cards show, as enums."""

from __future__ import annotations

from enum import StrEnum


class SourceKind(StrEnum):
    """Where a model version is registered."""

    WORKSPACE = "workspace"
    REGISTRY = "registry"


class ApprovalState(StrEnum):
    """Where the approval of one model version stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class AnnouncementStatus(StrEnum):
    """Where one card of one version to one conversation stands."""

    QUEUED = "queued"
    """Not in Teams yet: due at its next attempt."""
    SENT = "sent"
    FAILED = "failed"
    """Given up on (Teams refused it for good, or the tries ran out)."""
    DROPPED = "dropped"
    """Its conversation went away (the bot was removed) before it was sent."""


class DeploymentStatus(StrEnum):
    """Where a deployment stands on our side: requested -> triggered -> finished, or error."""

    REQUESTED = "requested"
    """Approved; no run was started yet (or its start is being searched for)."""
    TRIGGERED = "triggered"
    """Azure DevOps started a run: it is being followed."""
    FINISHED = "finished"
    """The run ended: :class:`RunStatus` says how."""
    ERROR = "error"
    """Azure DevOps refused to start it, for good."""

    @property
    def running(self) -> bool:
        """Whether the deployment is still on its way (not finished, not refused)."""
        return self in (DeploymentStatus.REQUESTED, DeploymentStatus.TRIGGERED)


class RunStatus(StrEnum):
    """Where a release or run is in Azure DevOps, as the cards tell it."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        """True once nothing will change any more."""
        return self not in (RunStatus.QUEUED, RunStatus.IN_PROGRESS)

    @property
    def deployed(self) -> bool:
        """Whether the model version is deployed after it (a partial success counts)."""
        return self in DEPLOYED


DEPLOYED = (RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED)
"""The run results after which the model version counts as deployed."""
