"""The approval policy and deployment target of a subscription, over the global defaults.

Pure: parse and render the chat options (``approvers=``, ``approvals=``, ``expiry=``,
``deploy=``), resolve a subscription's policy, and keep a policy as JSON on the approval it was
asked for, so that a later change of the settings does not change a request already made.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

from dialogs.approval import DEFAULT_EXPIRY, Policy

TARGET = re.compile(r"^(release|pipeline):([1-9][0-9]{0,8})(?::([A-Za-z0-9_.-]{1,64}))?$")
APPROVER = re.compile(r"^[^\s,@]{1,128}(@[^\s,@]{1,253})?$")
MAX_APPROVERS = 50
MAX_REQUIRED = 20
MAX_EXPIRY_HOURS = 24 * 30


@dataclass(frozen=True)
class PolicyDefaults:
    """The global policy from the settings; a subscription may override each part."""

    approvers: frozenset[str] | None = None
    required_approvals: int = 1
    expiry: timedelta = DEFAULT_EXPIRY
    target: str | None = None
    """``release:<definition id>[:<artifact alias>]`` or ``pipeline:<pipeline id>``."""


@dataclass(frozen=True)
class PolicyOverrides:
    """What one subscription sets; None takes the default."""

    approvers: frozenset[str] | None = None
    required_approvals: int | None = None
    expiry_hours: int | None = None
    target: str | None = None

    def is_empty(self) -> bool:
        """Whether the subscription only follows the defaults."""
        return self == PolicyOverrides()


def is_target(text: str) -> bool:
    """Whether ``text`` names a deployment target (``release:12``, ``pipeline:42``)."""
    return TARGET.match(text) is not None


def parse_approvers(text: str) -> frozenset[str] | None:
    """Comma-separated object ids or UPNs, lower-cased; None when one of them is malformed."""
    items = [item.strip().lower() for item in text.split(",") if item.strip()]
    if not items or len(items) > MAX_APPROVERS or not all(APPROVER.match(i) for i in items):
        return None
    return frozenset(items)


def resolve(overrides: PolicyOverrides, defaults: PolicyDefaults) -> tuple[Policy, str | None]:
    """The policy and target that apply to a subscription."""
    expiry = (
        timedelta(hours=overrides.expiry_hours)
        if overrides.expiry_hours is not None
        else defaults.expiry
    )
    policy = Policy(
        approvers=overrides.approvers if overrides.approvers is not None else defaults.approvers,
        required_approvals=overrides.required_approvals or defaults.required_approvals,
        expiry=expiry,
    )
    return policy, overrides.target or defaults.target


def policy_to_json(policy: Policy) -> str:
    """A policy as stored on an approval."""
    return json.dumps(
        {
            "approvers": sorted(policy.approvers) if policy.approvers is not None else None,
            "required": policy.required_approvals,
            "selfApproval": not policy.forbid_self_approval,
            "expirySeconds": int(policy.expiry.total_seconds()),
        },
        sort_keys=True,
    )


def policy_from_json(text: str) -> Policy:
    """The policy stored on an approval."""
    data = json.loads(text)
    approvers = data.get("approvers")
    return Policy(
        approvers=frozenset(approvers) if approvers is not None else None,
        required_approvals=int(data["required"]),
        forbid_self_approval=not data.get("selfApproval", False),
        expiry=timedelta(seconds=int(data["expirySeconds"])),
    )
