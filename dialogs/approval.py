"""The approval of a model version: policy and state machine, as pure functions.

States and transitions (diagram in ``approval.md``)::

    pending --approve (quorum reached)--> approved
    pending --approve (below quorum)----> pending
    pending --reject--------------------> rejected
    pending --expire--------------------> expired

A decision on a version that is no longer pending is refused with the state it is in, never an
error. Every transition is meant to be stored as a compare-and-set on the state it starts from,
so that of two concurrent clicks only one wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from domain.policy import Policy, Refused
from domain.records import ApprovalRecord
from domain.statuses import ApprovalState


@dataclass(frozen=True)
class Person:
    """Who clicked: their Entra object id and UPN, as Teams tells us."""

    object_id: str
    upn: str | None = None
    name: str | None = None
    email: str | None = None
    """Their email as Teams' roster gives it: it names a creator, never an approver (for guests
    and in some tenants it differs from the UPN)."""

    def identities(self) -> set[str]:
        """The lower-cased ids a policy may name them by."""
        return {value.lower() for value in (self.object_id, self.upn) if value}

    def is_named_by(self, text: str) -> bool:
        """Whether ``text`` (as Azure ML names who registered a version: an object id, a UPN or
        only a display name) names this person, without regard to case and spaces."""
        names = (self.object_id, self.upn, self.email, self.name)
        return _squeezed(text) in {_squeezed(name) for name in names if name}


def _squeezed(text: str) -> str:
    return "".join(text.split()).casefold()


@dataclass(frozen=True)
class Approval:
    """The approval of one version: its state, the approvals so far, the outcome."""

    state: ApprovalState
    requested_at: datetime
    creator: str | None = None
    """Who registered the version (object id, UPN or display name): they may not approve it."""
    creator_is_app: bool = False
    """Azure ML says an application (a pipeline, a managed identity) registered the version."""
    requester: str | None = None
    """The object id of who asked for this deployment or rollback: they may not approve it."""
    approvals: tuple[tuple[Person, datetime], ...] = ()
    rejected_by: Person | None = None
    reason: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True)
class Approve:
    """Someone clicked Approve."""

    person: Person
    at: datetime


@dataclass(frozen=True)
class Reject:
    """Someone clicked Reject, with a reason."""

    person: Person
    reason: str
    at: datetime


@dataclass(frozen=True)
class Expire:
    """The expiry time has come (a sweeper, or a click after it)."""

    at: datetime


Event = Approve | Reject | Expire


Outcome = Approval | Refused


def approval_of(record: ApprovalRecord) -> Approval:
    """The approval a stored record stands for, as :func:`decide` works on it."""
    return Approval(
        state=record.state,
        requested_at=record.requested_at,
        creator=record.version.created_by,
        creator_is_app=record.version.registered_by_app,
        requester=record.requested_by,
        approvals=tuple(
            (Person(vote.voter_id, vote.upn, vote.name), vote.at) for vote in record.votes
        ),
        reason=record.reason,
        decided_at=record.decided_at,
    )


def needs_upn(record: ApprovalRecord, person: Person) -> bool:
    """Whether ``person``'s UPN is needed and unknown: the approval names people by UPN (its
    approvers, or the version's creator), and Teams leaves the UPN out of invokes."""
    if person.upn is not None:
        return False
    approvers = record.policy.approvers or frozenset()
    return "@" in (record.version.created_by or "") or any("@" in a for a in approvers)


def decide(approval: Approval, event: Event, policy: Policy) -> Outcome:
    """The approval after ``event``, or why the event is refused. Pure: stores nothing."""
    if approval.state is ApprovalState.PENDING and _expired(approval, event, policy):
        return replace(approval, state=ApprovalState.EXPIRED, decided_at=event.at)
    handler = TRANSITIONS.get((approval.state, type(event)))
    if handler is None:
        return Refused(f"approval.already_{approval.state.value}")
    return handler(approval, event, policy)


def expires_at(approval: Approval, policy: Policy) -> datetime:
    """When a pending approval expires."""
    return approval.requested_at + policy.expiry


def _expired(approval: Approval, event: Event, policy: Policy) -> bool:
    return event.at >= expires_at(approval, policy)


