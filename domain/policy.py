"""Approval policies as values: the one an approval is decided under, and what a subscription
changes of the operator's defaults (the rules that combine them are in ``dialogs.policy``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

DEFAULT_EXPIRY = timedelta(hours=72)


@dataclass(frozen=True)
class Policy:
    """Who may approve, how many must, and for how long the request stands."""

    approvers: frozenset[str] | None = None
    """Entra object ids or UPNs (lower case); None: anyone in the conversation."""
    required_approvals: int = 1
    forbid_self_approval: bool = True
    expiry: timedelta = DEFAULT_EXPIRY


@dataclass(frozen=True)
class PolicyOverrides:
    """What one subscription sets; None takes the default."""

    approvers: frozenset[str] | None = None
    required_approvals: int | None = None
    expiry_hours: int | None = None
    target: str | None = None
    """A deployment target as text (see :class:`domain.target.Target`)."""

    def is_empty(self) -> bool:
        """Whether the subscription only follows the defaults."""
        return self == PolicyOverrides()


@dataclass(frozen=True)
class Refused:
    """An event or request changes nothing; ``key`` is the catalog message that says why."""

    key: str
    params: dict[str, str | int] = field(default_factory=dict)
