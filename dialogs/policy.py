"""The approval policy and deployment target of a subscription, over the global defaults.

Pure: parse and render the chat options (``approvers=``, ``approvals=``, ``expiry=``,
``deploy=``), check them against the operator's floor, resolve a subscription's policy, and keep
a policy as JSON on the approval it was asked for, so that a later change of the settings does not
change a request already made.

The operator's settings are a floor: a subscription may narrow the approvers, raise the number of
approvals, shorten the expiry and pick one of the targets the operator allows, never the reverse.
Chat options that would loosen the floor are refused (:func:`floor_breaches`); a subscription
stored before the floor was raised is held to it anyway when it is resolved (:func:`resolve`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

from domain.policy import DEFAULT_EXPIRY, Policy, PolicyOverrides

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
    allowed_targets: frozenset[str] = frozenset()
    """The targets besides ``target`` that a subscription may name."""

    def allows_target(self, target: str) -> bool:
        """Whether a subscription may deploy to ``target``."""
        return target == self.target or target in self.allowed_targets

    def targets(self) -> list[str]:
        """Every target a subscription may name, sorted."""
        return sorted(self.allowed_targets | ({self.target} if self.target else set()))


@dataclass(frozen=True)
class FloorBreach:
    """A chat option that would loosen the operator's policy; ``key`` names the catalog message."""

    key: str
    params: tuple[tuple[str, str | int], ...] = ()


def parse_approvers(text: str) -> frozenset[str] | None:
    """Comma-separated object ids or UPNs, lower-cased; None when one of them is malformed."""
    items = [item.strip().lower() for item in text.split(",") if item.strip()]
    if not items or len(items) > MAX_APPROVERS or not all(APPROVER.match(i) for i in items):
        return None
    return frozenset(items)


def floor_breaches(overrides: PolicyOverrides, defaults: PolicyDefaults) -> list[FloorBreach]:
    """Each way ``overrides`` would loosen the operator's floor, or could never be met (empty:
    it only tightens)."""
    checks = (_approvers_outside, _approvals_below, _expiry_above, _quorum_unreachable, _target)
    return [breach for check in checks if (breach := check(overrides, defaults)) is not None]


def _approvers_outside(overrides: PolicyOverrides, defaults: PolicyDefaults) -> FloorBreach | None:
    if overrides.approvers is None or defaults.approvers is None:
        return None
    outside = sorted(overrides.approvers - defaults.approvers)
    return (
        FloorBreach("policy.approvers_outside", (("who", ", ".join(outside)),)) if outside else None
    )


def _approvals_below(overrides: PolicyOverrides, defaults: PolicyDefaults) -> FloorBreach | None:
    required = overrides.required_approvals
    if required is None or required >= defaults.required_approvals:
        return None
    return FloorBreach("policy.approvals_below", (("min", defaults.required_approvals),))


def _expiry_above(overrides: PolicyOverrides, defaults: PolicyDefaults) -> FloorBreach | None:
    hours = overrides.expiry_hours
    if hours is None or timedelta(hours=hours) <= defaults.expiry:
        return None
    limit = int(defaults.expiry.total_seconds() // 3600)
    return FloorBreach("policy.expiry_above", (("max", limit),))


def _quorum_unreachable(overrides: PolicyOverrides, defaults: PolicyDefaults) -> FloorBreach | None:
    needed = max(overrides.required_approvals or 0, defaults.required_approvals)
    if overrides.approvers is None or needed <= len(overrides.approvers):
        return None
    named = (("count", len(overrides.approvers)), ("needed", needed))
    return FloorBreach("policy.quorum_unreachable", named)


def _target(overrides: PolicyOverrides, defaults: PolicyDefaults) -> FloorBreach | None:
    if overrides.target is None or defaults.allows_target(overrides.target):
        return None
    named = (("target", overrides.target), ("allowed", ", ".join(defaults.targets()) or "-"))
    return FloorBreach("policy.target_not_allowed", named)


def resolve(overrides: PolicyOverrides, defaults: PolicyDefaults) -> tuple[Policy, str | None]:
    """The policy and target that apply to a subscription: its own where they are tighter than
    the operator's floor, the floor elsewhere. A target the operator no longer allows is none:
    such a subscription's approvals start nothing."""
    approvers = defaults.approvers
    if overrides.approvers is not None:
        approvers = overrides.approvers & (approvers or overrides.approvers)
    expiry = defaults.expiry
    if overrides.expiry_hours is not None:
        expiry = min(expiry, timedelta(hours=overrides.expiry_hours))
    policy = Policy(
        approvers=approvers,
        required_approvals=max(overrides.required_approvals or 0, defaults.required_approvals),
        expiry=expiry,
    )
    target = overrides.target or defaults.target
    return policy, target if target is None or defaults.allows_target(target) else None


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
