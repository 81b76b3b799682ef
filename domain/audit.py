"""The audit trail as it is read back: what happened to a model's approvals and deployments, in
time order, with who and when; and what a reader asks of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.policy import Policy


class AuditEvent(StrEnum):
    """What one entry of the trail records."""

    REQUESTED = "requested"
    """An approval was asked for (a new version's card, a deploy or rollback command), under a
    policy."""
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    REFUSED = "refused"
    """A click on a card that changed nothing (the policy or a check said no)."""
    COMMAND_REFUSED = "command_refused"
    """A chat command the bot refused before it asked for anything."""
    RUN_REQUESTED = "run_requested"
    """The approval reached its quorum: a deployment was requested."""
    RUN_ENDED = "run_ended"
    """The deployment's run ended, or Azure DevOps refused to start it."""


@dataclass(frozen=True)
class AuditEntry:
    """One step of the trail. People are named as Teams named them; ``actor_id`` is their Entra
    object id."""

    at: datetime
    event: AuditEvent
    cursor: str
    """Where the trail goes on after this entry (see :class:`AuditQuery`)."""
    model: str | None = None
    version: str | None = None
    conversation_ref: int | None = None
    approval_id: int | None = None
    kind: str | None = None
    """announce, deploy or rollback; for a refused command, the command."""
    actor_id: str | None = None
    actor_name: str | None = None
    detail: str | None = None
    """A rejection's reason; a refusal's catalog key; a run's result or error code."""
    policy: Policy | None = None
    expires_at: datetime | None = None
    target: str | None = None
    run_name: str | None = None
    run_url: str | None = None


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to read: all filters hold; ``conversation_ref`` None reads every
    conversation's (the compliance export), ``after`` is the cursor of the last entry read."""

    model: str | None = None
    version: str | None = None
    conversation_ref: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: str | None = None
    limit: int = 1000


@dataclass(frozen=True)
class AuditPage:
    """Entries in time order, and the cursor of the next page (None: there is no more)."""

    entries: list[AuditEntry] = field(default_factory=list)
    next: str | None = None
