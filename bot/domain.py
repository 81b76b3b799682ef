"""Domain records shared by the store, the agent and the cards."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dialogs.policy import PolicyOverrides


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
    source_kind: str | None
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

    source_kind: str
    """'workspace' or 'registry'."""
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