def _approve(approval: Approval, event: Event, policy: Policy) -> Outcome:
    assert isinstance(event, Approve)  # noqa: S101 - the table routes only Approve here
    refusal = _may_decide(approval, event.person, policy, approving=True)
    if refusal is not None:
        return refusal
    if any(person.identities() & event.person.identities() for person, _ in approval.approvals):
        return Refused("approval.already_approved_by_you")
    approvals = (*approval.approvals, (event.person, event.at))
    if len(approvals) < policy.required_approvals:
        return replace(approval, approvals=approvals)
    return replace(approval, approvals=approvals, state=ApprovalState.APPROVED, decided_at=event.at)


def _reject(approval: Approval, event: Event, policy: Policy) -> Outcome:
    assert isinstance(event, Reject)  # noqa: S101 - the table routes only Reject here
    refusal = _may_decide(approval, event.person, policy, approving=False)
    if refusal is not None:
        return refusal
    reason = event.reason.strip()
    if not reason:
        return Refused("approval.reason_required")
    return replace(
        approval,
        state=ApprovalState.REJECTED,
        rejected_by=event.person,
        reason=reason[:1000],
        decided_at=event.at,
    )


def _expire(approval: Approval, event: Event, policy: Policy) -> Outcome:
    # Reached only before the expiry time (decide() expires anything past it first).
    del approval, policy
    return Refused("approval.not_expired_yet", {"at": event.at.isoformat()})


def _may_decide(
    approval: Approval, person: Person, policy: Policy, *, approving: bool
) -> Refused | None:
    """Why ``person`` may not decide on this version, or None when they may. The creator and
    the requester may withdraw (reject), but not approve."""
    if policy.approvers is not None and not (person.identities() & policy.approvers):
        return Refused("approval.not_an_approver")
    if not approving:
        return None
    if approval.requester and approval.requester.lower() in person.identities():
        return Refused("approval.own_request")
    if policy.forbid_self_approval and not approval.creator_is_app:
        return _self_approval(approval.creator, person)
    return None


def _self_approval(creator: str | None, person: Person) -> Refused | None:
    """Fails closed: a creator that is not known yet cannot be told apart from the clicker."""
    if not creator:
        return Refused("approval.creator_unknown")
    if person.is_named_by(creator):
        return Refused("approval.no_self_approval")
    return None


class Role(StrEnum):
    """What a viewer of a pending approval's card may do, and so which view of it they get."""

    DECIDE = "decide"
    """Approve and Reject."""
    VOTED = "voted"
    """Approved already: when, and no buttons."""
    WITHDRAW = "withdraw"
    """The creator or the requester: why they may not approve, and Reject (to withdraw)."""
    WATCH = "watch"
    """Anyone else, and everyone once the approval is decided: the neutral view."""


@dataclass(frozen=True)
class Viewer:
    """One person's view of an approval: their role, and the why or when that goes with it."""

    role: Role
    refusal: Refused | None = None
    """Why they may not approve (WITHDRAW and WATCH while pending)."""
    voted_at: datetime | None = None


def viewer(approval: Approval, person: Person, policy: Policy, now: datetime) -> Viewer:
    """Which view of the card ``person`` gets at ``now``: the buttons the same click would be
    allowed to use (the click is checked again when it comes). Pure."""
    if approval.state is not ApprovalState.PENDING or now >= expires_at(approval, policy):
        return Viewer(Role.WATCH)
    for voter, at in approval.approvals:
        if voter.identities() & person.identities():
            return Viewer(Role.VOTED, voted_at=at)
    refusal = _may_decide(approval, person, policy, approving=True)
    if refusal is None or refusal.key == "approval.creator_unknown":  # the click looks it up
        return Viewer(Role.DECIDE)
    if refusal.key == "approval.not_an_approver":
        return Viewer(Role.WATCH, refusal)
    return Viewer(Role.WITHDRAW, refusal)


Handler = Callable[[Approval, Event, Policy], Outcome]

TRANSITIONS: dict[tuple[ApprovalState, type], Handler] = {
    (ApprovalState.PENDING, Approve): _approve,
    (ApprovalState.PENDING, Reject): _reject,
    (ApprovalState.PENDING, Expire): _expire,
}
"""Every allowed transition; anything else is refused with the state the approval is in."""
