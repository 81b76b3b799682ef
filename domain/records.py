"""The records the bot's parts trade in: conversations, subscriptions, model versions, their
announcements, approvals and deployments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.policy import Policy, PolicyOverrides, Refused
from domain.statuses import ApprovalState, DeploymentStatus, RunStatus, SourceKind


@dataclass(frozen=True)
class ConversationInfo:
    """What an incoming activity tells us about its conversation, enough to message it later."""

    channel_id: str
    conversation_id: str
    conversation_type: str
    tenant_id: str | None
    service_url: str
    name: str | None
    locale: str | None
    reference: str
    """The SDK's ConversationReference as JSON."""

    @property
    def key(self) -> tuple[str, str]:
        """The unique key of the conversation in the store."""
        return self.channel_id, self.conversation_id


@dataclass(frozen=True)
class Subscription:
    """A conversation's wish to hear about model versions matching every filter."""

    id: int
    conversation_ref: int
    name_pattern: str
    source_kind: SourceKind | None
    source_name: str | None
    tags: dict[str, str] = field(default_factory=dict)
    created_by: str | None = None
    created_by_name: str | None = None
    created_at: datetime | None = None
    policy: PolicyOverrides = field(default_factory=PolicyOverrides)
    """Its approval policy and deployment target, where they differ from the defaults."""


APPLICATION_CREATORS = frozenset({"application", "managedidentity"})
"""Azure ML's ``createdByType`` values that name no person."""


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version, as its workspace or registry answered (an Event Grid event only
    says which version to read).

    Its identity is (source kind, source name, name, version); the version is text, since
    registries accept any string.
    """

    source_kind: SourceKind
    source_name: str
    name: str
    version: str
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    created_by: str | None = None
    created_by_type: str | None = None
    """What registered it, per Azure ML's ``systemData.createdByType``: 'User', 'Application',
    'ManagedIdentity' or 'Key'."""
    created_at: datetime | None = None
    source_id: str | None = None
    """The ARM id of the workspace (``/subscriptions/…/workspaces/ws``), for links."""

    @property
    def registered_by_app(self) -> bool:
        """Whether Azure ML says an application (a pipeline, a managed identity) registered it."""
        return (self.created_by_type or "").lower() in APPLICATION_CREATORS


@dataclass(frozen=True)
class PendingAnnouncement:
    """A claimed announcement with what sending it needs."""

    id: int
    conversation_ref: int
    reference: str
    locale: str | None
    attempts: int
    claims: int
    """The number of this claim: see :meth:`Store.renew_claim`."""
    version_id: int
    version: ModelVersion
    approval_id: int


@dataclass(frozen=True)
class RecordedVersion:
    """The outcome of recording a model version."""

    new: bool
    claimed: list[PendingAnnouncement] = field(default_factory=list)
    """Its first announcements, queued and already claimed for the caller to send (none when
    the version was known already)."""
    unclaimed: int = 0
    """How many more it queued, due at once for any sender to claim."""


@dataclass(frozen=True)
class SubscriptionChange:
    """What ``subscribe`` did: the subscription as it is now, whether it is new, and as it was
    before its policy changed (None: unchanged or new)."""

    subscription: Subscription
    created: bool
    before: Subscription | None = None


@dataclass(frozen=True)
class Member:
    """A member of a Teams conversation, as the connector's roster names them."""

    user_id: str
    """Their Teams user id (``29:…``): what a mention or a card's ``refresh.userIds`` names."""
    object_id: str | None
    """Their Entra object id, lower case."""
    name: str
    """Their display name, as a mention shows it."""
    upn: str | None = None
    """Their user principal name, lower case."""


@dataclass(frozen=True)
class Vote:
    """One person's approval."""

    voter_id: str
    name: str | None
    upn: str | None
    at: datetime


RUN_NAME_PREFIX = "deploy-"
"""A YAML run's name is ``deploy-<deployment key>`` (the pipeline's ``name:``), so that the bot
finds the run again after a crash."""


@dataclass(frozen=True)
class DeploymentRecord:
    """The deployment an approval started, as far as we know."""

    id: int
    key: str
    target: str
    requested_by: str
    status: DeploymentStatus
    run_status: RunStatus | None
    run_id: int | None
    run_name: str | None
    web_url: str | None
    logs_url: str | None
    detail: str | None
    error_code: str | None
    last_error: str | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    result_reported: bool


@dataclass(frozen=True)
class ApprovalRecord:
    """An approval with everything its card shows."""

    id: int
    conversation_ref: int
    reference: str
    locale: str | None
    version_id: int
    version: ModelVersion
    kind: str
    state: ApprovalState
    revision: int
    policy: Policy
    target: str | None
    requested_by: str | None
    """The object id of who asked for it (deploy, rollback); None for an announcement."""
    requested_by_name: str | None
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    rejected_by_name: str | None
    reason: str | None
    votes: tuple[Vote, ...]
    activity_id: str | None
    card_revision: int
    deployment: DeploymentRecord | None
    deployed_now: ModelVersion | None = None
    """The other version of this model (same source) whose deployment succeeded last: what the
    card compares the version with."""
    card_claims: int = 0
    """The number of the card's claim when it was loaded (see
    :meth:`ApprovalStore.renew_card_claim`)."""


@dataclass(frozen=True)
class Decision:
    """What a click did: the approval after it, and the refusal if it changed nothing."""

    record: ApprovalRecord
    refused: Refused | None
    changed: bool
    """Whether the approval changed (a click after the expiry time expires it, and is refused)."""
    new_deployment: DeploymentRecord | None = None
    """The deployment this decision requested, claimed for the caller to start at once."""


@dataclass(frozen=True)
class DeploymentJob:
    """A claimed deployment: to start (requested) or to follow (triggered)."""

    id: int
    approval_id: int
    key: str
    target: str
    status: DeploymentStatus
    attempts: int
    claims: int
    """The number of the claim this job was handed out under."""
    run_id: int | None
    run_status: RunStatus | None
    model_name: str
    model_version: str
    source: str
    requested_by: str
    created_at: datetime


@dataclass(frozen=True)
class RunUpdate:
    """What Azure DevOps told us about the run."""

    run_id: int
    name: str
    status: RunStatus
    final: bool
    web_url: str | None
    logs_url: str | None
    detail: str | None
